#include "report/svg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

namespace xmtf::report {

namespace {

constexpr std::array<const char*, 10> kPalette = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                                  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

// Plot area inside the document.
struct Frame {
  double width, height;               // the whole document
  double left, top, right, bottom;    // margins
  double plot_width() const { return width - left - right; }
  double plot_height() const { return height - top - bottom; }
};

std::string tick_text(double value) {
  if (value == 0) return "0";
  const double magnitude = std::fabs(value);
  if (magnitude >= 1e4) return si_label(value);
  if (magnitude < 1e-3) return fmt::format("{:.2g}", value);
  std::string text = fmt::format("{:.4f}", value);
  while (text.back() == '0') text.pop_back();
  if (text.back() == '.') text.pop_back();
  return text;
}

std::string header(const Frame& f, const std::string& title) {
  return fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "role=\"img\" font-family=\"DejaVu Sans, Verdana, Arial, sans-serif\" font-size=\"12\">\n"
      "<title>{2}</title>\n"
      "<rect x=\"0\" y=\"0\" width=\"{0}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
      "<text x=\"{3}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{2}</text>\n",
      f.width, f.height, xml_escape(title), f.width / 2);
}

std::string y_axis(const Frame& f, const std::vector<double>& ticks, double low, double high, const std::string& label) {
  std::string out;
  for (double t : ticks) {
    const double y = f.top + f.plot_height() * (1 - (t - low) / (high - low));
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#dddddd\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        f.left, y, f.left + f.plot_width(), f.left - 6, y + 4, tick_text(t));
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333333\"/>\n", f.left, f.top,
                     f.top + f.plot_height());
  out += fmt::format("<text x=\"16\" y=\"{0:.1f}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {0:.1f})\">{1}</text>\n",
                     f.top + f.plot_height() / 2, xml_escape(label));
  return out;
}

// Legend entries in rows below the plot; returns the SVG and the height it takes.
std::pair<std::string, double> legend(const std::vector<std::string>& names, const std::vector<bool>& dashed,
                                      const std::vector<std::size_t>& colours, double width, double y0) {
  std::string out;
  double x = 20, y = y0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const double entry_width = 40 + 7.6 * static_cast<double>(names[i].size());
    if (x + entry_width > width - 10 && x > 20) {
      x = 20;
      y += 18;
    }
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"{3}\" stroke-width=\"6\"{4}/>"
        "<text x=\"{5:.1f}\" y=\"{6:.1f}\">{7}</text>\n",
        x, y, x + 20, series_colour(colours[i]), dashed[i] ? " stroke-dasharray=\"4 2\"" : "", x + 26, y + 4, xml_escape(names[i]));
    x += entry_width;
  }
  return {out, y - y0 + 18};
}

double legend_height(const std::vector<std::string>& names, double width) {
  double x = 20, rows = 1;
  for (const std::string& name : names) {
    const double entry_width = 40 + 7.6 * static_cast<double>(name.size());
    if (x + entry_width > width - 10 && x > 20) {
      x = 20;
      ++rows;
    }
    x += entry_width;
  }
  return rows * 18;
}

