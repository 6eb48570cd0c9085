#include "eval/tasks.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <map>
#include <regex>

#include "core/error.hpp"
#include "core/text.hpp"
#include "prompts/rows.hpp"

namespace xmtf::eval {
namespace {

struct DatasetInfo {
  Dataset dataset;
  std::string key;
  std::vector<std::string> yaml_datasets;  // templates files that fit
  std::vector<std::string> fields;
  std::vector<std::string> configs;
};

const std::vector<DatasetInfo>& infos() {
  static const std::vector<DatasetInfo> table = {
      {Dataset::xcopa, "xcopa", {"xcopa"}, {"premise", "choice1", "choice2", "question"},
       {"et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh"}},
      {Dataset::xnli, "xnli", {"xnli"}, {"premise", "hypothesis"},
       {"ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"}},
      {Dataset::xstory_cloze, "xstory_cloze", {"Muennighoff/xstory_cloze", "story_cloze"},
       {"input_sentence_1", "input_sentence_2", "input_sentence_3", "input_sentence_4", "sentence_quiz1", "sentence_quiz2"},
       {"en", "ru", "zh", "es", "ar", "hi", "id", "te", "sw", "eu", "my"}},
      {Dataset::xwinograd, "xwinograd", {"Muennighoff/xwinograd"}, {"sentence", "option1", "option2"},
       {"en", "fr", "jp", "pt", "ru", "zh"}},
      {Dataset::humaneval, "humaneval", {"openai_humaneval"}, {"task_id", "prompt", "test", "entry_point"}, {}},
  };
  return table;
}

const DatasetInfo& info(Dataset dataset) {
  for (const DatasetInfo& entry : infos())
    if (entry.dataset == dataset) return entry;
  fail("unknown dataset");
}

std::string gunzip_file(const fs::path& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) fail("{}: cannot open: {}", path.string(), errno_text(errno));
  std::string text;
  char buffer[1 << 16];
  int n = 0;
  while ((n = gzread(file, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
  int error = 0;
  const char* message = gzerror(file, &error);
  std::string what = n < 0 ? std::string(message ? message : "read error") : "";
  gzclose(file);
  if (n < 0) fail("{}: not a readable gzip file: {}", path.string(), what);
  return text;
}

std::vector<prompts::Dict> read_gzipped_jsonl(const fs::path& path) {
  std::vector<prompts::Dict> rows;
  std::string text = gunzip_file(path);
  std::size_t line_number = 0;
  for (const std::string& line : split(text, '\n')) {
    ++line_number;
    if (trim(line).empty()) continue;
    prompts::Value value;
    try {
      value = prompts::parse_json(line);
    } catch (const Error& e) {
      fail("{}:{}: {}", path.string(), line_number, e.what());
    }
    if (value.kind != prompts::Value::Kind::dict) fail("{}:{}: expected a JSON object per line", path.string(), line_number);
    rows.push_back(*value.entries);
  }
  return rows;
}

std::string field_names(const prompts::Dict& row) {
  std::vector<std::string> names;
  for (const auto& [key, value] : row) names.push_back(key);
  return names.empty() ? "none" : join(names, ", ");
}

std::vector<std::string> words_of(const std::string& name) {
  std::vector<std::string> words;
  std::string word;
  for (char c : name + ".") {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += c;
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  return words;
}

}  // namespace

Dataset parse_dataset(std::string_view name) {
  for (const DatasetInfo& entry : infos())
    if (entry.key == name) return entry.dataset;
  fail("unknown dataset '{}' (expected one of {})", name, join(dataset_keys(), ", "));
}

std::string dataset_key(Dataset dataset) { return info(dataset).key; }

const std::vector<std::string>& dataset_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const DatasetInfo& entry : infos()) out.push_back(entry.key);
    return out;
  }();
  return keys;
}

bool templates_fit(Dataset dataset, const std::string& yaml_dataset) {
  const auto& names = info(dataset).yaml_datasets;
  return std::find(names.begin(), names.end(), yaml_dataset) != names.end();
}

const std::vector<std::string>& required_fields(Dataset dataset) { return info(dataset).fields; }
const std::vector<std::string>& known_configs(Dataset dataset) { return info(dataset).configs; }

std::optional<std::string> resolve_config(Dataset dataset, const std::optional<std::string>& given, const fs::path& data,
                                          const prompts::TemplateFile& templates) {
  if (given) return given;
  const auto& configs = known_configs(dataset);
  for (const std::string& word : words_of(data.filename().string()))
    if (std::find(configs.begin(), configs.end(), word) != configs.end()) return word;
  return templates.subset;
}

std::string resolve_split(Dataset dataset, const std::optional<std::string>& given, const fs::path& data) {
  if (given) return *given;
  if (auto split = prompts::split_from_filename(data)) return *split;
  if (dataset == Dataset::xwinograd || dataset == Dataset::humaneval) return "test";
  fail("{}: cannot tell the split from the file name; pass --split validation|test|train", data.string());
}

std::vector<prompts::Dict> load_rows(Dataset dataset, const fs::path& data, const std::string& yaml_dataset,
                                     const std::optional<std::string>& config) {
  if (!fs::is_regular_file(data)) fail("{}: no such file", data.string());
  const bool gzipped = data.extension() == ".gz";
  if (gzipped && dataset != Dataset::humaneval) fail("{}: compressed data is read for HumanEval only", data.string());
  std::vector<prompts::Dict> rows =
      gzipped ? read_gzipped_jsonl(data) : prompts::load_dataset_rows(data, yaml_dataset, config.value_or(""));
  if (rows.empty())
    fail("{}: no rows{}", data.string(), config ? fmt::format(" of config '{}'", *config) : std::string());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (const std::string& field : required_fields(dataset)) {
      auto found = std::find_if(rows[r].begin(), rows[r].end(), [&](const auto& entry) { return entry.first == field; });
      if (found == rows[r].end())
        fail("{}: row {} has no field '{}' (its fields: {}): not a {} row", data.string(), r + 1, field, field_names(rows[r]),
             dataset_key(dataset));
    }
  }
  return rows;
}

