#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <set>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "sched/executor.hpp"
#include "sched/lock.hpp"
#include "sched/markers.hpp"
#include "sched/slurm.hpp"
#include "sched/task.hpp"

namespace xmtf::sched {
namespace {

// Who can still produce a task's outputs: nothing is needed when it is done; else the SLURM job
// that holds it queued or running (or was just submitted for it); else nobody (failed, never
// submitted, cancelled): its dependents cannot be given a dependency that will ever be met.
struct TaskSource {
  bool done = false;
  std::optional<std::string> job;  // array job id
  std::size_t offset = 0;          // that job's index offset
};
using Sources = std::map<std::string, std::vector<TaskSource>>;  // stage -> index -> source

bool is_queued(TaskState s) { return s == TaskState::pending || s == TaskState::running || s == TaskState::blocked; }

std::string job_of(const TaskStatus& t) { return t.job.substr(0, t.job.find('_')); }

Sources sources_from(const RunStatus& status, const std::vector<Submission>& submissions) {
  std::map<std::string, std::size_t> offsets;
  for (const auto& s : submissions) offsets[s.job_id] = s.index_offset;
  Sources sources;
  for (const auto& stage : status.stages) {
    auto& out = sources[stage.name];
    out.resize(stage.tasks.size());
    for (std::size_t i = 0; i < stage.tasks.size(); ++i) {
      const TaskStatus& t = stage.tasks[i];
      out[i].done = t.state == TaskState::done;
      if (is_queued(t.state) && !t.job.empty()) {
        out[i].job = job_of(t);
        out[i].offset = offsets[*out[i].job];
      }
    }
  }
  return sources;
}

// Job ids in numeric order, so that dependency strings do not depend on the order of discovery.
std::vector<std::string> numeric_order(std::set<std::string> ids) {
  std::vector<std::string> out(ids.begin(), ids.end());
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  return out;
}

// The dependency of task `index` of a stage whose job has index offset `offset`: every job that
// can still produce an input it needs. A partner task (aligned arrays) held by a job at the same
// index offset is waited for with aftercorr; anything else with afterany, which SLURM satisfies
// whatever those jobs' outcome, so a dependent never waits forever on a job that holds a failed
// task (the task wrapper checks the markers before it starts the program). nullopt when an input
// can no longer be produced; `missing` then names it.
std::optional<std::string> dependency_of(const PlannedStage& stage, std::size_t index, std::size_t offset,
                                         const Sources& sources, std::string& missing) {
  std::vector<std::string> parts;
  for (const auto& dep : stage.after) {
    const std::vector<TaskSource>& upstream = sources.at(dep.stage);
    if (dep.aligned) {
      const TaskSource& partner = upstream.at(index);
      if (partner.done) continue;
      if (!partner.job) {
        missing = fmt::format("{}[{}]", dep.stage, index);
        return std::nullopt;
      }
      parts.push_back((partner.offset == offset ? "aftercorr:" : "afterany:") + *partner.job);
      continue;
    }
    std::set<std::string> jobs;
    for (std::size_t i = 0; i < upstream.size(); ++i) {
      if (upstream[i].done) continue;
      if (!upstream[i].job) {
        missing = fmt::format("{}[{}]", dep.stage, i);
        return std::nullopt;
      }
      jobs.insert(*upstream[i].job);
    }
    if (!jobs.empty()) parts.push_back("afterany:" + join(numeric_order(jobs), ":"));
  }
  return join(parts, ",");
}

class SlurmSubmitter {
 public:
  SlurmSubmitter(const Plan& plan, StateStore& store, Sources& sources)
      : plan_(plan), store_(store), sources_(sources), chunk_(static_cast<std::size_t>(std::max(1, max_array_size()))) {}

