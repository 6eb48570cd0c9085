#pragma once
// Task markers: the ground truth of what ran. Only `xmtf task` writes them, atomically, in
// jobs/<run>/<stage>/markers/:
//   <index>.running  while the task runs (host, pid, attempt, job ids)
//   <index>.done     after success (exit status 0 and every declared output present)
//   <index>.failed   after a failure (exit status, reason, log)
//   <index>.stale    a done marker retired by run / submit / resubmit because the task reruns
// A task is done exactly when <index>.done is a valid completion record for it (read_done_marker):
// an empty, garbage or foreign file, or one whose outputs are gone, is not done.
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
  long pid = 0;                  // the wrapper (`xmtf task`)
  long long pid_start = 0;       // its start time (clock ticks since boot), so a reused pid is told apart
  long program_pid = 0;          // the stage program, leader of its own process group
  long long program_start = 0;
  int attempt = 1;
  std::string job_id, array_job_id, array_task_id;
  std::string log;
  std::vector<std::string> outputs;
  // What the task ran from (fingerprint.hpp), written when it starts. null in markers of the
  // format before fingerprints: "fingerprint unknown".
  nlohmann::json fingerprint;
};

inline constexpr const char* kMarkerFormat = "xmtf-marker/1";

std::string marker_to_json(const Marker& marker);
// Throws xmtf::Error naming origin unless text is a marker of kMarkerFormat with fields of the
// right types.
Marker marker_from_json(const std::string& text, const std::string& origin);

std::filesystem::path marker_path(const std::filesystem::path& stage_dir, std::size_t index, const std::string& status);
std::optional<Marker> read_marker(const std::filesystem::path& stage_dir, std::size_t index, const std::string& status);
void write_marker(const std::filesystem::path& stage_dir, const Marker& marker);

// The one decision "is this task done?", for the executors, the task wrapper and status.
enum class DoneVerdict {
  done,            // a completion record of this task whose outputs are all there
  absent,          // no <index>.done
  unreadable,      // empty, not JSON, not a marker, or fields of the wrong type
  foreign,         // a valid marker, but of another run, stage or index, or not a success
  output_missing,  // a declared output it lists no longer exists
};
struct DoneMarker {
  DoneVerdict verdict = DoneVerdict::absent;
  std::optional<Marker> marker;  // the record, when it could be parsed
  std::string problem;           // why it is not done, for status and logs ("" when done or absent)
  bool is_done() const { return verdict == DoneVerdict::done; }
};
// The task a marker must describe.
struct TaskId {
  std::string run, stage;
  std::size_t index = 0;
};
// Reads and verifies <index>.done; outputs that are not absolute are relative to workdir. Every
// check of what a completion record must hold (a task fingerprint, say) belongs here, as a field
// of Marker and a verdict of its own, so that the runners, the wrapper and status agree.
DoneMarker read_done_marker(const std::filesystem::path& stage_dir, const TaskId& task,
                            const std::filesystem::path& workdir);

// One directory listing: index -> which of running / done / failed exist.
struct MarkerFlags {
  bool running = false, done = false, failed = false;
  bool stale = false;  // <index>.stale: a done marker retired because the task reruns (stale.hpp)
};
std::map<std::size_t, MarkerFlags> scan_markers(const std::filesystem::path& stage_dir);

}  // namespace xmtf::sched
