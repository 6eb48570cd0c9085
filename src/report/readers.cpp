#include "report/readers.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "models/model.hpp"
#include "report/datasets.hpp"

namespace xmtf::report {

namespace {

using json = nlohmann::json;

void add_problem(Inputs& inputs, std::string path, std::string reason) {
  log::warn("{}: {}; skipped", path, reason);
  inputs.problems.push_back({std::move(path), std::move(reason)});
}

// "path:line" for a byte offset into text (nlohmann reports where parsing stopped).
std::string where_in(const fs::path& path, const std::string& text, std::size_t byte) {
  byte = std::min(byte, text.size());
  auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(byte), '\n');
  return fmt::format("{}:{}", path.string(), line);
}

// The parsed document, or nothing with the problem recorded ("path:line: not valid JSON ...").
std::optional<json> parse_json_file(const fs::path& path, Inputs& inputs) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    add_problem(inputs, path.string(), e.what());
    return std::nullopt;
  }
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    std::string message = e.what();
    if (auto colon = message.find("]: "); colon != std::string::npos) message = message.substr(colon + 3);
    add_problem(inputs, where_in(path, text, e.byte > 0 ? e.byte - 1 : 0), "not valid JSON (" + message + ")");
    return std::nullopt;
  }
}

// ---- field access: a present field of the wrong type or range is an error (thrown, caught per file)

std::optional<std::string> optional_string(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) fail("\"{}\" must be a string", key);
  return it->get<std::string>();
}

std::string required_string(const json& doc, const char* key) {
  auto value = optional_string(doc, key);
  if (!value) fail("no \"{}\"", key);
  return *value;
}

std::optional<std::int64_t> optional_count(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0) fail("\"{}\" must be a count (an integer >= 0)", key);
  return it->get<std::int64_t>();
}

double fraction(const json& value, const std::string& what) {
  if (!value.is_number()) fail("{} must be a number", what);
  const double v = value.get<double>();
  if (!(v >= 0.0 && v <= 1.0)) fail("{} = {} is not a fraction in [0, 1]", what, v);
  return v;
}

