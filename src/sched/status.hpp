#pragma once
// The state of every task of a run. Markers are the ground truth; the SLURM queue (one squeue
// call per query) explains tasks without a marker: pending, running, or gone without one (an
// out-of-memory kill, a node failure), which counts as failed once lost_after_seconds passed.
#include <filesystem>
#include <string>
#include <vector>

#include "sched/plan.hpp"
#include "sched/slurm.hpp"
#include "sched/state.hpp"

namespace xmtf::sched {

// What plan.json records about a run: enough for status, resubmit and cancel.
struct RunInfo {
  std::string run, executor, manifest, workdir, xmtf;
  std::filesystem::path dir;
  std::vector<PlanStageInfo> stages;
  const PlanStageInfo* find(const std::string& stage) const;
};
RunInfo read_run_info(const std::filesystem::path& run_dir);

// blocked: queued, but waiting for a dependency SLURM can no longer satisfy (DependencyNeverSatisfied:
// an upstream task it waits for failed); `xmtf resubmit` re-points it.
enum class TaskState { done, failed, running, pending, blocked, never_ran };
const char* task_state_name(TaskState state);

struct TaskStatus {
  TaskState state = TaskState::never_ran;
  std::string detail;  // why failed or blocked / pending reason
  std::string log;
  std::string job;     // SLURM job of the latest submission, "A_i"
};

struct StageStatus {
  std::string name;
  std::vector<TaskStatus> tasks;
  std::size_t count(TaskState state) const;
};

struct RunStatus {
  std::string run;
  std::vector<StageStatus> stages;
  const StageStatus& stage(const std::string& name) const;
  bool all_done() const;
};

struct StatusInputs {
  std::vector<Submission> submissions;
  QueueSnapshot queue;
  double now = 0;
  int lost_after_seconds = 120;
};

RunStatus compute_status(const RunInfo& run, const StatusInputs& inputs);
// Gathers the inputs (the run's submissions, one squeue call, sacct where accounting exists) and
// computes. Throws xmtf::Error when SLURM cannot be asked about a run that was submitted to it.
RunStatus query_status(const RunInfo& run, int lost_after_seconds = 120);
std::string format_status(const RunInfo& run, const RunStatus& status, std::size_t max_failed_listed = 50);

}  // namespace xmtf::sched
