#pragma once
// The evaluation datasets and their templates: which promptsource files and raw data belong to
// which `--dataset`, the fields a row must have, the config (language) a run is for, which
// templates are evaluated and under which prompt language and file slug, and the rendering of
// rows into rank-classification examples (input, answer choices, gold label or a skip reason).
// Model-free: tokens and scores are rank_eval's business.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.hpp"
#include "prompts/templates.hpp"
#include "prompts/value.hpp"

namespace xmtf::eval {

enum class Dataset { xcopa, xnli, xstory_cloze, xwinograd, humaneval };

// "xcopa" -> Dataset::xcopa; xmtf::Error listing the valid names otherwise.
Dataset parse_dataset(std::string_view name);
std::string dataset_key(Dataset dataset);  // the --dataset spelling
const std::vector<std::string>& dataset_keys();
// Whether a templates file (its `dataset:`) is one for this dataset.
bool templates_fit(Dataset dataset, const std::string& yaml_dataset);
// The fields every row must have (the label excepted: a missing label is a counted skip).
const std::vector<std::string>& required_fields(Dataset dataset);
// The configs (languages) the dataset has, for telling the config from a data file name.
const std::vector<std::string>& known_configs(Dataset dataset);

// --config: given, else a known config appearing as a word of the data file name, else the
// templates file's subset (nullopt: none, as HumanEval).
std::optional<std::string> resolve_config(Dataset dataset, const std::optional<std::string>& given, const fs::path& data,
                                          const prompts::TemplateFile& templates);
// --split: given, else from the data file name, else "test" for XWinograd and HumanEval.
std::string resolve_split(Dataset dataset, const std::optional<std::string>& given, const fs::path& data);

// The rows of --data for this dataset and config (language filter where the file holds several),
// checked for the required fields ("FILE: row N has no field 'choice1' (fields: ...): not a
// xcopa row"). HumanEval's .jsonl.gz is decompressed.
std::vector<prompts::Dict> load_rows(Dataset dataset, const fs::path& data, const std::string& yaml_dataset,
                                     const std::optional<std::string>& config);

// "EN", "MT" or "HT" from a template name as xP3mt named them ("..._frmt" is MT, "..._zhht" HT).
std::string prompt_language_of(std::string_view template_name);
// The file name part of a template: runs of characters outside [A-Za-z0-9_-] become "_".
std::string template_slug(std::string_view template_name);

struct SelectedTemplate {
  const prompts::PromptTemplate* prompt = nullptr;  // null: HumanEval's raw prompt
  std::string prompt_language;
  std::string slug;
};

// Rank classification: `names` (empty: every template with answer choices, or with
// prompt_language only those of that language). HumanEval: `names` empty gives the raw prompt
// only. Unknown names get a "did you mean"; a named template without answer choices (rank
// classification) is an error.
std::vector<SelectedTemplate> select_templates(Dataset dataset, const prompts::TemplateFile& file,
                                               const std::vector<std::string>& names,
                                               const std::optional<std::string>& prompt_language);

enum class Skip { none, no_input, no_choices, no_gold };
std::string skip_name(Skip skip);

struct RenderedExample {
  std::string input;
  std::vector<std::string> choices;
  int gold = -1;
  Skip skip = Skip::none;
};

// Applies the template to every row (promptsource semantics; `choice` draws seeded with 0, rows
// in order). The gold label is the index of the first target among the choices.
std::vector<RenderedExample> render_examples(const prompts::TemplateFile& file, const prompts::PromptTemplate& prompt,
                                             const std::vector<prompts::Dict>& rows, const fs::path& data);

}  // namespace xmtf::eval