// "pass@10" -> 10.
std::optional<int> pass_at_k_of(const std::string& key) {
  if (!starts_with(key, "pass@") || key.size() == 5) return std::nullopt;
  const std::string digits = key.substr(5);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  return std::stoi(digits);
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// ---- model sizes of our columns

// A BLOOM config.json beside the weights gives the exact count (the engine's own layout).
std::optional<double> parameters_from_config(const fs::path& folder) {
  fs::path config = folder / "config.json";
  if (!fs::exists(config)) {
    auto latest = ckpt::latest_checkpoint(folder);
    if (!latest) return std::nullopt;
    config = *latest / "config.json";
  }
  try {
    // The global count (a layout's numel includes vocabulary padding: the engine's buffers).
    return static_cast<double>(models::load_model_config(config)->n_parameters());
  } catch (const std::exception& e) {  // another family (mT5): the name may still tell
    log::debug("{}: no BLOOM parameter count ({})", config.string(), e.what());
    return std::nullopt;
  }
}

std::optional<double> model_parameters(const std::string& model, const fs::path& result_file) {
  std::error_code ec;
  for (const fs::path& folder : {fs::path(model), result_file.parent_path() / model})
    if (!model.empty() && fs::is_directory(folder, ec))
      if (auto count = parameters_from_config(folder)) return count;
  return parameters_from_name(model);
}

// ---- xmtf-eval / t-zero result files

EvalSetting setting_of(const json& doc) {
  std::string dataset = canonical_dataset(required_string(doc, "dataset_name"));
  const std::string config = canonical_config(dataset, optional_string(doc, "dataset_config_name").value_or(""));
  // XStoryCloze evaluated with story_cloze's templates names their dataset; its configs are
  // languages, story_cloze's are years.
  if (dataset == "story_cloze" && config != "None" && !std::isdigit(static_cast<unsigned char>(config[0])))
    dataset = "xstory_cloze";
  const std::string split = optional_string(doc, "split").value_or(default_split(dataset));
  const std::string language = upper(optional_string(doc, "prompt_language").value_or("EN"));
  if (language != "EN" && language != "HT" && language != "MT")
    fail("\"prompt_language\" is \"{}\" (EN, HT or MT)", language);
  return {dataset, config, split, language};
}

// The template's accuracy, checked against correct / n when the file holds them.
std::optional<double> accuracy_of(const json& doc, const json& evaluation) {
  const auto n = optional_count(doc, "n");
  const auto correct = optional_count(doc, "correct");
  if (n && *n == 0) fail("\"n\" is 0: no example was scored");
  if (n && correct && *correct > *n) fail("\"correct\" ({}) exceeds \"n\" ({})", *correct, *n);
  auto it = evaluation.find("accuracy");
  if (it == evaluation.end()) {
    if (n && correct) return static_cast<double>(*correct) / static_cast<double>(*n);
    return std::nullopt;
  }
  const double accuracy = fraction(*it, "evaluation.accuracy");
  if (n && correct) {
    const double counted = static_cast<double>(*correct) / static_cast<double>(*n);
    if (std::fabs(counted - accuracy) > 1e-9)
      fail("evaluation.accuracy {} disagrees with correct / n = {} / {} = {}", accuracy, *correct, *n, counted);
  }
  return accuracy;
}

// "3 of 100 examples not scored (no_gold 3); 2 inputs cut to the window", from xmtf-eval's
// `skipped` and `truncated` (docs/eval.md): worth knowing beside the accuracy.
std::optional<std::string> unscored_note(const json& doc) {
  std::vector<std::string> parts;
  std::int64_t skipped = 0;
  if (auto it = doc.find("skipped"); it != doc.end() && it->is_object()) {
    std::vector<std::string> reasons;
    for (auto& [reason, count] : it->items())
      if (count.is_number_integer() && count.get<std::int64_t>() > 0) {
        skipped += count.get<std::int64_t>();
        reasons.push_back(fmt::format("{} {}", reason, count.get<std::int64_t>()));
      }
    if (skipped > 0)
      parts.push_back(fmt::format("{} of {} examples not scored ({})", skipped,
                                  skipped + optional_count(doc, "n").value_or(0), join(reasons, ", ")));
  }
  if (auto truncated = optional_count(doc, "truncated"); truncated && *truncated > 0)
    parts.push_back(fmt::format("{} inputs cut on the left to fit the window", *truncated));
  if (parts.empty()) return std::nullopt;
  return join(parts, "; ");
}

// Reads one result document into inputs; throws xmtf::Error (the reason) when it is unusable.
void read_eval_document(const json& doc, const fs::path& path, Inputs& inputs, bool baseline,
                        const std::string& fallback_name) {
  if (!doc.is_object()) fail("not a JSON object");
  auto evaluation = doc.find("evaluation");
  if (evaluation == doc.end() || !evaluation->is_object()) fail("no \"evaluation\" object: not an eval result");
  const EvalSetting setting = setting_of(doc);
  const std::string model = optional_string(doc, "model").value_or(fallback_name);
  if (model.empty()) fail("no \"model\" and no folder to name it after");

  std::vector<std::pair<int, double>> pass_at_k;
  for (auto& [key, value] : evaluation->items())
    if (auto k = pass_at_k_of(key)) pass_at_k.emplace_back(*k, fraction(value, "evaluation." + key));
  // A HumanEval result's n / correct count problems, not an accuracy of the table.
  std::optional<double> accuracy;
  std::string template_name;
  if (pass_at_k.empty()) {
    accuracy = accuracy_of(doc, *evaluation);
    if (!accuracy) fail("\"evaluation\" holds neither \"accuracy\" nor pass@k");
    template_name = optional_string(doc, "template_name").value_or("");
    if (template_name.empty()) fail("no \"template_name\"");
  }
  const auto n_parameters = optional_count(doc, "n_parameters");
  if (auto note = unscored_note(doc)) inputs.notes.push_back({path.string(), *note});

  Column& column = inputs.column(model, baseline, path.string());
  if (n_parameters) column.parameters = static_cast<double>(*n_parameters);
  if (!column.parameters) column.parameters = model_parameters(model, path);
  if (accuracy)
    inputs.prompt_accuracies.push_back({column.id, setting, template_name, *accuracy, optional_count(doc, "n"), path.string()});
  for (auto [k, value] : pass_at_k) inputs.pass_at_k.push_back({column.id, setting, k, value, path.string()});
}

// ---- training metrics (metrics.jsonl)

std::optional<double> optional_number(const json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) fail("\"{}\" must be a number", key);
  return it->get<double>();
}

