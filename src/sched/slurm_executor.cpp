#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "sched/executor.hpp"
#include "sched/markers.hpp"
#include "sched/slurm.hpp"
#include "sched/task.hpp"

namespace xmtf::sched {
namespace {

// Jobs of a stage that dependents must wait for, by index offset (array chunk).
using ActiveJobs = std::map<std::string, std::vector<Submission>>;

std::string dependency_for(const PlannedStage& stage, std::size_t offset, const ActiveJobs& active) {
  std::vector<std::string> parts;
  for (const auto& dep : stage.after) {
    auto found = active.find(dep.stage);
    if (found == active.end()) continue;  // that stage is all done: nothing to wait for
    if (dep.aligned) {
      // The newest job of the same chunk holds the partner tasks that are not done yet.
      const Submission* newest = nullptr;
      for (const auto& s : found->second)
        if (s.index_offset == offset) newest = &s;
      if (newest) parts.push_back("aftercorr:" + newest->job_id);
    } else {
      std::string ids;
      for (const auto& s : found->second) ids += ":" + s.job_id;
      if (!ids.empty()) parts.push_back("afterok" + ids);
    }
  }
  return join(parts, ",");
}

class SlurmSubmitter {
 public:
  explicit SlurmSubmitter(const Plan& plan) : plan_(plan), store_(plan.run_dir), max_array_(max_array_size()) {}

  ActiveJobs& active() { return active_; }
  StateStore& store() { return store_; }

  // Submits the given tasks of one stage, split into chunks that fit MaxArraySize.
  void submit_stage(const PlannedStage& stage, const std::vector<std::size_t>& indices) {
    std::map<std::size_t, std::vector<std::size_t>> chunks;  // offset -> global indices
    std::size_t chunk_size = static_cast<std::size_t>(std::max(1, max_array_));
    for (std::size_t i : indices) chunks[i / chunk_size * chunk_size].push_back(i);
    for (auto& [offset, chunk] : chunks) submit_chunk(stage, offset, chunk);
  }

 private:
  void submit_chunk(const PlannedStage& stage, std::size_t offset, const std::vector<std::size_t>& indices) {
    // Each submission gets its own copy of the launch files, so replanning never rewrites a
    // script or spec that a queued job will read.
    int launch = store_.next_launch_number(stage.stage->name);
    fs::path launch_dir = stage.dir / "launch" / fmt::format("{:04}", launch);
    fs::create_directories(launch_dir);
    write_file_atomic(launch_dir / "stage.json", spec_to_json(stage.spec));
    write_file_atomic(launch_dir / "tasks.tsv", task_table_text(stage.spec.params, stage.rows));
    fs::path script = launch_dir / "job.sbatch";
    write_file_atomic(script, sbatch_script(plan_, stage, launch_dir / "stage.json"));

    std::vector<std::size_t> local_ids;
    for (std::size_t i : indices) local_ids.push_back(i - offset);
    std::string array = format_index_ranges(local_ids);
    if (plan_.manifest.slurm.max_concurrent > 0) array += fmt::format("%{}", plan_.manifest.slurm.max_concurrent);
    std::string dependency = dependency_for(stage, offset, active_);
    std::vector<std::string> options = {"--array=" + array, fmt::format("--export=ALL,XMTF_INDEX_OFFSET={}", offset)};
    if (!dependency.empty()) {
      options.push_back("--dependency=" + dependency);
      options.push_back("--kill-on-invalid-dep=no");
    }
    Submission s;
    s.stage = stage.stage->name;
    s.job_id = sbatch(options, script.string());
    s.index_offset = offset;
    s.indices = indices;
    s.dependency = dependency;
    s.launch_dir = launch_dir.string();
    s.submitted_at = unix_now();
    store_.add(s);
    log::info("{}: submitted job {} --array={}{}", s.stage, s.job_id, array,
              dependency.empty() ? "" : " --dependency=" + dependency);
    active_[s.stage].push_back(s);
  }

  const Plan& plan_;
  StateStore store_;
  int max_array_;
  ActiveJobs active_;
};

void require_slurm() {
  if (!slurm_available()) fail("sbatch is not on PATH: this machine has no SLURM client (use `xmtf run` to run locally)");
}

std::vector<std::size_t> indices_in(const StageStatus& s, std::initializer_list<TaskState> states) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < s.tasks.size(); ++i)
    if (std::find(states.begin(), states.end(), s.tasks[i].state) != states.end()) out.push_back(i);
  return out;
}

}  // namespace

