#include "sched/spec.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"

namespace xmtf::sched {

using nlohmann::json;

std::string spec_to_json(const StageSpec& s) {
  json j;
  j["format"] = "xmtf-stage/1";
  j["run"] = s.run;
  j["stage"] = s.stage;
  j["type"] = s.type;
  j["executable"] = s.executable;
  j["shell"] = s.shell;
  j["args"] = s.args;
  j["mpi"] = s.mpi;
  j["ntasks"] = s.ntasks;
  j["launcher"] = s.launcher;
  j["env"] = s.env;
  j["outputs"] = s.outputs;
  j["params"] = s.params;
  j["task_count"] = s.task_count;
  j["workdir"] = s.workdir;
  j["run_dir"] = s.run_dir;
  j["inputs"] = s.inputs;
  j["rerun_on"] = s.rerun_on;
  j["after"] = json::array();
  for (const auto& d : s.after) j["after"].push_back({{"stage", d.stage}, {"aligned", d.aligned}, {"tasks", d.tasks}});
  if (s.program.known())
    j["program"] = {{"path", s.program.path},         {"version", s.program.version}, {"sha256", s.program.sha256},
                    {"size", s.program.size},         {"inode", s.program.inode},     {"mtime_ns", s.program.mtime_ns},
                    {"ctime_ns", s.program.ctime_ns}};
  return j.dump(2) + "\n";
}

StageSpec spec_from_json(const std::string& text, const std::string& origin) {
  try {
    json j = json::parse(text);
    if (j.value("format", "") != "xmtf-stage/1") fail("{}: not an xmtf stage spec (format xmtf-stage/1)", origin);
    StageSpec s;
    s.run = j.at("run");
    s.stage = j.at("stage");
    s.type = j.at("type");
    s.executable = j.at("executable");
    s.shell = j.at("shell");
    s.args = j.at("args").get<std::vector<std::string>>();
    s.mpi = j.at("mpi");
    s.ntasks = j.at("ntasks");
    s.launcher = j.at("launcher").get<std::vector<std::string>>();
    s.env = j.at("env").get<std::vector<std::pair<std::string, std::string>>>();
    s.outputs = j.at("outputs").get<std::vector<std::string>>();
    s.params = j.at("params").get<std::vector<std::string>>();
    s.task_count = j.at("task_count");
    s.workdir = j.at("workdir");
    s.run_dir = j.at("run_dir");
    s.inputs = j.value("inputs", std::vector<std::string>{});
    s.rerun_on = j.value("rerun_on", s.rerun_on);
    for (const auto& d : j.value("after", json::array()))
      s.after.push_back({d.at("stage"), d.at("aligned"), d.at("tasks")});
    if (j.contains("program")) {
      const json& p = j["program"];
      s.program = {p.at("path"), p.at("version"), p.at("sha256"), p.at("size"), p.at("inode"), p.at("mtime_ns"),
                   p.at("ctime_ns")};
    }
    return s;
  } catch (const json::exception& e) {
    fail("{}: broken stage spec: {}", origin, e.what());
  }
}

StageSpec read_spec(const fs::path& path) { return spec_from_json(read_file(path), path.string()); }

namespace {

std::string escape_cell(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out;
}

std::string unescape_cell(const std::string& cell) {
  std::string out;
  for (std::size_t i = 0; i < cell.size(); ++i) {
    if (cell[i] == '\\' && i + 1 < cell.size()) {
      char n = cell[++i];
      out += n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n;
    } else {
      out += cell[i];
    }
  }
  return out;
}

}  // namespace

std::string task_table_text(const std::vector<std::string>& params, const std::vector<std::vector<std::string>>& rows) {
  std::string out = "index";
  for (const auto& p : params) out += "\t" + p;
  out += "\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += std::to_string(i);
    for (const auto& v : rows[i]) out += "\t" + escape_cell(v);
    out += "\n";
  }
  return out;
}

std::vector<std::string> read_task_row(const fs::path& path, std::size_t index, std::size_t param_count) {
  std::ifstream in(path);
  if (!in) fail("cannot open task table {}", path.string());
  std::string line;
  std::getline(in, line);  // header
  std::string wanted = std::to_string(index);
  std::size_t line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    std::size_t tab = line.find('\t');
    if (line.substr(0, tab) != wanted) continue;
    std::vector<std::string> values;
    if (tab != std::string::npos)
      for (auto& cell : split(std::string_view(line).substr(tab + 1), '\t')) values.push_back(unescape_cell(cell));
    if (values.size() != param_count)
      fail("{}:{}: task {} has {} values, expected {}", path.string(), line_number, index, values.size(), param_count);
    return values;
  }
  fail("{}: no task with index {} (the table has {} rows)", path.string(), index, line_number - 1);
}

Bindings task_bindings(const StageSpec& spec, std::size_t index, const std::vector<std::string>& values) {
  Bindings b;
  b["run"] = spec.run;
  b["root"] = spec.workdir;
  b["jobs"] = spec.run_dir;
  b["stage"] = spec.stage;
  b["index"] = std::to_string(index);
  for (std::size_t i = 0; i < spec.params.size() && i < values.size(); ++i) b[spec.params[i]] = values[i];
  return b;
}

}  // namespace xmtf::sched
