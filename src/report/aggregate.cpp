#include "report/aggregate.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "core/text.hpp"
#include "report/readers.hpp"

namespace xmtf::report {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string resolve_compare_to(const Table& table, const std::string& requested) {
  const auto baselines = table.baselines();
  if (requested.empty()) return baselines.size() == 1 ? baselines[0]->id : std::string();
  std::vector<std::string> names;
  for (const Column* c : baselines) {
    if (lower(c->name) == lower(requested)) return c->id;
    names.push_back(c->name);
  }
  for (const Column* c : table.ours())
    if (lower(c->name) == lower(requested)) throw UsageError(fmt::format("--compare-to {}: that is one of our models, not a baseline column", requested));
  if (auto close = closest_match(requested, names))
    throw UsageError(fmt::format("--compare-to {}: no such baseline column; did you mean '{}'?", requested, *close));
  throw UsageError(fmt::format("--compare-to {}: no such baseline column (columns: {})", requested,
                               names.empty() ? std::string("none, no --baseline given") : join(names, ", ")));
}

// Writes contents unless the file already holds exactly them.
bool write_if_changed(const fs::path& path, const std::string& contents) {
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) == contents.size() && read_file(path) == contents) return false;
  write_file_atomic(path, contents);
  return true;
}

// Plots of an earlier run that this one no longer draws (a dataset gone from the inputs).
bool is_report_plot(const fs::path& path) {
  const std::string name = path.filename().string();
  return path.extension() == ".svg" &&
         (name.starts_with("accuracy_") || name.starts_with("scale_") || name.starts_with("training_"));
}

}  // namespace

Report make_report(Inputs inputs, const std::string& title, const std::string& compare_to) {
  finish_names(inputs);
  Report report;
  report.title = title;
  report.problems = inputs.problems;
  report.table = build_table(inputs, report.problems);
  for (std::size_t i = inputs.problems.size(); i < report.problems.size(); ++i)
    log::warn("{}: {}; skipped", report.problems[i].path, report.problems[i].reason);
  report.compare_to_id = resolve_compare_to(report.table, compare_to);
  report.averages = average_rows(report.table);
  report.files_read = inputs.files_read;
  report.notes = inputs.notes;
  report.training_runs = inputs.training_runs;
  for (auto&& part : {language_plots(report.table, report.compare_to_id), scale_plots(report.table, report.averages),
                      training_plots(report.training_runs)})
    report.plots.insert(report.plots.end(), part.begin(), part.end());
  return report;
}

AggregateOutcome aggregate(const AggregateOptions& options) {
  Inputs inputs;
  ReadSettings settings{options.output_dir};
  Progress progress("read", options.inputs.size() + options.baselines.size());
  for (const fs::path& input : options.inputs) {
    read_input(input, inputs, settings);
    progress.add(1);
  }
  for (const std::string& baseline : options.baselines) {
    read_baseline(baseline, inputs);
    progress.add(1);
  }
  progress.finish();

  AggregateOutcome outcome;
  outcome.report = make_report(std::move(inputs), options.title, options.compare_to);
  const Report& report = outcome.report;
  if (report.table.rows.empty() && report.training_runs.empty())
    fail("no results in the inputs ({} problems, listed above): nothing to report", report.problems.size());

  fs::create_directories(options.output_dir);
  std::vector<std::pair<std::string, std::string>> files = {
      {"report.md", markdown_report(report)}, {"report.csv", csv_report(report)},
      {"report.tex", latex_report(report)},   {"report.html", html_report(report)}};
  if (!report.table.ours().empty()) files.emplace_back("model_card.tsv", model_card_tsv(report));
  std::set<std::string> produced;
  for (const Plot& plot : report.plots) files.emplace_back(plot.file_name, plot.svg);
  for (const auto& [name, contents] : files) {
    produced.insert(name);
    const fs::path path = options.output_dir / name;
    (write_if_changed(path, contents) ? outcome.written : outcome.unchanged).push_back(path);
  }
  for (const auto& entry : fs::directory_iterator(options.output_dir))
    if (entry.is_regular_file() && is_report_plot(entry.path()) && !produced.count(entry.path().filename().string())) {
      fs::remove(entry.path());
      outcome.removed.push_back(entry.path());
    }
  if (!outcome.removed.empty()) fsync_directory(options.output_dir);
  return outcome;
}

}  // namespace xmtf::report
