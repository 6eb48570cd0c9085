#include "report/render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "core/text.hpp"
#include "report/svg.hpp"

namespace xmtf::report {

namespace {

// ---- shared structure: the columns each document shows

struct DiffColumn {
  const Column* ours;
  const Column* baseline;
  std::string name() const { return "\u0394 " + ours->name + " vs " + baseline->name; }
};

std::vector<DiffColumn> diff_columns(const Report& report) {
  std::vector<DiffColumn> out;
  const Column* base = report.table.find(report.compare_to_id);
  if (!base) return out;
  for (const Column* ours : report.table.ours()) out.push_back({ours, base});
  return out;
}

std::string signed_points(std::optional<double> difference) {
  if (!difference) return "-";
  return fmt::format("{:+.2f}", *difference * 100);
}

const std::vector<std::string> kKeyHeaders = {"Task", "Dataset", "Config", "Split", "Prompt", "Metric"};

std::vector<std::string> key_cells(const RowKey& row) {
  return {row.task, row.dataset, row.config, row.split, row.prompt, row.metric};
}

std::string average_config(const AverageRow& a) { return "avg-" + a.group; }

std::vector<std::string> average_key_cells(const AverageRow& a) {
  return {a.task, a.dataset, average_config(a), a.split, a.prompt, a.metric};
}

std::string average_value(const AverageRow& a, const std::string& column_id) {
  auto it = a.values.find(column_id);
  return it == a.values.end() ? "-" : fmt::format("{:.2f}", it->second * 100);
}

std::optional<double> average_difference(const AverageRow& a, const DiffColumn& d) {
  auto ours = a.values.find(d.ours->id), base = a.values.find(d.baseline->id);
  if (ours == a.values.end() || base == a.values.end()) return std::nullopt;
  return ours->second - base->second;
}

std::string with_error(const Cell* cell) {
  if (!cell) return "-";
  if (!cell->standard_error) return percent(cell);
  return fmt::format("{} ±{:.2f}", percent(cell), *cell->standard_error * 100);
}

// The paper's tasks first; the rest ("Other": tasks only the baselines' files hold) apart.
enum class RowGroup { paper, other };
RowGroup group_of(const RowKey& row) { return row.task == "Other" ? RowGroup::other : RowGroup::paper; }
bool has_rows(const Report& report, RowGroup group) {
  return std::any_of(report.table.rows.begin(), report.table.rows.end(),
                     [&](const auto& entry) { return group_of(entry.first) == group; });
}

std::size_t count_values(const Report& report) {
  std::size_t n = 0;
  for (const auto& [row, cells] : report.table.rows) n += cells.size();
  return n;
}

std::string summary_line(const Report& report) {
  return fmt::format("{} files read, {} columns ({} ours, {} baselines), {} rows, {} values, {} problems.",
                     report.files_read.size(), report.table.columns.size(), report.table.ours().size(),
                     report.table.baselines().size(), report.table.rows.size(), count_values(report),
                     report.problems.size());
}

// ---- CSV

std::string csv_field(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) line += (i ? "," : "") + csv_field(fields[i]);
  return line + "\n";
}

// ---- Markdown

std::string md_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

std::string md_row(const std::vector<std::string>& cells) {
  std::string line = "|";
  for (const auto& c : cells) line += " " + md_escape(c) + " |";
  return line + "\n";
}

// Left-aligned key columns, right-aligned values, then left-aligned text columns.
std::string md_rule(std::size_t keys, std::size_t values, std::size_t texts = 0) {
  std::string line = "|";
  for (std::size_t i = 0; i < keys; ++i) line += "---|";
  for (std::size_t i = 0; i < values; ++i) line += "---:|";
  for (std::size_t i = 0; i < texts; ++i) line += "---|";
  return line + "\n";
}

// ---- LaTeX

std::string tex_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '_': out += "\\_"; break;
      case '%': out += "\\%"; break;
      case '&': out += "\\&"; break;
      case '#': out += "\\#"; break;
      case '$': out += "\\$"; break;
      case '{': out += "\\{"; break;
      case '}': out += "\\}"; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      default: out += c;
    }
  }
  // UTF-8 Greek Delta as math (pdflatex has no glyph for it).
  std::string delta = "\u0394";
  for (std::size_t at; (at = out.find(delta)) != std::string::npos;) out.replace(at, delta.size(), "$\\Delta$");
  return out;
}

std::string tex_row(const std::vector<std::string>& cells) {
  std::string line;
  for (std::size_t i = 0; i < cells.size(); ++i) line += (i ? " & " : "") + tex_escape(cells[i]);
  return line + " \\\\\n";
}