void read_metrics(const fs::path& path, Inputs& inputs) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error& e) {
    add_problem(inputs, path.string(), e.what());
    return;
  }
  // A run resumed from a checkpoint truncates the file; a line written twice for one step (a
  // crash between the write and the truncation) keeps its last version.
  std::map<std::int64_t, TrainingStep> steps;
  std::map<std::int64_t, double> valid;
  std::size_t line_number = 0, begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    const std::string line(trim(std::string_view(text).substr(begin, end - begin)));
    begin = end + 1;
    ++line_number;
    if (line.empty()) continue;
    try {
      const json row = json::parse(line);
      if (!row.is_object()) fail("not a JSON object");
      const auto step = optional_count(row, "step");
      if (!step) fail("no \"step\"");
      if (auto loss = optional_number(row, "valid_loss")) valid[*step] = *loss;
      TrainingStep point{*step, optional_number(row, "loss"), optional_number(row, "lr"),
                         optional_number(row, "grad_norm"), optional_number(row, "tokens_per_s")};
      if (point.loss || point.lr || point.tokens_per_s) steps[*step] = point;
    } catch (const json::parse_error&) {
      add_problem(inputs, fmt::format("{}:{}", path.string(), line_number), "not a JSON line (torn write?)");
    } catch (const Error& e) {
      add_problem(inputs, fmt::format("{}:{}", path.string(), line_number), e.what());
    }
  }
  if (steps.empty() && valid.empty()) {
    add_problem(inputs, path.string(), "no training metrics");
    return;
  }
  TrainingRun run;
  // results/<run>/checkpoints/metrics.jsonl is run <run>; finish_names() shortens the path.
  fs::path folder = fs::absolute(path).lexically_normal().parent_path();
  if (folder.filename() == "checkpoints") folder = folder.parent_path();
  run.name = folder.string();
  run.source = path.string();
  for (auto& [step, point] : steps) run.steps.push_back(point);
  for (auto& [step, loss] : valid) run.valid_loss.emplace_back(step, loss);
  inputs.training_runs.push_back(std::move(run));
  inputs.files_read.push_back(path.string());
}

// ---- the paper's table (allres_table.tsv)

const std::vector<std::string> kTableKeys = {"Task", "Dataset", "Config", "Split", "Prompt", "Metric"};

bool is_paper_table(const std::string& text) { return starts_with(text, "Task\tDataset\tConfig\tSplit\tPrompt\tMetric\t"); }

// Header cells may carry the LaTeX row end the table was converted from ("BLOOMZ-P3 \\").
std::string clean_header(std::string cell) {
  if (cell.size() >= 2 && cell.ends_with("\\\\")) cell.resize(cell.size() - 2);
  return std::string(trim(cell));
}

void read_paper_table(const fs::path& path, const std::string& text, Inputs& inputs) {
  std::vector<std::string> lines = split(text, '\n');
  std::vector<std::string> models;
  {
    const auto header = split(lines[0], '\t');
    for (std::size_t i = kTableKeys.size(); i < header.size(); ++i) models.push_back(clean_header(header[i]));
  }
  std::vector<std::string> ids;
  for (const std::string& model : models) {
    Column& column = inputs.column(model, true, path.string());
    column.parameters = parameters_from_name(model);
    ids.push_back(column.id);
  }
  std::size_t values = 0;
  for (std::size_t l = 1; l < lines.size(); ++l) {
    std::string line = lines[l];
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const auto cells = split(line, '\t');
    const std::string where = fmt::format("{}:{}", path.string(), l + 1);
    if (cells.size() != kTableKeys.size() + models.size()) {
      add_problem(inputs, where, fmt::format("{} cells, the header has {}", cells.size(), kTableKeys.size() + models.size()));
      continue;
    }
    const std::string dataset = canonical_dataset(cells[1]);
    const EvalSetting setting{dataset, canonical_config(dataset, cells[2]), cells[3], cells[4]};
    for (std::size_t m = 0; m < models.size(); ++m) {
      const std::string& cell = cells[kTableKeys.size() + m];
      if (cell == "-" || cell.empty()) continue;  // missing in the paper: stays missing
      char* end = nullptr;
      const double percent = std::strtod(cell.c_str(), &end);
      if (end == cell.c_str() || *end != '\0' || !(percent >= 0 && percent <= 100)) {
        add_problem(inputs, where, fmt::format("{}: \"{}\" is not a percentage", models[m], cell));
        continue;
      }
      inputs.published.push_back({ids[m], setting, cells[5], percent / 100.0, std::nullopt, std::nullopt, path.string()});
      ++values;
    }
  }
  log::info("{}: the paper's table, {} models, {} values", path.string(), models.size(), values);
  inputs.files_read.push_back(path.string());
}

