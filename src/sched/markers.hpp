#pragma once
// Task markers: the ground truth of what ran. Only `xmtf task` writes them, atomically, in
// jobs/<run>/<stage>/markers/:
//   <index>.running  while the task runs (host, pid, attempt, job ids)
//   <index>.done     after success (exit status 0 and every declared output present)
//   <index>.failed   after a failure (exit status, reason, log)
//   <index>.stale    a done marker retired by run / submit / resubmit because the task reruns
// A task is done exactly when <index>.done exists.
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace xmtf::sched {

struct Marker {
  std::string run, stage;
  std::size_t index = 0;
  std::map<std::string, std::string> params;
  std::string status;  // running | done | failed
  int exit_status = 0;
  std::string reason;
  double start_time = 0, end_time = 0;  // unix seconds
  std::string host;
  long pid = 0;
  int attempt = 1;
  std::string job_id, array_job_id, array_task_id;
  std::string log;
  std::vector<std::string> outputs;
  // What the task ran from (fingerprint.hpp), written when it starts. null in markers of the
  // format before fingerprints: "fingerprint unknown".
  nlohmann::json fingerprint;
};

std::string marker_to_json(const Marker& marker);
Marker marker_from_json(const std::string& text, const std::string& origin);

std::filesystem::path marker_path(const std::filesystem::path& stage_dir, std::size_t index, const std::string& status);
std::optional<Marker> read_marker(const std::filesystem::path& stage_dir, std::size_t index, const std::string& status);
void write_marker(const std::filesystem::path& stage_dir, const Marker& marker);

// One directory listing: index -> which of running / done / failed exist.
struct MarkerFlags {
  bool running = false, done = false, failed = false;
  bool stale = false;  // <index>.stale: a done marker retired because the task reruns (stale.hpp)
};
std::map<std::size_t, MarkerFlags> scan_markers(const std::filesystem::path& stage_dir);

}  // namespace xmtf::sched