  // Submits the given tasks of one stage: one array per index chunk (MaxArraySize) and
  // dependency. Tasks whose inputs nothing can produce any more are left out, with a warning.
  // Returns the number of tasks submitted.
  std::size_t submit_stage(const PlannedStage& stage, const std::vector<std::size_t>& indices) {
    std::map<std::pair<std::size_t, std::string>, std::vector<std::size_t>> groups;  // (offset, dependency)
    std::size_t submitted = 0;
    for (std::size_t i : indices) {
      std::size_t offset = i / chunk_ * chunk_;
      std::string missing;
      auto dependency = dependency_of(stage, i, offset, sources_, missing);
      if (!dependency) {
        log::warn("{}[{}] not submitted: {} is neither done nor queued (resubmit its stage too)", stage.stage->name, i,
                  missing);
        continue;
      }
      groups[{offset, *dependency}].push_back(i);
    }
    for (auto& [key, group] : groups) {
      submit_array(stage, key.first, key.second, group);
      submitted += group.size();
    }
    return submitted;
  }

 private:
  void submit_array(const PlannedStage& stage, std::size_t offset, const std::string& dependency,
                    const std::vector<std::size_t>& indices) {
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
    for (std::size_t i : indices) sources_[s.stage][i] = {false, s.job_id, offset};
  }

