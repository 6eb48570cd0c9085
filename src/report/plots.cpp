#include "report/plots.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/text.hpp"
#include "report/datasets.hpp"
#include "report/svg.hpp"

namespace xmtf::report {

namespace {

constexpr std::size_t kMaxBarsPerGroup = 8;

// The (dataset, split) pairs whose configs are languages, with their configs.
struct DatasetSplit {
  std::string task, dataset, split;
  auto operator<=>(const DatasetSplit&) const = default;
};

std::vector<const Column*> plotted_columns(const Table& table, const std::string& compare_to_id) {
  const auto ours = table.ours();
  if (ours.empty() || table.columns.size() <= kMaxBarsPerGroup) {
    std::vector<const Column*> all;
    for (const Column& c : table.columns) all.push_back(&c);
    return all;
  }
  std::vector<const Column*> chosen = ours;
  if (const Column* base = table.find(compare_to_id)) chosen.push_back(base);
  return chosen;
}

// Each series keeps one colour across the figures: its position among all the table's series
// (baseline families in column order, then ours).
std::map<std::string, int> series_colours(const Table& table) {
  std::map<std::string, int> colours;
  auto add = [&](const std::string& name) { colours.emplace(name, static_cast<int>(colours.size())); };
  for (const Column& column : table.columns)
    if (column.baseline) add(family_from_name(column.name));
  for (const Column& column : table.columns)
    if (!column.baseline) add(column.name + " (ours)");
  return colours;
}

std::string file_safe(std::string text) {
  for (char& c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return text;
}

}  // namespace

std::vector<Plot> language_plots(const Table& table, const std::string& compare_to_id) {
  const auto columns = plotted_columns(table, compare_to_id);
  const bool have_ours = !table.ours().empty();
  // configs per (dataset, split, prompt), Median acc. rows only
  std::map<std::tuple<std::string, std::string, std::string, std::string>, std::set<std::string>> groups;
  for (const auto& [row, cells] : table.rows) {
    if (row.metric != "Median acc." || !config_language(row.dataset, row.config)) continue;
    groups[{row.task, row.dataset, row.split, row.prompt}].insert(row.config);
  }
  std::vector<Plot> plots;
  for (const auto& [key, configs] : groups) {
    const auto& [task, dataset, split, prompt] = key;
    if (configs.size() < 2 || !configs_are_languages(dataset, {configs.begin(), configs.end()})) continue;
    BarChart chart;
    chart.title = fmt::format("{} ({}), {} prompts: median accuracy", dataset, split, prompt);
    chart.y_label = "accuracy (%)";
    // The languages some drawn column has.
    for (const std::string& config : configs)
      if (std::any_of(columns.begin(), columns.end(), [&](const Column* column) {
            return table.cell({task, dataset, config, split, prompt, "Median acc."}, column->id) != nullptr;
          }))
        chart.categories.push_back(config);
    bool ours_present = false, any = false;
    for (const Column* column : columns) {
      std::vector<std::optional<double>> values;
      bool column_any = false;
      for (const std::string& config : chart.categories) {
        const Cell* cell = table.cell({task, dataset, config, split, prompt, "Median acc."}, column->id);
        values.push_back(cell ? std::optional<double>(cell->value * 100) : std::nullopt);
        column_any |= cell != nullptr;
      }
      if (!column_any) continue;
      any = true;
      ours_present |= !column->baseline;
      chart.series.push_back(column->name);
      chart.values.push_back(std::move(values));
    }
    // With models of ours: the datasets and prompt languages they were evaluated on.
    if (!any || (have_ours && !ours_present)) continue;
    chart.y_min = 0;
    chart.y_max = 100;
    std::string caption = fmt::format("Median accuracy over prompts per language ({} prompts); × marks a missing value.",
                                      prompt == "-" ? "no" : prompt);
    if (columns.size() < table.columns.size())
      caption += fmt::format(" {} baseline columns not drawn (see the tables).", table.columns.size() - columns.size());
    plots.push_back({file_safe(fmt::format("accuracy_{}_{}_{}.svg", dataset, split, prompt == "-" ? "noprompt" : prompt)),
                     chart.title, caption, bar_chart_svg(chart)});
  }
  return plots;
}

std::vector<Plot> scale_plots(const Table& table, const std::vector<AverageRow>& averages) {
  // Per dataset / split: column -> value (fraction), from the average over languages, or the
  // one row of a single-config dataset.
  std::map<DatasetSplit, std::pair<std::map<std::string, double>, std::string>> values;
  for (const AverageRow& average : averages)
    if (average.group == "all" && average.prompt == "EN" && average.metric == "Median acc.")
      values[{average.task, average.dataset, average.split}] = {
          average.values, fmt::format("averaged over {} ({})", average.configs.size(), join(average.configs, ", "))};
  std::map<DatasetSplit, std::vector<const RowKey*>> single;
  for (const auto& [row, cells] : table.rows)
    if (row.prompt == "EN" && row.metric == "Median acc.") single[{row.task, row.dataset, row.split}].push_back(&row);
  for (const auto& [key, rows] : single)
    if (rows.size() == 1 && !values.count(key)) {
      std::map<std::string, double> column_values;
      for (const auto& [column, cell] : table.rows.at(*rows[0])) column_values[column] = cell.value;
      values[{key.task, key.dataset + (rows[0]->config == "None" ? "" : "/" + rows[0]->config), key.split}] = {
          column_values, "config " + rows[0]->config};
    }

  const auto colours = series_colours(table);
  std::vector<Plot> plots;
  for (const auto& [key, entry] : values) {
    const auto& [column_values, configs_note] = entry;
    std::map<std::string, Series> families;  // baselines by family; ours one series each
    std::vector<std::string> unknown_size;
    std::vector<std::string> order;
    for (const Column& column : table.columns) {
      auto it = column_values.find(column.id);
      if (it == column_values.end()) continue;
      if (!column.parameters) {
        unknown_size.push_back(column.name);
        continue;
      }
      const std::string series = column.baseline ? family_from_name(column.name) : column.name + " (ours)";
      if (!families.count(series)) order.push_back(series);
      families[series].name = series;
      families[series].colour = colours.at(series);
      families[series].points.emplace_back(*column.parameters, it->second * 100);
    }
    std::size_t points = 0;
    LineChart chart;
    chart.title = fmt::format("{} ({}): accuracy against model size", key.dataset, key.split);
    chart.x_label = "parameters";
    chart.y_label = "median accuracy over prompts (%)";
    chart.log_x = true;
    for (const std::string& name : order) {
      Series s = families[name];
      std::sort(s.points.begin(), s.points.end());
      points += s.points.size();
      chart.series.push_back(std::move(s));
    }
    if (points < 2) continue;
    std::string caption = fmt::format("English prompts, median over prompts, {}.", configs_note);
    if (!unknown_size.empty()) caption += " Size unknown, not drawn: " + join(unknown_size, ", ") + ".";
    plots.push_back({file_safe(fmt::format("scale_{}_{}.svg", key.dataset, key.split)), chart.title, caption,
                     line_chart_svg(chart)});
  }
  return plots;
}

std::vector<Plot> training_plots(const std::vector<TrainingRun>& runs) {
  if (runs.empty()) return {};
  LineChart loss{"Training loss", "step", "loss", false, {}};
  LineChart lr{"Learning rate", "step", "learning rate", false, {}};
  LineChart speed{"Throughput", "step", "tokens/s", false, {}};
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const TrainingRun& run = runs[r];
    const int colour = static_cast<int>(r);  // a run's curves share its colour
    Series train{run.name + " loss", {}, false, colour}, valid{run.name + " valid loss", {}, true, colour};
    Series rate{run.name, {}, false, colour}, tokens{run.name, {}, false, colour};
    for (const TrainingStep& step : run.steps) {
      const double x = static_cast<double>(step.step);
      if (step.loss) train.points.emplace_back(x, *step.loss);
      if (step.lr) rate.points.emplace_back(x, *step.lr);
      if (step.tokens_per_s) tokens.points.emplace_back(x, *step.tokens_per_s);
    }
    for (auto [step, value] : run.valid_loss) valid.points.emplace_back(static_cast<double>(step), value);
    if (!train.points.empty()) loss.series.push_back(std::move(train));
    if (!valid.points.empty()) loss.series.push_back(std::move(valid));
    if (!rate.points.empty()) lr.series.push_back(std::move(rate));
    if (!tokens.points.empty()) speed.series.push_back(std::move(tokens));
  }
  std::vector<Plot> plots;
  const std::string runs_note = fmt::format("{} run(s) from metrics.jsonl.", runs.size());
  if (!loss.series.empty())
    plots.push_back({"training_loss.svg", loss.title, "Training loss per step (solid) and validation loss (dashed); " + runs_note,
                     line_chart_svg(loss)});
  if (!lr.series.empty())
    plots.push_back({"training_lr.svg", lr.title, "Learning rate per step; " + runs_note, line_chart_svg(lr)});
  if (!speed.series.empty())
    plots.push_back({"training_tokens_per_s.svg", speed.title, "Training tokens per second per step; " + runs_note,
                     line_chart_svg(speed)});
  return plots;
}

}  // namespace xmtf::report