// ---- lm-evaluation-harness and BigScience (bslmeval.json) task names

struct KnownTask {
  std::string_view name;
  std::string_view dataset, config, split;
};

// Prompted tasks of BigScience's evaluation (promptsource datasets).
constexpr KnownTask kPromptedTasks[] = {
    {"cb", "super_glue", "cb", "validation"},         {"copa", "super_glue", "copa", "validation"},
    {"wic", "super_glue", "wic", "validation"},       {"wsc", "super_glue", "wsc.fixed", "validation"},
    {"boolq", "super_glue", "boolq", "validation"},   {"multirc", "super_glue", "multirc", "validation"},
    {"axb", "super_glue", "axb", "test"},             {"axg", "super_glue", "axg", "test"},
    {"rte", "glue", "rte", "validation"},             {"mnli", "glue", "mnli", "validation_matched"},
    {"mnli_mismatched", "glue", "mnli", "validation_mismatched"},
    {"qqp", "glue", "qqp", "validation"},             {"sst", "glue", "sst2", "validation"},
    {"cola", "glue", "cola", "validation"},           {"wnli", "glue", "wnli", "validation"},
    {"mrpc", "glue", "mrpc", "validation"},           {"qnli", "glue", "qnli", "validation"},
};

// lm-evaluation-harness tasks (no prompt template); splits as the harness evaluates them (the
// example counts its standard errors imply: xcopa 500 and xnli 5,010 are the test splits).
constexpr KnownTask kHarnessTasks[] = {
    {"copa", "super_glue", "copa", "validation"},  {"boolq", "super_glue", "boolq", "validation"},
    {"cb", "super_glue", "cb", "validation"},      {"rte", "glue", "rte", "validation"},
    {"winogrande", "winogrande", "xl", "validation"}, {"wsc273", "wsc273", "None", "test"},
    {"piqa", "piqa", "None", "validation"},        {"hellaswag", "hellaswag", "None", "validation"},
    {"arc_easy", "arc_easy", "None", "test"},      {"arc_challenge", "arc_challenge", "None", "test"},
    {"openbookqa", "openbookqa", "None", "test"},
};
constexpr KnownTask kHarnessFamilies[] = {
    {"xcopa_", "xcopa", "", "test"},   {"xnli_", "xnli", "", "test"},   {"xstory_cloze_", "xstory_cloze", "", "validation"},
    {"xwinograd_", "xwinograd", "", "test"}, {"pawsx_", "pawsx", "", "test"},
};

EvalSetting harness_setting(const std::string& task, const std::string& prompt_language) {
  for (const KnownTask& family : kHarnessFamilies)
    if (starts_with(task, family.name))
      return {std::string(family.dataset), task.substr(family.name.size()), std::string(family.split), prompt_language};
  for (const KnownTask& known : kHarnessTasks)
    if (task == known.name)
      return {std::string(known.dataset), std::string(known.config), std::string(known.split), prompt_language};
  return {task, "None", "-", prompt_language};  // the harness's own task: split not known here
}

EvalSetting prompted_setting(const std::string& task) {
  for (const KnownTask& known : kPromptedTasks)
    if (task == known.name) return {std::string(known.dataset), std::string(known.config), std::string(known.split), "EN"};
  return {task, "None", "-", "EN"};
}