  const Plan& plan_;
  StateStore& store_;
  Sources& sources_;
  std::size_t chunk_;
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

std::string user_name() {
  const passwd* pw = ::getpwuid(::getuid());
  return pw ? pw->pw_name : std::to_string(::getuid());
}

// Jobs of this run in the queue that no submission record knows (a submit interrupted between
// sbatch and its record, or a state.sqlite lost with its launch records): deciding without them
// could run their tasks twice, so refuse.
void refuse_unrecorded_jobs(const RunInfo& run, const std::vector<Submission>& recorded) {
  std::vector<std::string> names;
  for (const auto& stage : run.stages) names.push_back(fmt::format("xmtf.{}.{}", run.run, stage.name));
  std::set<std::string> known;
  for (const auto& s : recorded) known.insert(s.job_id);
  std::vector<std::string> unknown;
  std::string prefix = (run.dir / "").string();
  for (const auto& [job, command] : squeue_commands(names, user_name()))
    if (!known.count(job) && starts_with(command, prefix)) unknown.push_back(job);
  if (unknown.empty()) return;
  fail("jobs {} of run {} are in the SLURM queue, but no submission record in {} knows them (an interrupted submit, or "
       "a deleted state.sqlite): their tasks could run twice. Wait for them to end or cancel them (scancel {}), then "
       "try again",
       join(unknown, " "), run.run, run.dir.string(), join(unknown, " "));
}

// Points every queued task of a stage at the jobs that can now produce its inputs. Tasks of one
// job that need different dependencies are updated as "A_[ids]" groups.
std::size_t repoint_stage(const PlannedStage& stage, const StageStatus& status, const std::vector<Submission>& subs,
                          const Sources& sources, bool only_blocked, StateStore& store) {
  std::map<std::string, const Submission*> by_job;
  for (const auto& s : subs) by_job[s.job_id] = &s;
  // job -> dependency -> indices
  std::map<std::string, std::map<std::string, std::vector<std::size_t>>> wanted;
  std::map<std::string, std::size_t> queued_in_job;
  for (std::size_t i = 0; i < status.tasks.size(); ++i) {
    const TaskStatus& t = status.tasks[i];
    if (t.state != TaskState::pending && t.state != TaskState::blocked) continue;
    std::string job = job_of(t);
    auto sub = by_job.find(job);
    if (sub == by_job.end()) continue;
    ++queued_in_job[job];
    if (only_blocked && t.state != TaskState::blocked) continue;
    std::string missing;
    auto dependency = dependency_of(stage, i, sub->second->index_offset, sources, missing);
    if (!dependency) {
      log::warn("{}[{}] waits for {}, which is neither done nor queued: resubmit its stage too", stage.stage->name, i, missing);
      continue;
    }
    wanted[job][*dependency].push_back(i);
  }
  std::size_t updated = 0;
  for (const auto& [job, by_dependency] : wanted) {
    const Submission& sub = *by_job.at(job);
    for (const auto& [dependency, indices] : by_dependency) {
      bool whole_job = by_dependency.size() == 1 && indices.size() == queued_in_job[job];
      std::vector<std::size_t> local;
      for (std::size_t i : indices) local.push_back(i - sub.index_offset);
      std::string target = whole_job ? job : fmt::format("{}_[{}]", job, format_index_ranges(local));
      update_dependency(target, dependency);
      if (whole_job) store.set_dependency(sub.id, dependency);
      log::info("{}: {} now waits for {}", stage.stage->name, whole_job ? "job " + job : "tasks " + target,
                dependency.empty() ? "nothing (its inputs are done)" : dependency);
      updated += indices.size();
    }
  }
  return updated;
}

}  // namespace

void submit_run(const Plan& plan, const StaleReport* stale) {
  require_slurm();
  RunLock lock(plan.run_dir, "submit " + plan.manifest.name, kRunLockWaitSeconds);
  write_plan(plan);
  RunInfo run = read_run_info(plan.run_dir);
  StateStore store(plan.run_dir);
  refuse_unrecorded_jobs(run, store.submissions());
  RunStatus status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  for (const auto& s : status.stages)
    if (s.count(TaskState::pending) || s.count(TaskState::running) || s.count(TaskState::blocked))
      fail("run {} still has queued or running tasks in stage {}: use `xmtf status {}`, `xmtf resubmit` or `xmtf cancel`",
           run.run, s.name, run.run);
  if (stale && retire_stale(plan, *stale)) status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  Sources sources = sources_from(status, store.submissions());
  SlurmSubmitter submitter(plan, store, sources);
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
  RunLock lock(plan.run_dir, "resubmit " + plan.manifest.name, kRunLockWaitSeconds);
  write_plan(plan);
  RunInfo run = read_run_info(plan.run_dir);
  StateStore store(plan.run_dir);
  refuse_unrecorded_jobs(run, store.submissions());
  RunStatus status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  if (stale && retire_stale(plan, *stale, only_stage)) status = query_status(run, plan.manifest.slurm.lost_after_seconds);
  std::vector<Submission> before = store.submissions();
  Sources sources = sources_from(status, before);
  SlurmSubmitter submitter(plan, store, sources);

  std::set<std::string> resubmitted;
  bool anything_to_do = false;
  for (const auto& stage : plan.stages) {
    if (!only_stage.empty() && stage.stage->name != only_stage) continue;
    auto todo = indices_in(status.stage(stage.stage->name), {TaskState::failed, TaskState::never_ran});
    if (todo.empty()) continue;
    anything_to_do = true;
    log::info("{}: resubmitting {} task(s): {}", stage.stage->name, todo.size(), format_index_ranges(todo));
    if (submitter.submit_stage(stage, todo) > 0) resubmitted.insert(stage.stage->name);
  }
  // Queued dependents of what was resubmitted now wait for the new jobs as well as for the old
  // ones that still hold their other inputs; blocked tasks (a dependency SLURM can no longer
  // satisfy) are re-pointed whatever was resubmitted.
  std::size_t repointed = 0;
  for (const auto& stage : plan.stages) {
    bool downstream = std::any_of(stage.after.begin(), stage.after.end(),
                                  [&](const Dependency& d) { return resubmitted.count(d.stage); });
    repointed += repoint_stage(stage, status.stage(stage.stage->name), before, sources, !downstream, store);
  }
  if (resubmitted.empty() && repointed == 0) {
    if (anything_to_do) log::warn("run {}: nothing resubmitted: what failed needs inputs that nothing will produce", run.run);
    else log::info("run {}: nothing failed, missing or stale; nothing resubmitted", run.run);
  }
}

void cancel_run(const RunInfo& run) {
  require_slurm();
  RunLock lock(run.dir, "cancel " + run.run, kRunLockWaitSeconds);
  StateStore store(run.dir);
  RunStatus status = query_status(run);
  std::set<std::string> active;
  for (const auto& s : status.stages)
    for (const auto& t : s.tasks)
      if (is_queued(t.state) && !t.job.empty()) active.insert(job_of(t));
  if (active.empty()) {
    log::info("run {}: no queued or running jobs", run.run);
    return;
  }
  std::vector<std::string> jobs = numeric_order(active);
  scancel(jobs);
  for (const auto& sub : store.submissions())
    if (active.count(sub.job_id)) store.mark_cancelled(sub.id);
  log::info("run {}: cancelled {} job(s): {}", run.run, jobs.size(), join(jobs, " "));
}

}  // namespace xmtf::sched
