#include "report/results.hpp"

#include <cmath>

#include "core/error.hpp"

namespace xmtf::report {

Column& Inputs::column(const std::string& name, bool baseline, const std::string& source) {
  const std::string id = (baseline ? "baseline:" : "ours:") + name;
  for (Column& column : columns)
    if (column.id == id) return column;
  columns.push_back({id, name, baseline, std::nullopt, source});
  return columns.back();
}

const Column* Inputs::find_column_by_id(const std::string& id) const {
  for (const Column& column : columns)
    if (column.id == id) return &column;
  return nullptr;
}

double standard_error(double accuracy, std::int64_t n) {
  if (n < 2) fail("a standard error needs at least 2 examples (n = {})", n);
  return std::sqrt(accuracy * (1.0 - accuracy) / static_cast<double>(n - 1));
}

}  // namespace xmtf::report