// The example count lm-evaluation-harness's standard error implies: se = sqrt(p(1-p)/(n-1)).
std::optional<std::int64_t> count_from_standard_error(double accuracy, double standard_error) {
  if (!(standard_error > 0) || accuracy <= 0 || accuracy >= 1) return std::nullopt;
  const double n = 1 + accuracy * (1 - accuracy) / (standard_error * standard_error);
  const double rounded = std::round(n);
  if (std::fabs(n - rounded) > 1e-3 * std::max(1.0, rounded) || rounded < 2) return std::nullopt;
  return static_cast<std::int64_t>(rounded);
}

struct HarnessEntry {
  double accuracy;
  std::optional<double> standard_error;
};

std::optional<HarnessEntry> harness_entry(const json& entry, const std::string& what) {
  if (!entry.is_object() || !entry.contains("acc")) return std::nullopt;  // perplexity, f1, ...: not accuracies
  HarnessEntry result{fraction(entry["acc"], what + ".acc"), std::nullopt};
  if (auto it = entry.find("acc_stderr"); it != entry.end() && it->is_number()) result.standard_error = it->get<double>();
  return result;
}

// metric: "Acc." zero-shot (as every result of the paper), "Acc. (5-shot)" otherwise.
void add_harness_value(Inputs& inputs, const std::string& column_id, const EvalSetting& setting, const HarnessEntry& entry,
                       const fs::path& path, std::int64_t few_shot = 0) {
  std::optional<std::int64_t> n;
  if (entry.standard_error) n = count_from_standard_error(entry.accuracy, *entry.standard_error);
  const std::string metric = few_shot > 0 ? fmt::format("Acc. ({}-shot)", few_shot) : "Acc.";
  inputs.published.push_back({column_id, setting, metric, entry.accuracy, entry.standard_error, n, path.string()});
}

bool is_bslmeval(const json& doc) {
  if (!doc.is_object() || !doc.contains("results") || !doc["results"].is_object() || doc["results"].empty()) return false;
  const json& first = doc["results"].begin().value();
  return first.is_object() && !first.empty() && first.begin().value().is_object();
}

bool is_harness(const json& doc) {
  return doc.is_object() && doc.contains("results") && doc["results"].is_object() && !is_bslmeval(doc);
}

// bslmeval.json: {"results": {"task+prompt": {"<timestamp>": {"acc", "acc_stderr", ...}}}};
// a task without "+prompt" is an lm-evaluation-harness task of the same run.
void read_bslmeval(const json& doc, const fs::path& path, const std::string& name, Inputs& inputs) {
  Column& added = inputs.column(name, true, path.string());
  added.parameters = parameters_from_name(name);
  const std::string column = added.id;
  std::size_t prompted = 0, plain = 0, other = 0;
  for (auto& [key, runs] : doc["results"].items()) {
    if (!runs.is_object() || runs.empty()) continue;
    // Several runs of one entry: the latest (timestamps sort as text).
    auto latest = std::max_element(runs.items().begin(), runs.items().end(),
                                   [](const auto& a, const auto& b) { return a.key() < b.key(); });
    auto entry = harness_entry(latest.value(), key);
    if (!entry) {
      ++other;
      continue;
    }
    const auto plus = key.find('+');
    if (plus == std::string::npos) {
      add_harness_value(inputs, column, harness_setting(key, "-"), *entry, path);
      ++plain;
      continue;
    }
    const std::string task = key.substr(0, plus);
    std::optional<std::int64_t> n;
    if (entry->standard_error) n = count_from_standard_error(entry->accuracy, *entry->standard_error);
    inputs.prompt_accuracies.push_back({column, prompted_setting(task), key.substr(plus + 1), entry->accuracy, n, path.string()});
    ++prompted;
  }
  log::info("{}: BigScience results, {} prompted and {} plain accuracies ({} other metrics not read)", path.string(),
            prompted, plain, other);
}