std::string prompt_language_of(std::string_view template_name) {
  static const std::regex translated("_[a-z]{2,3}(mt|ht)$");
  std::match_results<std::string_view::const_iterator> match;
  if (!std::regex_search(template_name.begin(), template_name.end(), match, translated)) return "EN";
  return match[1].str() == "mt" ? "MT" : "HT";
}

std::string template_slug(std::string_view template_name) {
  std::string slug;
  for (char c : template_name) {
    const bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (keep) {
      slug += c;
    } else if (slug.empty() || slug.back() != '_') {
      slug += '_';
    }
  }
  while (!slug.empty() && slug.back() == '_') slug.pop_back();
  std::size_t start = slug.find_first_not_of('_');
  slug = start == std::string::npos ? std::string() : slug.substr(start);
  return slug.empty() ? "template" : slug;
}

std::vector<SelectedTemplate> select_templates(Dataset dataset, const prompts::TemplateFile& file,
                                               const std::vector<std::string>& names,
                                               const std::optional<std::string>& prompt_language) {
  const bool ranked = dataset != Dataset::humaneval;
  std::vector<SelectedTemplate> chosen;
  if (names.empty()) {
    if (!ranked) return {{nullptr, prompt_language.value_or("EN"), "prompt"}};
    for (const prompts::PromptTemplate& prompt : file.templates) {
      if (!prompt.answer_choices) continue;
      std::string language = prompt_language_of(prompt.name);
      if (prompt_language && language != *prompt_language) continue;
      chosen.push_back({&prompt, language, template_slug(prompt.name)});
    }
    if (chosen.empty())
      fail("{}: no template with answer choices{}", file.path.string(),
           prompt_language ? fmt::format(" in prompt language {}", *prompt_language) : std::string());
  } else {
    std::vector<std::string> available;
    for (const prompts::PromptTemplate& prompt : file.templates) available.push_back(prompt.name);
    for (const std::string& name : names) {
      auto found = std::find_if(file.templates.begin(), file.templates.end(), [&](const auto& p) { return p.name == name; });
      if (found == file.templates.end()) {
        auto suggestion = closest_match(name, available);
        fail("{}: no template named '{}'{}", file.path.string(), name,
             suggestion ? fmt::format(" (did you mean '{}'?)", *suggestion) : "");
      }
      if (ranked && !found->answer_choices)
        fail("{}:{}: template '{}' has no answer choices: rank classification needs them", file.path.string(), found->yaml_line,
             name);
      if (std::any_of(chosen.begin(), chosen.end(), [&](const auto& t) { return t.prompt == &*found; })) continue;
      chosen.push_back({&*found, prompt_language.value_or(prompt_language_of(name)), template_slug(name)});
    }
  }
  // Different names can give one slug ("a/b" and "a b"): tell them apart by their ids.
  std::map<std::string, int> uses;
  for (const auto& t : chosen) ++uses[t.slug];
  for (auto& t : chosen)
    if (uses[t.slug] > 1) t.slug += "-" + t.prompt->id.substr(0, 8);
  return chosen;
}

std::string skip_name(Skip skip) {
  switch (skip) {
    case Skip::none: return "";
    case Skip::no_input: return "no_input";
    case Skip::no_choices: return "no_choices";
    case Skip::no_gold: return "no_gold";
  }
  return "";
}

std::vector<RenderedExample> render_examples(const prompts::TemplateFile& file, const prompts::PromptTemplate& prompt,
                                             const std::vector<prompts::Dict>& rows, const fs::path& data) {
  prompts::CompiledTemplate compiled(file, prompt);
  prompts::PythonRandom rng(0);
  std::vector<RenderedExample> examples;
  examples.reserve(rows.size());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    prompts::Rendered rendered;
    try {
      rendered = compiled.apply(rows[r], rng);
    } catch (const Error& e) {
      fail("{} (rendering row {} of {})", e.what(), r + 1, data.string());
    }
    RenderedExample example;
    example.input = std::move(rendered.input);
    example.choices = std::move(rendered.answer_choices);
    const bool any_choice = std::any_of(example.choices.begin(), example.choices.end(), [](const auto& c) { return !c.empty(); });
    if (example.input.empty()) {
      example.skip = Skip::no_input;
    } else if (!rendered.has_answer_choices || !any_choice) {
      example.skip = Skip::no_choices;
    } else {
      auto gold = rendered.targets.empty() || rendered.targets[0].empty()
                      ? example.choices.end()
                      : std::find(example.choices.begin(), example.choices.end(), rendered.targets[0]);
      if (gold == example.choices.end()) {
        example.skip = Skip::no_gold;
      } else {
        example.gold = static_cast<int>(gold - example.choices.begin());
      }
    }
    examples.push_back(std::move(example));
  }
  return examples;
}

}  // namespace xmtf::eval
