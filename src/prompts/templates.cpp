#include "prompts/templates.hpp"

#include <yaml.h>
#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "core/error.hpp"

namespace xmtf::prompts {
namespace {

// promptsource/templates.py: TEXT_VAR_LENGTH and the protector that hides "|||" in row values.
constexpr const char* kTruncateFilters = " | string | truncate(2048) ";
constexpr const char* kPipeProtector = "3ed2dface8203c4c9dfb1a5dc58e41e0";
const std::string kSeparator = "|||";

std::string where(const fs::path& path, const YAML::Node& node) {
  return fmt::format("{}:{}", path.string(), node.Mark().line + 1);
}

std::optional<std::string> optional_string(const YAML::Node& node) {
  if (!node || node.IsNull()) return std::nullopt;
  return node.as<std::string>();
}

std::optional<bool> optional_bool(const YAML::Node& node, const fs::path& path, const char* key) {
  if (!node || node.IsNull()) return std::nullopt;
  try {
    return node.as<bool>();
  } catch (const YAML::Exception&) {
    fail("{}: metadata '{}' must be true, false or null", where(path, node), key);
  }
}

std::optional<std::vector<std::string>> optional_strings(const YAML::Node& node, const fs::path& path, const char* key) {
  if (!node || node.IsNull()) return std::nullopt;
  if (!node.IsSequence()) fail("{}: metadata '{}' must be a list", where(path, node), key);
  std::vector<std::string> items;
  for (const auto& item : node) items.push_back(item.as<std::string>());
  return items;
}

PromptTemplate parse_template(const YAML::Node& node, const std::string& key, const fs::path& path) {
  if (!node.IsMap()) fail("{}: template '{}' is not a mapping", where(path, node), key);
  if (node.Tag() != "!Template") fail("{}: template '{}' lacks the !Template tag", where(path, node), key);
  PromptTemplate prompt;
  prompt.yaml_line = node.Mark().line + 1;
  prompt.id = node["id"] ? node["id"].as<std::string>() : key;
  if (!node["name"] || !node["jinja"]) fail("{}: template '{}' needs 'name' and 'jinja'", where(path, node), key);
  prompt.name = node["name"].as<std::string>();
  prompt.jinja = node["jinja"].as<std::string>();
  prompt.answer_choices = optional_string(node["answer_choices"]);
  prompt.reference = optional_string(node["reference"]).value_or("");
  if (YAML::Node metadata = node["metadata"]; metadata && !metadata.IsNull()) {
    if (metadata.Tag() != "!TemplateMetadata") fail("{}: metadata lacks the !TemplateMetadata tag", where(path, metadata));
    prompt.metadata.original_task = optional_bool(metadata["original_task"], path, "original_task");
    prompt.metadata.choices_in_prompt = optional_bool(metadata["choices_in_prompt"], path, "choices_in_prompt");
    prompt.metadata.metrics = optional_strings(metadata["metrics"], path, "metrics");
    prompt.metadata.languages = optional_strings(metadata["languages"], path, "languages");
  }
  return prompt;
}

// Maps an offset in the jinja text after promptsource's "}}" rewrite back to the text as written.
std::function<std::size_t(std::size_t)> rewrite_offsets(const std::vector<std::size_t>& closing_positions) {
  const std::size_t inserted = std::string_view(kTruncateFilters).size();
  return [closing_positions, inserted](std::size_t offset) {
    for (std::size_t i = 0; i < closing_positions.size(); ++i) {
      std::size_t start = closing_positions[i] + inserted * i;
      if (offset < start) return offset - inserted * i;
      if (offset < start + inserted) return closing_positions[i];
    }
    return offset - inserted * closing_positions.size();
  };
}

std::string protect_pipes(const std::string& text) { return py_replace(text, "|||", kPipeProtector, -1); }
std::string unprotect_pipes(const std::string& text) { return py_replace(text, kPipeProtector, "|||", -1); }

// The YAML syntax verdict of libyaml, the parser behind PyYAML (promptsource's loader): every
// event of the stream is parsed; the first error fails with its line and column. yaml-cpp 0.7
// alone accepted a file whose quoted scalar was never closed (it ran to the end of the file).
void check_yaml_syntax(const std::string& yaml_text, const fs::path& path) {
  yaml_parser_t parser;
  if (!yaml_parser_initialize(&parser)) fail("{}: cannot initialise the YAML parser", path.string());
  yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(yaml_text.data()), yaml_text.size());
  std::string problem;
  for (bool done = false; !done;) {
    yaml_event_t event;
    if (!yaml_parser_parse(&parser, &event)) {
      problem = fmt::format("{}:{}:{}: invalid YAML: {}{}{}", path.string(), parser.problem_mark.line + 1,
                            parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error",
                            parser.context ? " " : "", parser.context ? parser.context : "");
      break;
    }
    done = event.type == YAML_STREAM_END_EVENT;
    yaml_event_delete(&event);
  }
  yaml_parser_delete(&parser);
  if (!problem.empty()) throw Error(problem);
}

}  // namespace

