#pragma once
// xmtf-aggregate's work: read the inputs and baselines, build the table, averages and plots,
// write the report files into the output folder. Files whose content is unchanged are left
// untouched (a rerun on the same inputs rewrites nothing); every write is atomic.
#include <string>
#include <vector>

#include "core/error.hpp"
#include "report/render.hpp"

namespace xmtf::report {

struct AggregateOptions {
  std::vector<fs::path> inputs;
  std::vector<std::string> baselines;  // [NAME=]PATH
  fs::path output_dir;
  std::string title = "xmtf results";
  // The baseline column to show differences to; empty: the only baseline column when there is
  // exactly one, else none.
  std::string compare_to;
};

// A bad option found only once the inputs are read (an unknown --compare-to column): exit 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

struct AggregateOutcome {
  Report report;
  std::vector<fs::path> written, unchanged, removed;
};

// Throws Error when no input gave a single value (nothing to report), UsageError as above.
AggregateOutcome aggregate(const AggregateOptions& options);

// Builds the report from what was read (no file I/O): table, averages, comparison, plots.
Report make_report(Inputs inputs, const std::string& title, const std::string& compare_to);

}  // namespace xmtf::report