std::pair<double, double> padded(double low, double high) {
  if (!(high > low)) {
    const double pad = low == 0 ? 1 : std::fabs(low) * 0.1;
    return {low - pad, high + pad};
  }
  const double pad = (high - low) * 0.05;
  return {low - pad, high + pad};
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string series_colour(std::size_t i) {
  if (i < kPalette.size()) return kPalette[i];
  // Past ten series: hues spread by the golden angle, alternating lightness.
  const double hue = std::fmod(static_cast<double>(i) * 137.508, 360.0);
  return fmt::format("hsl({:.0f},{}%,{}%)", hue, 55 + 15 * static_cast<int>(i % 2), 38 + 14 * static_cast<int>((i / 2) % 2));
}

std::vector<double> nice_ticks(double low, double high, int target) {
  if (!(high > low)) return {low};
  const double raw = (high - low) / std::max(1, target);
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * power >= raw) {
      step = m * power;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(low / step - 1e-9) * step; t <= high + step * 1e-9; t += step)
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

std::vector<double> log_ticks(double low, double high) {
  std::vector<double> ticks;
  for (double p = std::floor(std::log10(low)); p <= std::ceil(std::log10(high)); ++p) {
    const double t = std::pow(10.0, p);
    if (t >= low * (1 - 1e-9) && t <= high * (1 + 1e-9)) ticks.push_back(t);
  }
  return ticks;
}

std::string si_label(double value) {
  struct Unit {
    double scale;
    const char* suffix;
  };
  for (const Unit& unit : {Unit{1e12, "T"}, Unit{1e9, "B"}, Unit{1e6, "M"}, Unit{1e3, "K"}})
    if (std::fabs(value) >= unit.scale) {
      const double scaled = value / unit.scale;
      return (scaled >= 100 ? fmt::format("{:.0f}", scaled) : fmt::format("{:.3g}", scaled)) + unit.suffix;
    }
  return fmt::format("{:.3g}", value);
}

std::string line_chart_svg(const LineChart& chart) {
  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low, y_low = x_low, y_high = -x_low;
  std::vector<std::string> names;
  std::vector<bool> dashed;
  std::vector<std::size_t> colours;
  for (const Series& s : chart.series) {
    names.push_back(s.name);
    dashed.push_back(s.dashed);
    colours.push_back(s.colour >= 0 ? static_cast<std::size_t>(s.colour) : colours.size());
    for (auto [x, y] : s.points) {
      if (chart.log_x && !(x > 0)) continue;
      x_low = std::min(x_low, x), x_high = std::max(x_high, x);
      y_low = std::min(y_low, y), y_high = std::max(y_high, y);
    }
  }
  const bool empty = !(x_high >= x_low);
  if (empty) x_low = chart.log_x ? 1 : 0, x_high = chart.log_x ? 10 : 1, y_low = 0, y_high = 1;
  Frame f{760, 0, 70, 36, 24, 0};
  f.bottom = 50 + legend_height(names, f.width);
  f.height = 300 + f.top + f.bottom;

  auto [ylo, yhi] = padded(y_low, y_high);
  const auto y_ticks = nice_ticks(ylo, yhi);
  double xlo, xhi;
  if (chart.log_x) {
    xlo = std::pow(10.0, std::floor(std::log10(x_low)));
    xhi = std::pow(10.0, std::ceil(std::log10(x_high)));
    if (xhi <= xlo) xhi = xlo * 10;
  } else {
    std::tie(xlo, xhi) = padded(x_low, x_high);
  }
  auto x_pos = [&](double x) {
    const double t = chart.log_x ? (std::log10(x) - std::log10(xlo)) / (std::log10(xhi) - std::log10(xlo))
                                 : (x - xlo) / (xhi - xlo);
    return f.left + t * f.plot_width();
  };
  auto y_pos = [&](double y) { return f.top + f.plot_height() * (1 - (y - ylo) / (yhi - ylo)); };

  std::string out = header(f, chart.title);
  out += y_axis(f, y_ticks, ylo, yhi, chart.y_label);
  const double axis_y = f.top + f.plot_height();
  out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333333\"/>\n", f.left, axis_y,
                     f.left + f.plot_width());
  const auto x_ticks = chart.log_x ? log_ticks(xlo, xhi) : nice_ticks(xlo, xhi, 6);
  for (double t : x_ticks) {
    const double x = x_pos(t);
    out += fmt::format(
        "<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" stroke=\"#333333\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        x, axis_y, axis_y + 5, axis_y + 18, chart.log_x ? si_label(t) : tick_text(t));
  }
  out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n", f.left + f.plot_width() / 2,
                     axis_y + 36, xml_escape(chart.x_label));
  if (empty)
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" fill=\"#888888\">no data</text>\n",
                       f.left + f.plot_width() / 2, f.top + f.plot_height() / 2);
  for (std::size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    std::string points;
    for (auto [x, y] : s.points)
      if (!chart.log_x || x > 0) points += fmt::format("{:.1f},{:.1f} ", x_pos(x), y_pos(y));
    if (points.empty()) continue;
    out += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}><title>{}</title></polyline>\n",
                       points, series_colour(colours[i]), s.dashed ? " stroke-dasharray=\"6 3\"" : "", xml_escape(s.name));
    // Markers where a series has few points (scale plots, validation losses).
    if (s.points.size() <= 40)
      for (auto [x, y] : s.points)
        if (!chart.log_x || x > 0)
          out += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3.5\" fill=\"{}\"><title>{}: {} at {}</title></circle>\n",
                             x_pos(x), y_pos(y), series_colour(colours[i]), xml_escape(s.name), tick_text(y),
                             chart.log_x ? si_label(x) : tick_text(x));
  }
  out += legend(names, dashed, colours, f.width, f.height - f.bottom + 56).first;
  out += "</svg>\n";
  return out;
}

