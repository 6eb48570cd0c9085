#include "sched/markers.hpp"

#include <dirent.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"

namespace xmtf::sched {

using nlohmann::json;

std::string marker_to_json(const Marker& m) {
  json j = {{"format", kMarkerFormat},
            {"run", m.run},
            {"stage", m.stage},
            {"index", m.index},
            {"params", m.params},
            {"status", m.status},
            {"exit_status", m.exit_status},
            {"reason", m.reason},
            {"start_time", m.start_time},
            {"end_time", m.end_time},
            {"host", m.host},
            {"pid", m.pid},
            {"pid_start", m.pid_start},
            {"program_pid", m.program_pid},
            {"program_start", m.program_start},
            {"attempt", m.attempt},
            {"job_id", m.job_id},
            {"array_job_id", m.array_job_id},
            {"array_task_id", m.array_task_id},
            {"log", m.log},
            {"outputs", m.outputs}};
  std::string text = j.dump(2);
  // The fingerprint goes on one line: a folder of 100,000 input files indented would be
  // megabytes of whitespace, read back by every `xmtf plan`.
  if (!m.fingerprint.is_null()) text.insert(text.size() - 2, ",\n  \"fingerprint\": " + m.fingerprint.dump());
  return text + "\n";
}

Marker marker_from_json(const std::string& text, const std::string& origin) {
  if (trim(text).empty()) fail("{}: empty file, not a marker", origin);
  try {
    json j = json::parse(text);
    if (!j.is_object() || j.value("format", "") != kMarkerFormat)
      fail("{}: not an xmtf marker (no \"format\": \"{}\")", origin, kMarkerFormat);
    Marker m;
    m.run = j.at("run");
    m.stage = j.at("stage");
    m.index = j.at("index");
    m.params = j.value("params", std::map<std::string, std::string>{});
    m.status = j.at("status");
    m.exit_status = j.value("exit_status", 0);
    m.reason = j.value("reason", "");
    m.start_time = j.value("start_time", 0.0);
    m.end_time = j.value("end_time", 0.0);
    m.host = j.value("host", "");
    m.pid = j.value("pid", 0L);
    m.pid_start = j.value("pid_start", 0LL);
    m.program_pid = j.value("program_pid", 0L);
    m.program_start = j.value("program_start", 0LL);
    m.attempt = j.value("attempt", 1);
    m.job_id = j.value("job_id", "");
    m.array_job_id = j.value("array_job_id", "");
    m.array_task_id = j.value("array_task_id", "");
    m.log = j.value("log", "");
    m.outputs = j.value("outputs", std::vector<std::string>{});
    if (auto found = j.find("fingerprint"); found != j.end()) m.fingerprint = std::move(*found);
    return m;
  } catch (const json::exception& e) {
    fail("{}: unreadable marker: {}", origin, e.what());
  }
}

fs::path marker_path(const fs::path& stage_dir, std::size_t index, const std::string& status) {
  return stage_dir / "markers" / (std::to_string(index) + "." + status);
}

std::optional<Marker> read_marker(const fs::path& stage_dir, std::size_t index, const std::string& status) {
  fs::path path = marker_path(stage_dir, index, status);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return marker_from_json(read_file(path), path.string());
  } catch (const Error&) {
    return std::nullopt;  // a marker vanishing or half-visible between listing and reading
  }
}

void write_marker(const fs::path& stage_dir, const Marker& marker) {
  write_file_atomic(marker_path(stage_dir, marker.index, marker.status), marker_to_json(marker));
}

DoneMarker read_done_marker(const fs::path& stage_dir, const TaskId& task, const fs::path& workdir) {
  DoneMarker verdict;
  fs::path path = marker_path(stage_dir, task.index, "done");
  std::string text;
  try {
    text = read_file(path);
  } catch (const Error&) {
    if (!fs::exists(path)) return verdict;  // absent
    verdict.verdict = DoneVerdict::unreadable;
    verdict.problem = fmt::format("done marker {} cannot be read", path.string());
    return verdict;
  }
  try {
    verdict.marker = marker_from_json(text, path.string());
  } catch (const Error& e) {
    verdict.verdict = DoneVerdict::unreadable;
    verdict.problem = fmt::format("{} (not a completion record)", e.what());
    return verdict;
  }
  const Marker& m = *verdict.marker;
  if (m.run != task.run || m.stage != task.stage || m.index != task.index) {
    verdict.verdict = DoneVerdict::foreign;
    verdict.problem = fmt::format("done marker {} describes {}/{}[{}], not {}/{}[{}]", path.string(), m.run, m.stage, m.index,
                                  task.run, task.stage, task.index);
    return verdict;
  }
  if (m.status != "done" || m.exit_status != 0) {
    verdict.verdict = DoneVerdict::foreign;
    verdict.problem = fmt::format("done marker {} records status '{}', exit {}", path.string(), m.status, m.exit_status);
    return verdict;
  }
  for (const auto& output : m.outputs) {
    fs::path p = fs::path(output).is_absolute() ? fs::path(output) : workdir / output;
    std::error_code ec;
    if (!fs::exists(p, ec)) {
      verdict.verdict = DoneVerdict::output_missing;
      verdict.problem = fmt::format("done, but its output {} is gone", output);
      return verdict;
    }
  }
  verdict.verdict = DoneVerdict::done;
  return verdict;
}

std::map<std::size_t, MarkerFlags> scan_markers(const fs::path& stage_dir) {
  std::map<std::size_t, MarkerFlags> flags;
  fs::path dir = stage_dir / "markers";
  // readdir rather than directory_iterator: status over 10,000 markers must stay fast.
  DIR* d = ::opendir(dir.c_str());
  if (!d) return flags;
  while (dirent* entry = ::readdir(d)) {
    const char* name = entry->d_name;
    char* end = nullptr;
    unsigned long index = std::strtoul(name, &end, 10);
    if (end == name || *end != '.') continue;
    std::string_view kind(end + 1);
    if (kind == "done") flags[index].done = true;
    else if (kind == "failed") flags[index].failed = true;
    else if (kind == "running") flags[index].running = true;
    else if (kind == "stale") flags[index].stale = true;
  }
  ::closedir(d);
  return flags;
}

}  // namespace xmtf::sched