// lm-evaluation-harness: {"results": {"task": {"acc", "acc_stderr"}}, "config": {"model_args": ...}}.
void read_harness(const json& doc, const fs::path& path, const std::string& name_override, const std::string& fallback,
                  Inputs& inputs) {
  std::string column = name_override;
  if (column.empty() && doc.contains("config") && doc["config"].is_object()) {
    // "pretrained=bigscience/bloom-560m,use_accelerate=True" -> "bloom-560m"
    const std::string args = optional_string(doc["config"], "model_args").value_or("");
    for (const std::string& part : split(args, ','))
      if (starts_with(part, "pretrained=")) column = std::string(part.substr(part.rfind('/') == std::string::npos ? 11 : part.rfind('/') + 1));
  }
  if (column.empty()) column = fallback;
  std::int64_t few_shot = 0;
  if (doc.contains("config") && doc["config"].is_object()) few_shot = optional_count(doc["config"], "num_fewshot").value_or(0);
  Column& added = inputs.column(column, true, path.string());
  added.parameters = parameters_from_name(column);
  const std::string id = added.id;
  std::size_t read = 0;
  for (auto& [task, entry] : doc["results"].items())
    if (auto value = harness_entry(entry, task)) {
      add_harness_value(inputs, id, harness_setting(task, "-"), *value, path, few_shot);
      ++read;
    }
  log::info("{}: lm-evaluation-harness results of {}, {} accuracies", path.string(), column, read);
}

// A HumanEval pass@k file: {"pass@1": .., "pass@10": .., "pass@100": ..} (one temperature).
bool is_pass_at_k_file(const json& doc) {
  if (!doc.is_object() || doc.empty()) return false;
  for (auto& [key, value] : doc.items())
    if (!pass_at_k_of(key)) return false;
  return true;
}

void read_pass_at_k_file(const json& doc, const fs::path& path, const std::string& name, Inputs& inputs) {
  Column& added = inputs.column(name, true, path.string());
  added.parameters = parameters_from_name(name);
  const std::string column = added.id;
  const EvalSetting setting{"openai_humaneval", "None", "test", "EN"};
  for (auto& [key, value] : doc.items())
    inputs.pass_at_k.push_back({column, setting, *pass_at_k_of(key), fraction(value, key), path.string()});
}

// ---- dispatch

std::string folder_name(const fs::path& path) {
  return fs::absolute(path).lexically_normal().parent_path().filename().string();
}

// name: NAME= of the command line (or empty); fallback: the column of files that name no model.
void read_baseline_file(const fs::path& path, const std::string& name, const std::string& fallback, Inputs& inputs) {
  const std::string column = name.empty() ? fallback : name;
  if (path.extension() == ".tsv") {
    std::string text;
    try {
      text = read_file(path);
    } catch (const Error& e) {
      add_problem(inputs, path.string(), e.what());
      return;
    }
    if (!is_paper_table(text)) {
      add_problem(inputs, path.string() + ":1", "not the paper's table (expected the header Task, Dataset, Config, Split, Prompt, Metric, models...)");
      return;
    }
    if (!name.empty()) log::warn("{}: the paper's table names its own columns; {}= ignored", path.string(), name);
    read_paper_table(path, text, inputs);
    return;
  }
  auto doc = parse_json_file(path, inputs);
  if (!doc) return;
  try {
    if (is_bslmeval(*doc))
      read_bslmeval(*doc, path, column, inputs);
    else if (is_harness(*doc))
      read_harness(*doc, path, name, column, inputs);
    else if (is_pass_at_k_file(*doc))
      read_pass_at_k_file(*doc, path, column, inputs);
    else if (doc->is_object() && doc->contains("evaluation"))
      read_eval_document(*doc, path, inputs, true, column);
    else
      fail("not a known results format (paper table, t-zero, bslmeval, HumanEval pass@k, lm-evaluation-harness)");
    inputs.files_read.push_back(path.string());
  } catch (const Error& e) {
    add_problem(inputs, path.string(), e.what());
  }
}

void read_input_file(const fs::path& path, Inputs& inputs) {
  if (path.extension() == ".jsonl") {
    read_metrics(path, inputs);
    return;
  }
  auto doc = parse_json_file(path, inputs);
  if (!doc) return;
  try {
    read_eval_document(*doc, path, inputs, false, folder_name(path));
    inputs.files_read.push_back(path.string());
  } catch (const Error& e) {
    add_problem(inputs, path.string(), e.what());
  }
}