std::string bar_chart_svg(const BarChart& chart) {
  const std::size_t n_series = chart.series.size(), n_groups = chart.categories.size();
  // Groups share the plot width (at least 560 px for the figure); bars fill their group up to
  // 28 px each, and the figure grows rather than drawing them thinner than 6 px.
  const double gap = 14, series_count = static_cast<double>(std::max<std::size_t>(n_series, 1));
  const double groups = static_cast<double>(std::max<std::size_t>(n_groups, 1));
  Frame f{0, 0, 70, 36, 20, 0};
  const double plot_width = std::max(560.0 - f.left - f.right, groups * (6.0 * series_count + gap));
  f.width = f.left + f.right + plot_width;
  const double group_width = plot_width / groups;
  const double bar = std::min(28.0, (group_width - gap) / series_count);
  f.bottom = 56 + legend_height(chart.series, f.width);
  f.height = 300 + f.top + f.bottom;

  double low = 0, high = 0;
  bool any = false;
  for (const auto& row : chart.values)
    for (const auto& v : row)
      if (v) low = std::min(low, *v), high = std::max(high, *v), any = true;
  if (!any) high = 1;
  low = chart.y_min.value_or(low);
  high = chart.y_max.value_or(high + (high - low) * 0.05);
  const auto ticks = nice_ticks(low, high);
  auto y_pos = [&](double y) { return f.top + f.plot_height() * (1 - (std::clamp(y, low, high) - low) / (high - low)); };

  std::string out = header(f, chart.title);
  out += y_axis(f, ticks, low, high, chart.y_label);
  const double axis_y = y_pos(std::max(low, 0.0));
  for (std::size_t g = 0; g < n_groups; ++g) {
    const double x0 = f.left + (group_width - bar * series_count) / 2 + group_width * static_cast<double>(g);
    for (std::size_t s = 0; s < n_series; ++s) {
      const double x = x0 + bar * static_cast<double>(s);
      const auto& value = chart.values[s][g];
      if (!value) {  // missing: marked, never drawn as 0
        out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\" font-size=\"9\" fill=\"#999999\">"
                           "\u00d7<title>{} {}: missing</title></text>\n",
                           x + bar / 2, axis_y - 3, xml_escape(chart.series[s]), xml_escape(chart.categories[g]));
        continue;
      }
      const double top = y_pos(std::max(*value, 0.0)), bottom = y_pos(std::min(*value, 0.0));
      out += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\">"
                         "<title>{} {}: {}</title></rect>\n",
                         x, top, bar - 1, std::max(bottom - top, 0.5), series_colour(s), xml_escape(chart.series[s]),
                         xml_escape(chart.categories[g]), tick_text(*value));
    }
    out += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n",
                       x0 + bar * series_count / 2, f.top + f.plot_height() + 18, xml_escape(chart.categories[g]));
  }
  out += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2:.1f}\" y2=\"{1:.1f}\" stroke=\"#333333\"/>\n", f.left, axis_y,
                     f.left + plot_width);
  std::vector<std::size_t> colours(n_series);
  for (std::size_t i = 0; i < n_series; ++i) colours[i] = i;
  out += legend(chart.series, std::vector<bool>(n_series, false), colours, f.width, f.height - f.bottom + 40).first;
  out += "</svg>\n";
  return out;
}

}  // namespace xmtf::report
