#pragma once
// promptsource templates: reading templates.yaml files as published (YAML with the !Template and
// !TemplateMetadata tags) and applying a template to a dataset row with promptsource's
// semantics (Template.apply in promptsource/templates.py):
//   - answer_choices is itself a template, rendered without truncation, split on "|||", each
//     choice stripped; the list is bound to `answer_choices`;
//   - every "}}" in the template becomes " | string | truncate(2048) }}" (TEXT_VAR_LENGTH);
//   - the rendering is split on "|||" and every part stripped (Python str.strip()): the first
//     part is the input, the others the targets;
//   - "|||" inside row values is protected during rendering so it never splits.
#include <optional>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "prompts/jinja.hpp"
#include "prompts/python_random.hpp"
#include "prompts/value.hpp"

namespace xmtf::prompts {

struct TemplateMetadata {
  std::optional<bool> original_task;
  std::optional<bool> choices_in_prompt;
  std::optional<std::vector<std::string>> metrics;
  std::optional<std::vector<std::string>> languages;
};

struct PromptTemplate {
  std::string id;
  std::string name;
  std::string jinja;
  std::optional<std::string> answer_choices;
  std::string reference;
  TemplateMetadata metadata;
  int yaml_line = 0;  // where the template starts in its file (1-based), for errors
};

struct TemplateFile {
  fs::path path;
  std::string dataset;
  std::optional<std::string> subset;
  std::vector<PromptTemplate> templates;  // in file order (promptsource keeps the YAML order)
};

TemplateFile load_template_file(const fs::path& path);
// The same from YAML text (path only names it in errors).
TemplateFile parse_template_file(const std::string& yaml_text, const fs::path& path);

// What applying one template to one row gives.
struct Rendered {
  std::string input;
  std::vector<std::string> targets;
  std::vector<std::string> answer_choices;
  bool has_answer_choices = false;
};

// A template compiled once and applied to many rows.
class CompiledTemplate {
 public:
  CompiledTemplate(const TemplateFile& file, const PromptTemplate& prompt, bool truncate = true);
  // Row values are the dataset fields; "answer_choices" is reserved (an error if present).
  Rendered apply(const Dict& row, PythonRandom& rng) const;
  const PromptTemplate& prompt() const { return prompt_; }

 private:
  PromptTemplate prompt_;
  jinja::Template body_;
  std::optional<jinja::Template> answer_choices_;
};

// promptsource's Template.apply parts: the rendering split on "|||", each part stripped.
std::vector<std::string> split_parts(const std::string& rendered);

}  // namespace xmtf::prompts
