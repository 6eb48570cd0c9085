#include "sched/status.hpp"


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
    case TaskState::blocked: return "blocked";
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
  bool job_known = false;  // SLURM (squeue or sacct) still knows the job holding this task
  if (job && job->submission) {
    t.job = fmt::format("{}_{}", job->submission->job_id, job->array_task);
    t.log = (stage_dir / "logs" / fmt::format("{}_{}.out", job->submission->job_id, job->array_task)).string();
    auto found = in.queue.find(job->submission->job_id);
    if (found != in.queue.end()) {
      job_known = true;
      auto task = found->second.find(job->array_task);
      if (task != found->second.end()) queued = &task->second;
    }
  }
  if (queued && queued->state == "PENDING" && queued->reason == "DependencyNeverSatisfied") {
    t.state = TaskState::blocked;
    t.detail = "waits for a dependency that can never be satisfied (a task it waits for failed); `xmtf resubmit` "
               "re-points it";
    return t;
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
    if (marker && marker->job_id.empty() && attempt_alive_here(*marker)) {
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
  if (job_known) {
    // squeue -r lists every pending task of a job it knows: one missing without any marker never
    // started and left the queue, which is what scancel of a pending task does.
    t.state = TaskState::failed;
    t.detail = "cancelled: removed from the queue before it started";
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

namespace {

std::vector<std::string> unique_job_ids(const std::vector<Submission>& submissions) {
  std::vector<std::string> ids;
  for (const auto& s : submissions)
    if (std::find(ids.begin(), ids.end(), s.job_id) == ids.end()) ids.push_back(s.job_id);
  return ids;
}

// Jobs SLURM's queue cannot explain fully: forgotten ones (past MinJobAge) and ones with tasks
// squeue no longer lists (scancel'd before they started). Accounting, where the cluster has it,
// knows their final state; it never overrides what squeue says.
void ask_accounting(const std::vector<Submission>& submissions, QueueSnapshot& queue) {
  if (!sacct_available()) return;
  std::vector<std::string> ids;
  double earliest = unix_now();
  for (const auto& s : submissions) {
    auto found = queue.find(s.job_id);
    bool incomplete = found == queue.end() || std::any_of(s.indices.begin(), s.indices.end(), [&](std::size_t i) {
                        return !found->second.count(i - s.index_offset);
                      });
    if (incomplete && std::find(ids.begin(), ids.end(), s.job_id) == ids.end()) {
      ids.push_back(s.job_id);
      earliest = std::min(earliest, s.submitted_at);
    }
  }
  for (auto& [job, tasks] : sacct(ids, earliest))
    for (auto& [task, state] : tasks) queue[job].emplace(task, state);
}

}  // namespace

RunStatus query_status(const RunInfo& run, int lost_after_seconds) {
  StatusInputs in;
  in.now = unix_now();
  in.lost_after_seconds = lost_after_seconds;
  in.submissions = load_submissions(run.dir);
  if (!in.submissions.empty()) {
    if (!slurm_available())
      fail("run {} was submitted to SLURM, but squeue is not on PATH here: its queued tasks cannot be told from failed "
           "ones (run `xmtf status` where the SLURM client is)",
           run.run);
    in.queue = squeue(unique_job_ids(in.submissions));
    ask_accounting(in.submissions, in.queue);
  }
  return compute_status(run, in);
}

namespace {

// " lang=sw" for a task of an array over lang; "" when the task table cannot be read.
std::string task_params(const RunInfo& run, const std::string& stage, std::size_t index) {
  std::string params;
  try {
    StageSpec spec = read_spec(run.dir / stage / "stage.json");
    auto values = read_task_row(run.dir / stage / "tasks.tsv", index, spec.params.size());
    for (std::size_t p = 0; p < values.size(); ++p) params += fmt::format(" {}={}", spec.params[p], values[p]);
  } catch (const Error&) {
  }
  return params;
}

// The tasks in one state, one line each with why and their log, at most max_listed.
std::string list_tasks(const RunInfo& run, const RunStatus& status, TaskState state, const std::string& title,
                       std::size_t max_listed) {
  std::string out;
  std::size_t total = 0;
  for (const auto& s : status.stages)
    for (std::size_t i = 0; i < s.tasks.size(); ++i) {
      const TaskStatus& t = s.tasks[i];
      if (t.state != state || ++total > max_listed) continue;
      if (total == 1) out += title + ":\n";
      out += fmt::format("  {}[{}]{}: {}\n    log: {}\n", s.name, i, task_params(run, s.name, i), t.detail,
                         t.log.empty() ? "-" : t.log);
    }
  if (total > max_listed) out += fmt::format("  ... and {} more {} tasks\n", total - max_listed, task_state_name(state));
  return out;
}

}  // namespace

std::string format_status(const RunInfo& run, const RunStatus& status, std::size_t max_failed_listed) {
  std::string out = fmt::format("run {} ({}, {})\n", run.run, run.executor, run.dir.string());
  std::size_t width = 5;
  for (const auto& s : status.stages) width = std::max(width, s.name.size());
  out += fmt::format("  {:<{}} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}\n", "stage", width, "done", "failed", "running",
                     "pending", "blocked", "never-ran", "total");
  for (const auto& s : status.stages)
    out += fmt::format("  {:<{}} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9} {:>7}\n", s.name, width, s.count(TaskState::done),
                       s.count(TaskState::failed), s.count(TaskState::running), s.count(TaskState::pending),
                       s.count(TaskState::blocked), s.count(TaskState::never_ran), s.tasks.size());
  out += list_tasks(run, status, TaskState::failed, "failed tasks", max_failed_listed);
  out += list_tasks(run, status, TaskState::blocked, "blocked tasks (`xmtf resubmit` repairs them)", max_failed_listed);
  out += status.all_done() ? "all tasks done\n" : "";
  return out;
}

}  // namespace xmtf::sched