// ---- HTML

std::string h(const std::string& text) { return xml_escape(text); }

const char* kStyle = R"(body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #d0d0d0;padding:2px 6px;white-space:nowrap}
th{background:#f0f0f0;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.missing{color:#aaa;text-align:center}
td.ours{background:#eef5ff}td.pos{color:#1a7f37}td.neg{color:#c62828}
.se{color:#888;font-size:10px}
figure{margin:16px 0}figcaption{font-size:12px;color:#555;max-width:760px}
.problems li{font-family:monospace;font-size:12px}
.scroll{overflow-x:auto}
)";

std::string html_value_cell(const Cell* cell, bool ours) {
  if (!cell) return "<td class=\"missing\">-</td>";
  std::string text = h(percent(cell));
  if (cell->standard_error) text += fmt::format(" <span class=\"se\">±{:.2f}</span>", *cell->standard_error * 100);
  return fmt::format("<td class=\"num{}\">{}</td>", ours ? " ours" : "", text);
}

std::string html_diff_cell(std::optional<double> difference) {
  if (!difference) return "<td class=\"missing\">-</td>";
  return fmt::format("<td class=\"num {}\">{}</td>", *difference >= 0 ? "pos" : "neg", signed_points(difference));
}

std::string row_id(const std::vector<std::string>& keys) { return h(join(keys, "|")); }

std::string html_results_table(const Report& report, RowGroup group, const char* id) {
  const auto diffs = diff_columns(report);
  std::string out = fmt::format("<div class=\"scroll\"><table id=\"{}\">\n<thead><tr>", id);
  for (const auto& k : kKeyHeaders) out += "<th>" + h(k) + "</th>";
  for (const Column& c : report.table.columns)
    out += fmt::format("<th data-column=\"{0}\" title=\"{1}\">{0}</th>", h(c.name), h(c.baseline ? "baseline: " + c.source : "ours: " + c.source));
  for (const auto& d : diffs) out += "<th>" + h(d.name()) + "</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& [row, cells] : report.table.rows) {
    if (group_of(row) != group) continue;
    out += fmt::format("<tr data-key=\"{}\">", row_id(key_cells(row)));
    for (const auto& k : key_cells(row)) out += "<td>" + h(k) + "</td>";
    for (const Column& c : report.table.columns) out += html_value_cell(report.table.cell(row, c.id), !c.baseline);
    for (const auto& d : diffs) out += html_diff_cell(difference(report.table, row, d.ours->id, d.baseline->id));
    out += "</tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

std::string html_averages_table(const Report& report) {
  const auto diffs = diff_columns(report);
  std::string out = "<div class=\"scroll\"><table id=\"averages-table\">\n<thead><tr>";
  for (const auto& k : kKeyHeaders) out += "<th>" + h(k) + "</th>";
  for (const Column& c : report.table.columns) out += "<th>" + h(c.name) + "</th>";
  for (const auto& d : diffs) out += "<th>" + h(d.name()) + "</th>";
  out += "<th>Configs averaged</th></tr></thead>\n<tbody>\n";
  for (const AverageRow& a : report.averages) {
    out += fmt::format("<tr data-key=\"{}\">", row_id(average_key_cells(a)));
    for (const auto& k : average_key_cells(a)) out += "<td>" + h(k) + "</td>";
    for (const Column& c : report.table.columns) {
      const std::string v = average_value(a, c.id);
      out += v == "-" ? "<td class=\"missing\">-</td>"
                      : fmt::format("<td class=\"num{}\">{}</td>", c.baseline ? "" : " ours", v);
    }
    for (const auto& d : diffs) out += html_diff_cell(average_difference(a, d));
    out += "<td>" + h(join(a.configs, ", ")) + "</td></tr>\n";
  }
  return out + "</tbody></table></div>\n";
}

std::string html_figures(const std::vector<Plot>& plots, const std::string& prefix) {
  std::string out;
  for (const Plot& plot : plots) {
    if (!plot.file_name.starts_with(prefix)) continue;
    out += fmt::format("<figure id=\"{}\">\n{}<figcaption>{} ({})</figcaption>\n</figure>\n", h(plot.file_name), plot.svg,
                       h(plot.caption), h(plot.file_name));
  }
  return out;
}

// ---- terminal

std::vector<const Column*> terminal_columns(const Report& report) {
  auto ours = report.table.ours();
  if (ours.empty()) {
    std::vector<const Column*> all;
    for (const Column& c : report.table.columns) all.push_back(&c);
    return all;
  }
  if (const Column* base = report.table.find(report.compare_to_id)) ours.push_back(base);
  return ours;
}

}  // namespace

std::string percent(const Cell* cell) { return cell ? fmt::format("{:.2f}", cell->value * 100) : "-"; }

std::string csv_report(const Report& report) {
  const auto diffs = diff_columns(report);
  std::vector<std::string> header = kKeyHeaders;
  for (const Column& c : report.table.columns) header.push_back(c.name);
  for (const Column& c : report.table.columns) header.push_back("SE " + c.name);
  for (const auto& d : diffs) header.push_back(d.name());
  header.push_back("Configs averaged");
  std::string out = csv_line(header);
  auto value4 = [](std::optional<double> v) { return v ? fmt::format("{:.4f}", *v * 100) : std::string(); };
  for (const auto& [row, cells] : report.table.rows) {
    auto fields = key_cells(row);
    for (const Column& c : report.table.columns) {
      const Cell* cell = report.table.cell(row, c.id);
      fields.push_back(value4(cell ? std::optional<double>(cell->value) : std::nullopt));
    }
    for (const Column& c : report.table.columns) {
      const Cell* cell = report.table.cell(row, c.id);
      fields.push_back(value4(cell ? cell->standard_error : std::nullopt));
    }
    for (const auto& d : diffs) fields.push_back(value4(difference(report.table, row, d.ours->id, d.baseline->id)));
    fields.push_back("");
    out += csv_line(fields);
  }
  for (const AverageRow& a : report.averages) {
    auto fields = average_key_cells(a);
    for (const Column& c : report.table.columns) {
      auto it = a.values.find(c.id);
      fields.push_back(value4(it == a.values.end() ? std::nullopt : std::optional<double>(it->second)));
    }
    for (std::size_t i = 0; i < report.table.columns.size(); ++i) fields.push_back("");
    for (const auto& d : diffs) fields.push_back(value4(average_difference(a, d)));
    fields.push_back(join(a.configs, ";"));
    out += csv_line(fields);
  }
  return out;
}

std::string markdown_report(const Report& report) {
  const auto diffs = diff_columns(report);
  std::string out = "# " + report.title + "\n\n" + summary_line(report) + "\n\n";
  out += "Median and max accuracy over prompts (%), HumanEval pass@k (%, best temperature per k); "
         "± is the standard error sqrt(p(1-p)/(n-1)) where the example count is known; - is missing.\n\n";
  out += "## Results\n\n";
  std::vector<std::string> header = kKeyHeaders;
  for (const Column& c : report.table.columns) header.push_back(c.name);
  for (const auto& d : diffs) header.push_back(d.name());
  auto results_table = [&](RowGroup group) {
    std::string text = md_row(header) + md_rule(kKeyHeaders.size(), header.size() - kKeyHeaders.size());
    for (const auto& [row, cells] : report.table.rows) {
      if (group_of(row) != group) continue;
      auto fields = key_cells(row);
      for (const Column& c : report.table.columns) fields.push_back(with_error(report.table.cell(row, c.id)));
      for (const auto& d : diffs) fields.push_back(signed_points(difference(report.table, row, d.ours->id, d.baseline->id)));
      text += md_row(fields);
    }
    return text;
  };
  out += results_table(RowGroup::paper);
  if (has_rows(report, RowGroup::other))
    out += "\n## Other tasks\n\nResults of the baselines' files on tasks outside the paper's evaluation.\n\n" +
           results_table(RowGroup::other);
  if (!report.averages.empty()) {
    out += "\n## Averages over languages\n\nEach column averages the same configs (those every column with a value "
           "has); seen / unseen: languages in BLOOM's pretraining corpus or not.\n\n";
    std::vector<std::string> avg_header = header;
    avg_header.push_back("Configs averaged");
    out += md_row(avg_header) + md_rule(kKeyHeaders.size(), avg_header.size() - kKeyHeaders.size() - 1, 1);
    for (const AverageRow& a : report.averages) {
      auto fields = average_key_cells(a);
      for (const Column& c : report.table.columns) fields.push_back(average_value(a, c.id));
      for (const auto& d : diffs) fields.push_back(signed_points(average_difference(a, d)));
      fields.push_back(join(a.configs, ", "));
      out += md_row(fields);
    }
  }
  if (!report.plots.empty()) {
    out += "\n## Plots\n\n";
    for (const Plot& plot : report.plots) out += fmt::format("![{}]({})\n\n{}\n\n", plot.title, plot.file_name, plot.caption);
  }
  if (!report.problems.empty()) {
    out += "\n## Inputs skipped or partly read\n\n";
    for (const Problem& p : report.problems) out += fmt::format("- `{}`: {}\n", p.path, p.reason);
  }
  if (!report.notes.empty()) {
    out += "\n## Notes on the inputs\n\n";
    for (const Problem& p : report.notes) out += fmt::format("- `{}`: {}\n", p.path, p.reason);
  }
  out += "\n## Inputs\n\n";
  for (const Column& c : report.table.columns)
    out += fmt::format("- {} ({}): {}\n", c.name, c.baseline ? "baseline" : "ours", c.source);
  for (const TrainingRun& run : report.training_runs)
    out += fmt::format("- training run {}: {} ({} steps)\n", run.name, run.source, run.steps.size());
  return out;
}

std::string latex_report(const Report& report) {
  const auto diffs = diff_columns(report);
  const std::size_t n_ours = report.table.ours().size(), n_base = report.table.baselines().size();
  const std::size_t n_values = report.table.columns.size() + diffs.size();
  std::string spec = "llllll|" + std::string(n_ours, 'r') + (n_ours && n_base ? "|" : "") + std::string(n_base, 'r') +
                     (diffs.empty() ? "" : "|" + std::string(diffs.size(), 'r'));
  std::string out = "% " + report.title + " -- written by xmtf-aggregate; needs \\usepackage{booktabs,longtable}\n";
  out += "\\begin{longtable}{" + spec + "}\n";
  out += "\\caption{" + tex_escape(report.title) + ": median and max accuracy over prompts, HumanEval pass@k (\\%).}"
         "\\label{tab:xmtf-results}\\\\\n";
  out += "\\toprule\n\\multicolumn{6}{c|}{}";
  if (n_ours) out += fmt::format(" & \\multicolumn{{{}}}{{c{}}}{{Ours}}", n_ours, n_base || !diffs.empty() ? "|" : "");
  if (n_base) out += fmt::format(" & \\multicolumn{{{}}}{{c{}}}{{Baselines}}", n_base, diffs.empty() ? "" : "|");
  if (!diffs.empty()) out += fmt::format(" & \\multicolumn{{{}}}{{c}}{{Difference}}", diffs.size());
  out += " \\\\\n";
  std::vector<std::string> header = kKeyHeaders;
  for (const Column& c : report.table.columns) header.push_back(c.name);
  for (const auto& d : diffs) header.push_back(d.name());
  // The first page's head has the caption and the column groups; later pages repeat the header.
  out += tex_row(header) + "\\midrule\n\\endfirsthead\n\\toprule\n" + tex_row(header) +
         "\\midrule\n\\endhead\n\\bottomrule\n\\endfoot\n";
  std::string previous_task;
  for (RowGroup group : {RowGroup::paper, RowGroup::other}) {
    if (group == RowGroup::other && has_rows(report, group))
      out += "\\midrule\n\\multicolumn{" + std::to_string(6 + n_values) + "}{l}{\\textit{Other tasks}} \\\\\n";
    for (const auto& [row, cells] : report.table.rows) {
      if (group_of(row) != group) continue;
      if (!previous_task.empty() && row.task != previous_task) out += "\\midrule\n";
      previous_task = row.task;
      auto fields = key_cells(row);
      for (const Column& c : report.table.columns) fields.push_back(percent(report.table.cell(row, c.id)));
      for (const auto& d : diffs) fields.push_back(signed_points(difference(report.table, row, d.ours->id, d.baseline->id)));
      out += tex_row(fields);
    }
  }
  if (!report.averages.empty()) {
    out += "\\midrule\n\\multicolumn{" + std::to_string(6 + n_values) + "}{l}{\\textit{Averages over languages}} \\\\\n\\midrule\n";
    for (const AverageRow& a : report.averages) {
      auto fields = average_key_cells(a);
      for (const Column& c : report.table.columns) fields.push_back(average_value(a, c.id));
      for (const auto& d : diffs) fields.push_back(signed_points(average_difference(a, d)));
      out += tex_row(fields);
    }
  }
  out += "\\end{longtable}\n";
  return out;
}

std::string html_report(const Report& report) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"generator\" content=\"xmtf-aggregate\">\n<title>" + h(report.title) + "</title>\n";
  out += "<style>\n" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  out += "<h1>" + h(report.title) + "</h1>\n<p id=\"summary\">" + h(summary_line(report)) + "</p>\n";
  out += "<p>Median and max accuracy over prompts (%), HumanEval pass@k (%, best temperature per k). "
         "<span class=\"se\">±</span> is the standard error sqrt(p(1-p)/(n-1)) where the example count is known; "
         "- is missing. Blue columns are ours.</p>\n";
  out += "<h2>Results</h2>\n" + html_results_table(report, RowGroup::paper, "main-table");
  if (has_rows(report, RowGroup::other))
    out += "<h2>Other tasks</h2>\n<p>Results of the baselines' files on tasks outside the paper's evaluation.</p>\n" +
           html_results_table(report, RowGroup::other, "other-table");
  if (!report.averages.empty())
    out += "<h2>Averages over languages</h2>\n<p>Each column averages the same configs (those every column with a "
           "value has); seen / unseen: languages in BLOOM's pretraining corpus or not.</p>\n" +
           html_averages_table(report);
  const std::string language = html_figures(report.plots, "accuracy_"), scale = html_figures(report.plots, "scale_"),
                    training = html_figures(report.plots, "training_");
  if (!language.empty()) out += "<h2>Accuracy per language</h2>\n" + language;
  if (!scale.empty()) out += "<h2>Accuracy against model size</h2>\n" + scale;
  if (!training.empty()) out += "<h2>Training curves</h2>\n" + training;
  if (!report.problems.empty()) {
    out += "<h2>Inputs skipped or partly read</h2>\n<ul class=\"problems\" id=\"problems\">\n";
    for (const Problem& p : report.problems) out += "<li>" + h(p.path) + ": " + h(p.reason) + "</li>\n";
    out += "</ul>\n";
  }
  if (!report.notes.empty()) {
    out += "<h2>Notes on the inputs</h2>\n<ul class=\"problems\" id=\"notes\">\n";
    for (const Problem& p : report.notes) out += "<li>" + h(p.path) + ": " + h(p.reason) + "</li>\n";
    out += "</ul>\n";
  }
  out += "<h2>Inputs</h2>\n<ul>\n";
  for (const Column& c : report.table.columns)
    out += fmt::format("<li>{} ({}): {}</li>\n", h(c.name), c.baseline ? "baseline" : "ours", h(c.source));
  for (const TrainingRun& run : report.training_runs)
    out += fmt::format("<li>training run {}: {} ({} steps)</li>\n", h(run.name), h(run.source), run.steps.size());
  out += "</ul>\n</body>\n</html>\n";
  return out;
}

std::string terminal_table(const Report& report) {
  const auto columns = terminal_columns(report);
  const auto diffs = diff_columns(report);
  const auto ours = report.table.ours();
  std::vector<std::vector<std::string>> lines;
  std::vector<std::string> header = kKeyHeaders;
  for (const Column* c : columns) header.push_back(c->name);
  for (const auto& d : diffs) header.push_back("\u0394 " + d.ours->name);
  lines.push_back(header);
  for (const auto& [row, cells] : report.table.rows) {
    const bool has_ours = std::any_of(ours.begin(), ours.end(), [&](const Column* c) { return cells.count(c->id); });
    if (ours.empty() ? group_of(row) != RowGroup::paper : !has_ours) continue;
    auto fields = key_cells(row);
    for (const Column* c : columns) fields.push_back(percent(report.table.cell(row, c->id)));
    for (const auto& d : diffs) fields.push_back(signed_points(difference(report.table, row, d.ours->id, d.baseline->id)));
    lines.push_back(fields);
  }
  // Width in code points (Δ, ± are one column wide on a terminal).
  auto width = [](const std::string& s) {
    return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
  };
  std::vector<std::size_t> widths(header.size(), 0);
  for (const auto& line : lines)
    for (std::size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], width(line[i]));
  std::string out = report.title + "\n";
  for (std::size_t l = 0; l < lines.size(); ++l) {
    std::string text;
    for (std::size_t i = 0; i < lines[l].size(); ++i) {
      const std::string& cell = lines[l][i];
      const std::string pad(widths[i] - width(cell), ' ');
      text += (i ? "  " : "") + (i < kKeyHeaders.size() ? cell + pad : pad + cell);
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
    if (l == 0) {
      std::size_t total = 0;
      for (std::size_t w : widths) total += w + 2;
      out += std::string(total - 2, '-') + "\n";
    }
  }
  if (lines.size() == 1) out += "(no results)\n";
  return out;
}

std::string model_card_tsv(const Report& report) {
  std::string out = "model\ttask_type\tdataset\tconfig\tsplit\tmetric\tvalue\n";
  for (const Column* column : report.table.ours())
    for (const CardRow& row : card_rows(report.table, column->id))
      out += fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{:.2f}\n", column->name, row.task_type, row.dataset, row.config, row.split,
                         row.metric, row.value * 100);
  return out;
}

}  // namespace xmtf::report
