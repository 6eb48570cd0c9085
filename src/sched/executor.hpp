#pragma once
// The two executors of a plan. Both run every task through the same wrapper (`xmtf task`),
// so markers, logs and skip-if-done behave the same locally and on SLURM.
#include <string>

#include "sched/plan.hpp"
#include "sched/stale.hpp"
#include "sched/status.hpp"

namespace xmtf::sched {

// Runs the DAG on this machine: tasks in parallel up to max_parallel (cores by default), a
// task starting when what it depends on is done (task-to-task for aligned arrays). Tasks
// already done are skipped, so a rerun after a failure reruns only what failed. Returns 0 when
// every task is done. With `stale`, its stale tasks are retired first (stale.hpp) and rerun.
int run_local(const Plan& plan, const StaleReport* stale = nullptr);

// sbatch every stage in dependency order (arrays split at MaxArraySize, --dependency chained).
// Tasks already done are not submitted; with `stale`, its stale tasks are retired and submitted.
void submit_run(const Plan& plan, const StaleReport* stale = nullptr);

// Submits exactly the failed or missing tasks (of one stage or all), and with `stale` the stale
// ones like failed ones, then points the pending dependents at the new jobs.
void resubmit_run(const Plan& plan, const std::string& only_stage, const StaleReport* stale = nullptr);

void cancel_run(const RunInfo& run);

}  // namespace xmtf::sched
