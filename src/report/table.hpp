#pragma once
// The results table in the paper's layout: one row per task / dataset / config / split / prompt
// language / metric, one column per model (ours, then the baselines), each cell the median or
// the max accuracy over the prompts of that row (or pass@k, the best temperature per k; or a
// value published already aggregated). Rows sort as the paper's table does. A cell that no
// input provides is absent: every writer shows it as missing, never as 0.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "report/results.hpp"

namespace xmtf::report {

struct RowKey {
  std::string task, dataset, config, split, prompt, metric;
  bool operator==(const RowKey&) const = default;
};
// The paper's order: task, dataset, config, split, prompt (EN < HT < MT < "-"), then
// "Median acc." < "Max acc." < "Acc." < "Pass@1" < "Pass@10" < "Pass@100".
bool operator<(const RowKey& a, const RowKey& b);

struct Cell {
  double value = 0;                        // a fraction
  std::optional<double> standard_error;    // sqrt(p(1-p)/(n-1)) when n is known
  std::optional<std::int64_t> n;           // examples behind the value
  int prompts = 0;                         // templates behind a median / max; 0 when published so
};

struct Table {
  std::vector<Column> columns;
  std::map<RowKey, std::map<std::string, Cell>> rows;  // column id -> cell

  const Cell* cell(const RowKey& row, const std::string& column_id) const;
  std::vector<const Column*> ours() const;
  std::vector<const Column*> baselines() const;
  const Column* find(const std::string& column_id) const;
};

// Medians and maxima over prompts, best pass@k over temperatures, published values as given.
// A template seen twice for one model and setting (or a published cell twice) keeps the first
// and records the second in `problems`.
Table build_table(const Inputs& inputs, std::vector<Problem>& problems);

// median of values (the mean of the middle two for an even count), as numpy.median.
double median(std::vector<double> values);

// An average over the configs (languages) of one dataset / split / prompt / metric: "all" of
// them, or those "seen" / "unseen" in BLOOM's pretraining. Each column averages the same
// configs: those every column with a value in the group has, listed in `configs`, so the
// numbers side by side are comparable; a column without any is missing.
struct AverageRow {
  std::string task, dataset, split, prompt, metric, group;
  std::vector<std::string> configs;
  std::map<std::string, double> values;  // column id -> mean
};
std::vector<AverageRow> average_rows(const Table& table);

// ours - baseline in the row, when both are present (fractions).
std::optional<double> difference(const Table& table, const RowKey& row, const std::string& ours_id,
                                 const std::string& baseline_id);

// A model card's results (the HF model-index layout of model_index_results.tsv): per dataset /
// config / split, "Accuracy" = the max over prompt languages (EN, HT, MT) of the row's "Max acc."
// and "Pass@k" as in the table.
struct CardRow {
  std::string task_type, dataset, config, split, metric;
  double value = 0;  // a fraction
};
std::vector<CardRow> card_rows(const Table& table, const std::string& column_id);

}  // namespace xmtf::report
