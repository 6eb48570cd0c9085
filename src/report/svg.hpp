#pragma once
// Plots as standalone SVG 1.1 documents, written directly (no plotting library, nothing at run
// time): line charts (linear or log x) and grouped bar charts, with axes, "nice" ticks, a
// legend and a title. The same text is written as a .svg file and inlined into report.html.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace xmtf::report {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in the given order
  bool dashed = false;
  int colour = -1;  // palette index; -1: the series' position
};

struct LineChart {
  std::string title, x_label, y_label;
  bool log_x = false;
  std::vector<Series> series;
};

struct BarChart {
  std::string title, y_label;
  std::vector<std::string> categories;              // groups along x (languages)
  std::vector<std::string> series;                  // bars within a group (models)
  std::vector<std::vector<std::optional<double>>> values;  // [series][category]; nullopt: missing
  std::optional<double> y_min, y_max;               // default: from the data (0 included)
};

std::string line_chart_svg(const LineChart& chart);
std::string bar_chart_svg(const BarChart& chart);

// "&<>\"'" as XML entities (text and attribute values).
std::string xml_escape(std::string_view text);
// The colour of series i (Tableau 10, then repeated).
std::string series_colour(std::size_t i);

// Axis ticks: about `target` round values (1, 2, 2.5 or 5 times a power of ten) covering
// [low, high]; log ticks are the powers of ten within it.
std::vector<double> nice_ticks(double low, double high, int target = 5);
std::vector<double> log_ticks(double low, double high);
// 1.2e9 -> "1.2B", 560e6 -> "560M", 116864 -> "117K": parameter counts on the scale plot.
std::string si_label(double value);

}  // namespace xmtf::report