// Files under a folder, sorted (reports do not depend on the directory order), skipping
// hidden entries and skip_dir.
std::vector<fs::path> files_under(const fs::path& folder, const fs::path& skip_dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  const fs::path skip = skip_dir.empty() ? fs::path() : fs::weakly_canonical(skip_dir, ec);
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied);
       it != fs::recursive_directory_iterator(); ++it) {
    const fs::path& p = it->path();
    const bool hidden = p.filename().string().starts_with(".");
    if (it->is_directory()) {
      if (hidden || (!skip.empty() && fs::weakly_canonical(p, ec) == skip)) it.disable_recursion_pending();
      continue;
    }
    if (!hidden && it->is_regular_file()) files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  return files;
}

bool is_metrics_name(const fs::path& path) { return path.filename() == "metrics.jsonl"; }

// Shortest suffixes of path components that tell the names apart.
std::vector<std::string> shortest_unique_suffixes(const std::vector<std::string>& names) {
  std::vector<std::vector<std::string>> parts;
  for (const std::string& name : names) {
    std::vector<std::string> components;
    for (const std::string& c : split(name, '/'))
      if (!c.empty() && c != ".") components.push_back(c);
    if (components.empty()) components.push_back(name);
    parts.push_back(components);
  }
  auto suffix = [&](std::size_t i, std::size_t count) {
    const auto& c = parts[i];
    count = std::min(count, c.size());
    return join(std::vector<std::string>(c.end() - static_cast<std::ptrdiff_t>(count), c.end()), "/");
  };
  std::vector<std::string> out(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    for (std::size_t count = 1;; ++count) {
      out[i] = suffix(i, count);
      bool unique = true;
      for (std::size_t j = 0; j < names.size() && unique; ++j)
        if (j != i && names[j] != names[i] && suffix(j, count) == out[i]) unique = false;
      if (unique || count >= parts[i].size()) break;
    }
  }
  return out;
}

}  // namespace

bool is_eval_result_name(const fs::path& path) {
  if (path.extension() != ".json") return false;
  const std::string name = path.filename().string();
  if (name == "results.json") return true;
  return std::count(name.begin(), name.end(), '.') >= 4;
}

void read_input(const fs::path& path, Inputs& inputs, const ReadSettings& settings) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    read_input_file(path, inputs);
    return;
  }
  std::size_t ignored = 0;
  for (const fs::path& file : files_under(path, settings.skip_dir)) {
    if (is_metrics_name(file))
      read_metrics(file, inputs);
    else if (is_eval_result_name(file))
      read_input_file(file, inputs);
    else
      ++ignored;
  }
  log::debug("{}: {} other files not read", path.string(), ignored);
}

void read_baseline(const std::string& argument, Inputs& inputs) {
  fs::path path = argument;
  std::string name;
  std::error_code ec;
  // NAME=PATH, unless the whole argument is itself a path.
  if (auto eq = argument.find('='); eq != std::string::npos && eq > 0 && !fs::exists(path, ec)) {
    name = argument.substr(0, eq);
    path = argument.substr(eq + 1);
  }
  if (!fs::exists(path, ec)) {
    add_problem(inputs, path.string(), "no such file or folder");
    return;
  }
  if (!fs::is_directory(path, ec)) {
    read_baseline_file(path, name, folder_name(path), inputs);
    return;
  }
  // Files of a folder that name no model (bslmeval, HumanEval, t-zero) are that folder's model.
  const std::string folder = fs::absolute(path).lexically_normal().filename().string();
  for (const fs::path& file : files_under(path, {}))
    if (file.extension() == ".json" || file.extension() == ".tsv") read_baseline_file(file, name, folder, inputs);
}

void finish_names(Inputs& inputs) {
  std::vector<std::string> ours;
  std::set<std::string> baseline_names;
  for (const Column& column : inputs.columns) {
    if (column.baseline)
      baseline_names.insert(column.name);
    else
      ours.push_back(column.name);
  }
  const auto short_names = shortest_unique_suffixes(ours);
  std::size_t next = 0;
  for (Column& column : inputs.columns) {
    if (column.baseline) continue;
    column.name = short_names[next++];
    if (baseline_names.count(column.name)) column.name += " (ours)";
  }
  std::vector<std::string> runs;
  for (const TrainingRun& run : inputs.training_runs) runs.push_back(run.name);
  const auto run_names = shortest_unique_suffixes(runs);
  for (std::size_t i = 0; i < runs.size(); ++i) inputs.training_runs[i].name = run_names[i];
}

}  // namespace xmtf::report
