#pragma once
// The report's data: what the readers (readers.hpp) collect from eval result files, training
// metrics and published baselines, before the table (table.hpp) is built from it. Accuracies
// and pass@k are fractions in [0, 1] here; tables print them in percent, as the paper does.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace xmtf::report {

namespace fs = std::filesystem;

// One evaluation of a model on a dataset / config / split with prompts in one language group
// ("EN": English prompts, "HT": human-translated, "MT": machine-translated; "-": no prompt
// template, as lm-evaluation-harness tasks).
struct EvalSetting {
  std::string dataset;  // canonical (datasets.hpp)
  std::string config;
  std::string split;
  std::string prompt_language;
  auto operator<=>(const EvalSetting&) const = default;
};

// A column of the tables: one of our models (from --input) or a baseline (from --baseline).
struct Column {
  std::string id;    // unique and fixed: "ours:<model>" or "baseline:<name>"; records refer to it
  std::string name;  // shown in tables (finish_names() shortens ours)
  bool baseline = false;
  std::optional<double> parameters;  // for the scale plot
  std::string source;                // the path it was read from (or the first one)
};

// The accuracy of one prompt template (an xmtf-eval or t-zero file, one bslmeval entry).
struct PromptAccuracy {
  std::string column;  // Column::id
  EvalSetting setting;
  std::string template_name;
  double accuracy = 0;
  std::optional<std::int64_t> n;  // examples scored, when the file says
  std::string source;
};

// pass@k of a HumanEval run (one temperature); the table keeps the best temperature per k.
struct PassAtK {
  std::string column;
  EvalSetting setting;
  int k = 1;
  double value = 0;
  std::string source;
};

// A value published already aggregated: a cell of the paper's table (metric "Median acc.",
// "Max acc.", "Pass@k") or an lm-evaluation-harness accuracy (metric "Acc.", one per task).
struct PublishedValue {
  std::string column;
  EvalSetting setting;
  std::string metric;
  double value = 0;
  std::optional<double> standard_error;
  std::optional<std::int64_t> n;
  std::string source;
};

// One training run's metrics.jsonl (docs/engine.md, "Logs and metrics").
struct TrainingStep {
  std::int64_t step = 0;
  std::optional<double> loss, lr, grad_norm, tokens_per_s;
};
struct TrainingRun {
  std::string name;
  std::string source;
  std::vector<TrainingStep> steps;                             // by step, the last line of a step wins
  std::vector<std::pair<std::int64_t, double>> valid_loss;     // (step, loss)
};

// An input that was not used, or used in part, and why ("path:line: reason").
struct Problem {
  std::string path;
  std::string reason;
};

struct Inputs {
  std::vector<Column> columns;  // in the order first seen: ours first, then the baselines
  std::vector<PromptAccuracy> prompt_accuracies;
  std::vector<PassAtK> pass_at_k;
  std::vector<PublishedValue> published;
  std::vector<TrainingRun> training_runs;
  std::vector<Problem> problems;
  std::vector<Problem> notes;  // read, but worth a word (examples an eval could not score)
  std::vector<std::string> files_read;

  // The column of a model, added on first use.
  Column& column(const std::string& name, bool baseline, const std::string& source);
  const Column* find_column_by_id(const std::string& id) const;
};

// lm-evaluation-harness's standard error of an accuracy p over n examples: sqrt(p(1-p)/(n-1)).
double standard_error(double accuracy, std::int64_t n);

}  // namespace xmtf::report