void submit_run(const Plan& plan, const StaleReport* stale) {
  require_slurm();
  write_plan(plan);
  RunInfo run = read_run_info(plan.run_dir);
  RunStatus status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  for (const auto& s : status.stages)
    if (s.count(TaskState::pending) || s.count(TaskState::running))
      fail("run {} still has queued or running tasks in stage {}: use `xmtf status {}`, `xmtf resubmit` or `xmtf cancel`",
           run.run, s.name, run.run);
  if (stale && retire_stale(plan, *stale)) status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  SlurmSubmitter submitter(plan);
  for (const auto& stage : plan.stages) {
    auto todo = indices_in(status.stage(stage.stage->name), {TaskState::failed, TaskState::never_ran});
    if (todo.empty()) {
      log::info("{}: all {} tasks already done", stage.stage->name, stage.rows.size());
      continue;
    }
    submitter.submit_stage(stage, todo);
  }
}

void resubmit_run(const Plan& plan, const std::string& only_stage, const StaleReport* stale) {
  require_slurm();
  if (!only_stage.empty() && !plan.find(only_stage)) fail("run {} has no stage '{}'", plan.manifest.name, only_stage);
  write_plan(plan);
  RunInfo run = read_run_info(plan.run_dir);
  RunStatus status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  if (stale && retire_stale(plan, *stale, only_stage)) status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  SlurmSubmitter submitter(plan);

  // Jobs still in the queue with work left are what new jobs and re-pointed dependents wait for.
  std::set<std::string> queued_jobs;
  for (const auto& s : status.stages)
    for (const auto& t : s.tasks)
      if (t.state == TaskState::pending || t.state == TaskState::running) queued_jobs.insert(t.job.substr(0, t.job.find('_')));
  for (const auto& sub : submitter.store().submissions())
    if (queued_jobs.count(sub.job_id)) submitter.active()[sub.stage].push_back(sub);
  ActiveJobs before = submitter.active();

  std::set<std::string> resubmitted;
  for (const auto& stage : plan.stages) {
    if (!only_stage.empty() && stage.stage->name != only_stage) continue;
    auto todo = indices_in(status.stage(stage.stage->name), {TaskState::failed, TaskState::never_ran});
    if (todo.empty()) continue;
    log::info("{}: resubmitting {} task(s): {}", stage.stage->name, todo.size(), format_index_ranges(todo));
    submitter.submit_stage(stage, todo);
    resubmitted.insert(stage.stage->name);
  }
  if (resubmitted.empty()) {
    log::info("run {}: nothing failed, missing or stale; nothing resubmitted", run.run);
    return;
  }
  // Dependents still waiting (often DependencyNeverSatisfied on the failed tasks) now wait for
  // the new jobs instead.
  for (const auto& stage : plan.stages) {
    bool downstream = std::any_of(stage.after.begin(), stage.after.end(),
                                  [&](const Dependency& d) { return resubmitted.count(d.stage); });
    if (!downstream) continue;
    auto found = before.find(stage.stage->name);
    if (found == before.end()) continue;
    for (const auto& job : found->second) {
      std::string dependency = dependency_for(stage, job.index_offset, submitter.active());
      if (dependency.empty()) continue;
      update_dependency(job.job_id, dependency);
      submitter.store().set_dependency(job.id, dependency);
      log::info("{}: job {} now waits for {}", stage.stage->name, job.job_id, dependency);
    }
  }
}

void cancel_run(const RunInfo& run) {
  require_slurm();
  StateStore store(run.dir);
  RunStatus status = query_status(run);
  std::set<std::string> active;
  for (const auto& s : status.stages)
    for (const auto& t : s.tasks)
      if ((t.state == TaskState::pending || t.state == TaskState::running) && !t.job.empty())
        active.insert(t.job.substr(0, t.job.find('_')));
  if (active.empty()) {
    log::info("run {}: no queued or running jobs", run.run);
    return;
  }
  scancel(std::vector<std::string>(active.begin(), active.end()));
  for (const auto& sub : store.submissions())
    if (active.count(sub.job_id)) store.mark_cancelled(sub.id);
  log::info("run {}: cancelled {} job(s): {}", run.run, active.size(), join(std::vector<std::string>(active.begin(), active.end()), " "));
}

}  // namespace xmtf::sched