TemplateFile parse_template_file(const std::string& yaml_text, const fs::path& path) {
  check_yaml_syntax(yaml_text, path);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail("{}:{}:{}: invalid YAML: {}", path.string(), e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (!root.IsMap() || !root["dataset"] || !root["templates"])
    fail("{}: not a promptsource templates.yaml (needs 'dataset' and 'templates')", path.string());
  TemplateFile file;
  file.path = path;
  file.dataset = root["dataset"].as<std::string>();
  file.subset = optional_string(root["subset"]);
  YAML::Node templates = root["templates"];
  if (!templates.IsMap()) fail("{}: 'templates' must be a mapping of id to !Template", where(path, templates));
  for (const auto& entry : templates) file.templates.push_back(parse_template(entry.second, entry.first.as<std::string>(), path));
  return file;
}

TemplateFile load_template_file(const fs::path& path) { return parse_template_file(read_file(path), path); }

std::vector<std::string> split_parts(const std::string& rendered) {
  std::vector<std::string> parts;
  for (const std::string& part : py_split(rendered, &kSeparator, -1))
    parts.push_back(py_strip(unprotect_pipes(part), true, true));
  return parts;
}

CompiledTemplate::CompiledTemplate(const TemplateFile& file, const PromptTemplate& prompt, bool truncate) : prompt_(prompt) {
  std::string origin = fmt::format("{}:{}: template '{}'", file.path.string(), prompt.yaml_line, prompt.name);
  std::string source = prompt.jinja;
  std::function<std::size_t(std::size_t)> offsets;
  if (truncate) {
    std::vector<std::size_t> closing;
    for (std::size_t at = prompt.jinja.find("}}"); at != std::string::npos; at = prompt.jinja.find("}}", at + 2)) closing.push_back(at);
    source = py_replace(prompt.jinja, "}}", std::string(kTruncateFilters) + "}}", -1);
    offsets = rewrite_offsets(closing);
  }
  body_ = jinja::Template::compile(source, origin + " (jinja)", offsets, prompt.jinja);
  if (prompt.answer_choices) answer_choices_ = jinja::Template::compile(*prompt.answer_choices, origin + " (answer_choices)");
}

Rendered CompiledTemplate::apply(const Dict& row, PythonRandom& rng) const {
  Dict variables;
  variables.reserve(row.size() + 1);
  for (const auto& [key, value] : row) {
    if (key == "answer_choices") fail("{}: the row has a field named 'answer_choices', which promptsource reserves", body_.origin());
    variables.emplace_back(key, value.is_string() ? Value::of_string(protect_pipes(value.text)) : value);
  }
  Rendered rendered;
  Value choices = Value::none();
  if (answer_choices_) {
    rendered.has_answer_choices = true;
    List items;
    for (const std::string& part : py_split(answer_choices_->render(variables, rng), &kSeparator, -1)) {
      std::string choice = unprotect_pipes(py_strip(part, true, true));
      rendered.answer_choices.push_back(choice);
      items.push_back(Value::of_string(choice));
    }
    choices = Value::of_list(std::move(items));
  }
  variables.emplace_back("answer_choices", choices);
  std::vector<std::string> parts = split_parts(body_.render(variables, rng));
  rendered.input = parts.empty() ? std::string() : parts[0];
  rendered.targets.assign(parts.begin() + (parts.empty() ? 0 : 1), parts.end());
  return rendered;
}

}  // namespace xmtf::prompts
