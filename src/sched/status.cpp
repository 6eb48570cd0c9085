#include "sched/status.hpp"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"
#include "sched/markers.hpp"
#include "sched/spec.hpp"
#include "sched/task.hpp"

namespace xmtf::sched {

const PlanStageInfo* RunInfo::find(const std::string& stage) const {
  for (const auto& s : stages)
    if (s.name == stage) return &s;
  return nullptr;
}

RunInfo read_run_info(const fs::path& run_dir) {
  fs::path path = run_dir / "plan.json";
  if (!fs::exists(path)) fail("{} has no plan.json: plan or run the manifest first", run_dir.string());
  try {
    auto j = nlohmann::json::parse(read_file(path));
    RunInfo info;
    info.dir = run_dir;
    info.run = j.at("run");
    info.executor = j.at("executor");
    info.manifest = j.at("manifest");
    info.workdir = j.at("workdir");
    info.xmtf = j.at("xmtf");
    for (const auto& s : j.at("stages")) {
      PlanStageInfo stage{s.at("name"), s.at("tasks"), {}};
      for (const auto& d : s.at("after")) stage.after.push_back({d.at("stage"), d.at("aligned")});
      info.stages.push_back(std::move(stage));
    }
    return info;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unreadable plan: {}", path.string(), e.what());
  }
}

const char* task_state_name(TaskState state) {
  switch (state) {
    case TaskState::done: return "done";
    case TaskState::failed: return "failed";
    case TaskState::running: return "running";
    case TaskState::pending: return "pending";
    default: return "never-ran";
  }
}

std::size_t StageStatus::count(TaskState state) const {
  return std::count_if(tasks.begin(), tasks.end(), [&](const TaskStatus& t) { return t.state == state; });
}

const StageStatus& RunStatus::stage(const std::string& name) const {
  for (const auto& s : stages)
    if (s.name == name) return s;
  fail("run {} has no stage '{}'", run, name);
}

bool RunStatus::all_done() const {
  for (const auto& s : stages)
    if (s.count(TaskState::done) != s.tasks.size()) return false;
  return true;
}

namespace {

struct LatestJob {
  const Submission* submission = nullptr;
  std::size_t array_task = 0;
};

// For each task, the newest submission that contains it: only that job can still run it.
std::map<std::size_t, LatestJob> latest_jobs(const std::vector<Submission>& submissions, const std::string& stage) {
  std::map<std::size_t, LatestJob> latest;
  for (const auto& s : submissions) {
    if (s.stage != stage) continue;
    for (std::size_t index : s.indices) latest[index] = {&s, index - s.index_offset};
  }
  return latest;
}

bool process_alive_here(const Marker& m) {
  return m.host == host_name() && m.pid > 0 && (::kill(static_cast<pid_t>(m.pid), 0) == 0 || errno == EPERM);
}

// A retired (stale) task counts as not submitted until a job newer than its retirement holds it.
bool submitted_since_retired(const fs::path& stage_dir, std::size_t index, const LatestJob* job) {
  if (!job || !job->submission) return false;
  std::error_code ec;
  auto retired = fs::last_write_time(marker_path(stage_dir, index, "stale"), ec);
  if (ec) return true;
  double retired_at = std::chrono::duration<double>(std::chrono::file_clock::to_sys(retired).time_since_epoch()).count();
  return job->submission->submitted_at >= retired_at;
}

TaskStatus classify(const RunInfo& run, const fs::path& stage_dir, const TaskId& task, const MarkerFlags& flags,
                    const LatestJob* job, const StatusInputs& in) {
  TaskStatus t;
  std::size_t index = task.index;
  std::string bad_done;  // a .done that is no completion record: the task is not done
  if (flags.done) {
    DoneMarker done = read_done_marker(stage_dir, task, run.workdir);
    if (done.is_done()) {
      t.state = TaskState::done;
      return t;
    }
    bad_done = done.problem;
  }
  const SlurmTask* queued = nullptr;
  if (job && job->submission) {
    t.job = fmt::format("{}_{}", job->submission->job_id, job->array_task);
    t.log = (stage_dir / "logs" / fmt::format("{}_{}.out", job->submission->job_id, job->array_task)).string();
    auto found = in.queue.find(job->submission->job_id);
    if (found != in.queue.end()) {
      auto task = found->second.find(job->array_task);
      if (task != found->second.end()) queued = &task->second;
    }
  }
  if (queued && queued->state == "PENDING") {
    t.state = TaskState::pending;
    t.detail = queued->reason;
    return t;
  }
  if (queued && is_active_state(queued->state)) {
    t.state = TaskState::running;
    return t;
  }
  if (flags.running) {
    auto marker = read_marker(stage_dir, index, "running");
    if (marker && !marker->log.empty()) t.log = marker->log;
    // Inside SLURM the queue (above) says whether it still runs; locally, the process does.
    if (marker && marker->job_id.empty() && process_alive_here(*marker)) {
      t.state = TaskState::running;
      return t;
    }
  }
  if (flags.failed) {
    auto marker = read_marker(stage_dir, index, "failed");
    t.state = TaskState::failed;
    t.detail = marker ? fmt::format("{} (attempt {})", marker->reason, marker->attempt) : "failed";
    if (marker && !marker->log.empty()) t.log = marker->log;
    return t;
  }
  if (flags.stale && !submitted_since_retired(stage_dir, index, job)) {
    t.state = TaskState::never_ran;  // its last job ran the run that was retired
    t.detail = "stale: to rerun";
    return t;
  }
  if (queued) {  // finished in SLURM's eyes, but no marker says so
    t.state = TaskState::failed;
    t.detail = starts_with(queued->state, "CANCELLED")
                   ? "cancelled before it finished"
                   : fmt::format("SLURM state {} without a marker (killed, out of memory or node failure?)", queued->state);
    return t;
  }
  if (flags.running) {
    t.state = TaskState::failed;
    t.detail = "started but ended without a marker (killed?)";
    return t;
  }
  if (!bad_done.empty()) {
    t.state = TaskState::failed;
    t.detail = bad_done;
    return t;
  }
  if (job && job->submission) {
    if (in.now - job->submission->submitted_at >= in.lost_after_seconds || job->submission->cancelled) {
      t.state = TaskState::failed;
      t.detail = job->submission->cancelled ? "cancelled" : "its job left the queue without a marker";
    } else {
      t.state = TaskState::pending;
      t.detail = "submitted";
    }
    return t;
  }
  t.state = TaskState::never_ran;
  return t;
}

}  // namespace

RunStatus compute_status(const RunInfo& run, const StatusInputs& in) {
  RunStatus status;
  status.run = run.run;
  for (const auto& stage : run.stages) {
    fs::path stage_dir = run.dir / stage.name;
    auto flags = scan_markers(stage_dir);
    auto latest = latest_jobs(in.submissions, stage.name);
    StageStatus s;
    s.name = stage.name;
    s.tasks.resize(stage.tasks);
    static const MarkerFlags none;
    for (std::size_t i = 0; i < stage.tasks; ++i) {
      auto f = flags.find(i);
      auto j = latest.find(i);
      s.tasks[i] = classify(run, stage_dir, {run.run, stage.name, i}, f == flags.end() ? none : f->second,
                            j == latest.end() ? nullptr : &j->second, in);
    }
    status.stages.push_back(std::move(s));
  }
  return status;
}

RunStatus query_status(const RunInfo& run, int lost_after_seconds) {
  StatusInputs in;
  in.now = unix_now();
  in.lost_after_seconds = lost_after_seconds;
  if (fs::exists(run.dir / "state.sqlite")) {
    StateStore store(run.dir);
    in.submissions = store.submissions();
  }
  if (!in.submissions.empty() && slurm_available()) {
    std::vector<std::string> ids;
    for (const auto& s : in.submissions)
      if (std::find(ids.begin(), ids.end(), s.job_id) == ids.end()) ids.push_back(s.job_id);
    in.queue = squeue(ids);
    // Jobs squeue no longer knows (past MinJobAge): ask accounting, where the cluster has it.
    std::vector<std::string> forgotten;
    double earliest = in.now;
    for (const auto& s : in.submissions)
      if (!in.queue.count(s.job_id) && std::find(forgotten.begin(), forgotten.end(), s.job_id) == forgotten.end()) {
        forgotten.push_back(s.job_id);
        earliest = std::min(earliest, s.submitted_at);
      }
    for (auto& [job, tasks] : sacct(forgotten, earliest)) in.queue[job] = std::move(tasks);
  }
  return compute_status(run, in);
}

std::string format_status(const RunInfo& run, const RunStatus& status, std::size_t max_failed_listed) {
  std::string out = fmt::format("run {} ({}, {})\n", run.run, run.executor, run.dir.string());
  std::size_t width = 5;
  for (const auto& s : status.stages) width = std::max(width, s.name.size());
  out += fmt::format("  {:<{}} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}\n", "stage", width, "done", "failed", "running",
                     "pending", "never-ran", "total");
  for (const auto& s : status.stages)
    out += fmt::format("  {:<{}} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}\n", s.name, width, s.count(TaskState::done),
                       s.count(TaskState::failed), s.count(TaskState::running), s.count(TaskState::pending),
                       s.count(TaskState::never_ran), s.tasks.size());
  std::size_t listed = 0, failed_total = 0;
  for (const auto& s : status.stages) {
    for (std::size_t i = 0; i < s.tasks.size(); ++i) {
      const TaskStatus& t = s.tasks[i];
      if (t.state != TaskState::failed) continue;
      if (++failed_total > max_failed_listed) continue;
      if (listed++ == 0) out += "failed tasks:\n";
      std::string params;
      try {
        StageSpec spec = read_spec(run.dir / s.name / "stage.json");
        auto values = read_task_row(run.dir / s.name / "tasks.tsv", i, spec.params.size());
        for (std::size_t p = 0; p < values.size(); ++p) params += fmt::format(" {}={}", spec.params[p], values[p]);
      } catch (const Error&) {
      }
      out += fmt::format("  {}[{}]{}: {}\n    log: {}\n", s.name, i, params, t.detail, t.log.empty() ? "-" : t.log);
    }
  }
  if (failed_total > max_failed_listed) out += fmt::format("  ... and {} more failed tasks\n", failed_total - max_failed_listed);
  out += status.all_done() ? "all tasks done\n" : "";
  return out;
}

}  // namespace xmtf::sched
