// xmtf-aggregate: results tables and plots from xmtf-eval result files and training metrics,
// side by side with published baselines (the paper's table, t-zero, BigScience, HumanEval,
// lm-evaluation-harness). See docs/report.md.
#include <iostream>

#include "core/cli.hpp"
#include "core/log.hpp"
#include "report/aggregate.hpp"

int main(int argc, char** argv) {
  using namespace xmtf;
  CLI::App app{"Aggregate eval results into report.md, report.csv, report.tex (booktabs), report.html (self-contained,\n"
               "plots inlined) and SVG plots in --output, and print the main table. Cells: median and max accuracy over\n"
               "prompts per dataset / config / split / prompt language, HumanEval pass@k; a missing cell stays missing.\n"
               "Malformed or partial inputs are reported by path and skipped.",
               "xmtf-aggregate"};
  report::AggregateOptions options;
  app.add_option("--input", options.inputs,
                 "xmtf-eval result files (<dataset>.<config>.<split>.<template>.json), training metrics.jsonl, or folders "
                 "of them (walked recursively)")
      ->required()
      ->check(CLI::ExistingPath);
  app.add_option("--baseline", options.baselines,
                 "published results as extra columns: the paper's table (TSV), t-zero results.json, BigScience "
                 "bslmeval.json, HumanEval pass@k JSON, lm-evaluation-harness results JSON, or folders of them; "
                 "NAME=PATH names the column of files that carry no model name (default: their folder's name)");
  app.add_option("--output", options.output_dir, "folder for the report files (created)")->required();
  app.add_option("--title", options.title, "report title")->default_val(options.title);
  app.add_option("--compare-to", options.compare_to,
                 "baseline column to show differences to (default: the only baseline column, when there is one)");
  add_logging_options(app);

  return run_main(app, argc, argv, [&]() -> int {
    try {
      const auto outcome = report::aggregate(options);
      std::cout << report::terminal_table(outcome.report) << std::flush;
      if (!std::cout) fail("stdout: write error");
      log::info("{}: {} files written, {} unchanged{}{}", options.output_dir.string(), outcome.written.size(),
                outcome.unchanged.size(),
                outcome.removed.empty() ? "" : fmt::format(", {} stale plots removed", outcome.removed.size()),
                outcome.report.problems.empty() ? ""
                                                : fmt::format("; {} inputs skipped or partly read (see report.md)",
                                                              outcome.report.problems.size()));
      return 0;
    } catch (const report::UsageError& e) {
      log::error("{}", e.what());
      return 2;
    }
  });
}
