#pragma once
// What the parts of one xmtf-eval run share (internal to src/eval): the resolved inputs, the
// result file names, the run keys that make reruns no-ops, and the JSON writing.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "eval/run.hpp"
#include "eval/tasks.hpp"
#include "prompts/templates.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::eval {

using OrderedJson = nlohmann::ordered_json;

struct EvalContext {
  Dataset dataset = Dataset::xcopa;
  prompts::TemplateFile templates;
  std::vector<prompts::Dict> rows;
  std::size_t rows_read = 0;  // before --limit
  std::optional<std::string> config;
  std::string split;
  std::vector<SelectedTemplate> selected;  // the templates still to evaluate
  fs::path model_folder;
  fs::path tokenizer_path;
  std::string data_sha256, templates_sha256, tokenizer_sha256, model_identity;
  std::int64_t max_length = 0;
  std::string target_prefix;
};

// DIR/<dataset>.<config>.<split>.<slug>.json and the predictions beside it (.jsonl).
fs::path result_path(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected);
fs::path predictions_path(const fs::path& result);

// The settings a template's numbers depend on (the `settings` object of its result file).
OrderedJson result_settings(const EvalOptions& options, const EvalContext& context);
// sha256 over the model identity, the input files' hashes, the settings and the template.
std::string run_key(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected);

// The leading keys of a result file (model ... prompt_language), in the documented order.
OrderedJson result_head(const EvalOptions& options, const EvalContext& context, const SelectedTemplate& selected);
// The trailing keys: data, templates, settings, run_key.
void add_result_tail(OrderedJson& result, const EvalOptions& options, const EvalContext& context,
                     const SelectedTemplate& selected);

// 2-space indented, a final newline, written atomically.
void write_json_file(const fs::path& path, const OrderedJson& json);

// The two kinds of evaluation, over the model through its interface (scorer.hpp).
class ChoiceScorer;
class TokenGenerator;
void run_rank_classification(const EvalOptions& options, const Ranks& ranks, const EvalContext& context, ChoiceScorer& scorer,
                             tok::Tokenizer& tokenizer);
void run_humaneval(const EvalOptions& options, const Ranks& ranks, const EvalContext& context, TokenGenerator& generator,
                   tok::Tokenizer& tokenizer, std::optional<std::int32_t> eos_id);

}  // namespace xmtf::eval
