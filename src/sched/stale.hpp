#pragma once
// Stale tasks: done, but their fingerprint (fingerprint.hpp) differs from the one they would
// have now under their stage's `rerun_on` triggers. Upstream executions count as inputs, so
// everything downstream of a task that reruns is stale too. A done marker without a
// fingerprint (written before fingerprints) is "fingerprint unknown" and stale under any
// trigger: it reruns once, and the pipeline programs skip the work whose outputs are up to date.
//
// `xmtf run`, `submit` and `resubmit` retire the stale tasks they rerun: <i>.done is renamed to
// <i>.stale (kept: the task wrapper reads the previous run's fingerprint from it), so every
// executor sees them as not done and reruns them like failed ones.
#include <string>
#include <vector>

#include "sched/plan.hpp"
#include "sched/status.hpp"

namespace xmtf::sched {

struct RerunPolicy {
  bool rerun_stale = true;         // false: --no-rerun-stale (stale tasks are reported, kept)
  std::vector<std::string> force;  // --force STAGE: every done task of these stages reruns
};

struct StaleTask {
  std::size_t index = 0;
  std::string label;                // "shard[et]", "train[0]"
  std::vector<std::string> reasons;
  bool forced = false;
};

struct StageStaleness {
  std::string stage;
  std::size_t tasks = 0, done = 0;
  std::vector<StaleTask> stale;
};

struct StaleReport {
  RerunPolicy policy;
  std::vector<StageStaleness> stages;  // in plan order
  std::size_t stale_count() const;
  std::size_t done_count() const;
  const StageStaleness* find(const std::string& stage) const;
  // The stale tasks the policy reruns (all of them, or only the forced ones).
  bool reruns(const StaleTask& task) const { return policy.rerun_stale || task.forced; }
};

// Reads the done markers of every stage and compares their fingerprints with the current ones
// (stat calls on the inputs; hashes only for small files whose stat changed). Throws when
// --force names no stage of the plan.
StaleReport find_stale(const Plan& plan, const RerunPolicy& policy = {});

// Per stage: how many are stale, then one line per task (identical reasons grouped), e.g.
//   shard       1 of 4 stale
//     shard[et]: data/xp3/et/a.jsonl changed (size 199470 -> 19947)
std::string format_stale(const StaleReport& report, std::size_t max_lines_per_stage = 8);

// Renames <i>.done to <i>.stale for the stale tasks the policy reruns (of one stage, or all);
// returns how many.
std::size_t retire_stale(const Plan& plan, const StaleReport& report, const std::string& only_stage = "");

// `--dry-run`: per stage, the tasks a run (or submission) would start: failed and never-ran
// ones, and the stale ones the policy reruns. Queued or running tasks are left out.
std::string describe_pending_work(const Plan& plan, const StaleReport& report, const RunStatus& status);

// "shard[et]" for a one-axis array, "eval[xcopa,en]" for a product, "train[0]" without array.
std::string task_label(const PlannedStage& stage, std::size_t index);

// The RunInfo of a plan, without reading plan.json (for a status before anything is written).
RunInfo run_info_of(const Plan& plan);

}  // namespace xmtf::sched
