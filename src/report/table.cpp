#include "report/table.hpp"

#include <algorithm>
#include <set>
#include <tuple>

#include "core/log.hpp"
#include "report/datasets.hpp"

namespace xmtf::report {

namespace {

int prompt_rank(const std::string& prompt) {
  if (prompt == "EN") return 0;
  if (prompt == "HT") return 1;
  if (prompt == "MT") return 2;
  return 3;
}

// (group, k): medians, then maxima, then single accuracies, then pass@k by k, then the rest.
std::pair<int, long> metric_rank(const std::string& metric) {
  if (metric == "Median acc.") return {0, 0};
  if (metric == "Max acc.") return {1, 0};
  if (metric == "Acc.") return {2, 0};
  if (metric.starts_with("Pass@")) return {3, std::strtol(metric.c_str() + 5, nullptr, 10)};
  return {4, 0};
}

std::string pass_at_k_metric(int k) { return "Pass@" + std::to_string(k); }

RowKey row_of(const EvalSetting& s, std::string metric) {
  return {task_of(s.dataset, s.config), s.dataset, s.config, s.split, s.prompt_language, std::move(metric)};
}

struct PromptGroupKey {
  std::string column;
  EvalSetting setting;
  auto operator<=>(const PromptGroupKey&) const = default;
};

// Medians and maxima of the prompts of each (column, setting); one entry per template.
void add_prompt_cells(const Inputs& inputs, Table& table, std::vector<Problem>& problems) {
  std::map<PromptGroupKey, std::map<std::string, const PromptAccuracy*>> groups;
  for (const PromptAccuracy& entry : inputs.prompt_accuracies) {
    auto& templates = groups[{entry.column, entry.setting}];
    auto [it, inserted] = templates.emplace(entry.template_name, &entry);
    if (!inserted)
      problems.push_back({entry.source, fmt::format("template \"{}\" of {} {}/{}/{} {} already read from {}",
                                                    entry.template_name, inputs.find_column_by_id(entry.column)->name,
                                                    entry.setting.dataset, entry.setting.config, entry.setting.split,
                                                    entry.setting.prompt_language, it->second->source)});
  }
  for (const auto& [key, templates] : groups) {
    std::vector<double> values;
    std::set<std::int64_t> counts;
    bool all_counted = true;
    const PromptAccuracy* best = nullptr;
    for (const auto& [name, entry] : templates) {
      values.push_back(entry->accuracy);
      if (entry->n)
        counts.insert(*entry->n);
      else
        all_counted = false;
      if (!best || entry->accuracy > best->accuracy) best = entry;
    }
    const int prompts = static_cast<int>(values.size());
    Cell median_cell{median(values), std::nullopt, std::nullopt, prompts};
    // One n for every prompt (the usual case): the median's standard error follows from it.
    if (all_counted && counts.size() == 1 && *counts.begin() >= 2) {
      median_cell.n = *counts.begin();
      median_cell.standard_error = standard_error(median_cell.value, *median_cell.n);
    }
    Cell max_cell{best->accuracy, std::nullopt, best->n, prompts};
    if (best->n && *best->n >= 2) max_cell.standard_error = standard_error(best->accuracy, *best->n);
    table.rows[row_of(key.setting, "Median acc.")][key.column] = median_cell;
    table.rows[row_of(key.setting, "Max acc.")][key.column] = max_cell;
  }
}

// The best temperature per k, as the paper reports HumanEval.
void add_pass_at_k_cells(const Inputs& inputs, Table& table) {
  for (const PassAtK& entry : inputs.pass_at_k) {
    auto& cells = table.rows[row_of(entry.setting, pass_at_k_metric(entry.k))];
    auto it = cells.find(entry.column);
    if (it == cells.end())
      cells[entry.column] = Cell{entry.value, std::nullopt, std::nullopt, 1};
    else {
      it->second.value = std::max(it->second.value, entry.value);
      ++it->second.prompts;
    }
  }
}

// A published value for a cell that another input filled already (the same model named in two
// files) is a conflict: the first value stays, the second is reported.
void add_published_cells(const Inputs& inputs, Table& table, std::vector<Problem>& problems) {
  std::map<std::pair<RowKey, std::string>, std::string> filled_by;
  for (const auto& [row, cells] : table.rows)
    for (const auto& [column, cell] : cells) filled_by[{row, column}] = "another input of that column";
  for (const PublishedValue& entry : inputs.published) {
    RowKey row = row_of(entry.setting, entry.metric);
    auto [it, inserted] = filled_by.emplace(std::make_pair(row, entry.column), entry.source);
    if (!inserted) {
      problems.push_back({entry.source, fmt::format("{} {}/{}/{} {} {} already read from {}",
                                                    inputs.find_column_by_id(entry.column)->name, row.dataset,
                                                    row.config, row.split, row.prompt, row.metric, it->second)});
      continue;
    }
    Cell cell{entry.value, entry.standard_error, entry.n, 0};
    if (!cell.standard_error && cell.n && *cell.n >= 2) cell.standard_error = standard_error(cell.value, *cell.n);
    table.rows[row][entry.column] = cell;
  }
}

bool is_accuracy_metric(const std::string& metric) {
  return metric == "Median acc." || metric == "Max acc." || metric == "Acc.";
}

struct AverageKey {
  std::string task, dataset, split, prompt, metric;
  auto operator<=>(const AverageKey&) const = default;
};

std::optional<AverageRow> average_of(const Table& table, const AverageKey& key, const std::string& group,
                                     const std::set<std::string>& configs) {
  // The configs each column has, over the columns that have any.
  std::map<std::string, std::set<std::string>> have;
  for (const std::string& config : configs) {
    const auto row = table.rows.find({key.task, key.dataset, config, key.split, key.prompt, key.metric});
    if (row == table.rows.end()) continue;
    for (const auto& [column, cell] : row->second) have[column].insert(config);
  }
  if (have.empty()) return std::nullopt;
  std::set<std::string> common = configs;
  for (const auto& [column, present] : have) {
    std::set<std::string> both;
    std::set_intersection(common.begin(), common.end(), present.begin(), present.end(), std::inserter(both, both.end()));
    common = std::move(both);
  }
  if (common.size() < 2) return std::nullopt;
  AverageRow average{key.task, key.dataset, key.split, key.prompt, key.metric, group,
                     std::vector<std::string>(common.begin(), common.end()), {}};
  for (const auto& [column, present] : have) {
    double sum = 0;
    for (const std::string& config : common)
      sum += table.rows.at({key.task, key.dataset, config, key.split, key.prompt, key.metric}).at(column).value;
    average.values[column] = sum / static_cast<double>(common.size());
  }
  return average;
}

}  // namespace

bool operator<(const RowKey& a, const RowKey& b) {
  auto key = [](const RowKey& r) {
    return std::make_tuple(std::cref(r.task), std::cref(r.dataset), std::cref(r.config), std::cref(r.split),
                           prompt_rank(r.prompt), std::cref(r.prompt), metric_rank(r.metric), std::cref(r.metric));
  };
  return key(a) < key(b);
}

const Cell* Table::cell(const RowKey& row, const std::string& column_id) const {
  auto r = rows.find(row);
  if (r == rows.end()) return nullptr;
  auto c = r->second.find(column_id);
  return c == r->second.end() ? nullptr : &c->second;
}

std::vector<const Column*> Table::ours() const {
  std::vector<const Column*> out;
  for (const Column& column : columns)
    if (!column.baseline) out.push_back(&column);
  return out;
}

std::vector<const Column*> Table::baselines() const {
  std::vector<const Column*> out;
  for (const Column& column : columns)
    if (column.baseline) out.push_back(&column);
  return out;
}

const Column* Table::find(const std::string& column_id) const {
  for (const Column& column : columns)
    if (column.id == column_id) return &column;
  return nullptr;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 ? values[middle] : (values[middle - 1] + values[middle]) / 2.0;
}

Table build_table(const Inputs& inputs, std::vector<Problem>& problems) {
  Table table;
  for (const Column& column : inputs.columns)
    if (!column.baseline) table.columns.push_back(column);
  for (const Column& column : inputs.columns)
    if (column.baseline) table.columns.push_back(column);
  add_prompt_cells(inputs, table, problems);
  add_pass_at_k_cells(inputs, table);
  add_published_cells(inputs, table, problems);
  // Columns that ended up without a single value (a file with no usable entry) stay out.
  std::set<std::string> used;
  for (const auto& [row, cells] : table.rows)
    for (const auto& [column, cell] : cells) used.insert(column);
  std::erase_if(table.columns, [&](const Column& c) { return !used.count(c.id); });
  return table;
}

std::vector<AverageRow> average_rows(const Table& table) {
  std::map<AverageKey, std::set<std::string>> groups;
  for (const auto& [row, cells] : table.rows)
    if (is_accuracy_metric(row.metric))
      groups[{row.task, row.dataset, row.split, row.prompt, row.metric}].insert(row.config);
  std::vector<AverageRow> out;
  for (const auto& [key, configs] : groups) {
    if (configs.size() < 2 || !configs_are_languages(key.dataset, {configs.begin(), configs.end()})) continue;
    std::set<std::string> seen, unseen;
    for (const std::string& config : configs)
      (*seen_in_bloom_pretraining(key.dataset, config) ? seen : unseen).insert(config);
    for (const auto& [group, members] :
         {std::pair<std::string, const std::set<std::string>*>{"all", &configs}, {"seen", &seen}, {"unseen", &unseen}})
      if (auto average = average_of(table, key, group, *members)) out.push_back(std::move(*average));
  }
  return out;
}

std::optional<double> difference(const Table& table, const RowKey& row, const std::string& ours_id,
                                 const std::string& baseline_id) {
  const Cell* ours = table.cell(row, ours_id);
  const Cell* base = table.cell(row, baseline_id);
  if (!ours || !base) return std::nullopt;
  return ours->value - base->value;
}

std::vector<CardRow> card_rows(const Table& table, const std::string& column_id) {
  std::map<std::tuple<std::string, std::string, std::string, std::string>, double> accuracy;  // max over prompts
  std::vector<CardRow> out;
  for (const auto& [row, cells] : table.rows) {
    auto cell = cells.find(column_id);
    if (cell == cells.end()) continue;
    if (row.metric == "Max acc.") {
      auto key = std::make_tuple(row.task, row.dataset, row.config, row.split);
      auto [it, inserted] = accuracy.emplace(key, cell->second.value);
      if (!inserted) it->second = std::max(it->second, cell->second.value);
    } else if (row.metric.starts_with("Pass@")) {
      out.push_back({card_task_type(row.task), card_dataset_id(row.dataset), row.config, row.split, row.metric,
                     cell->second.value});
    }
  }
  for (const auto& [key, value] : accuracy) {
    const auto& [task, dataset, config, split] = key;
    out.push_back({card_task_type(task), card_dataset_id(dataset), config, split, "Accuracy", value});
  }
  std::sort(out.begin(), out.end(), [](const CardRow& a, const CardRow& b) {
    return std::tie(a.task_type, a.dataset, a.config, a.split, a.metric) <
           std::tie(b.task_type, b.dataset, b.config, b.split, b.metric);
  });
  return out;
}

}  // namespace xmtf::report
