// xmtf: the manifest-driven scheduler. plan / submit / status / resubmit / cancel / run, and
// `task`, the wrapper every job calls back into.
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>
#include <optional>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "sched/executor.hpp"
#include "sched/manifest.hpp"
#include "sched/fingerprint.hpp"
#include "sched/plan.hpp"
#include "sched/stale.hpp"
#include "sched/status.hpp"
#include "sched/task.hpp"

using namespace xmtf;
using namespace xmtf::sched;

namespace {

bool looks_like_manifest(const std::string& target) {
  return target.size() > 5 && target.substr(target.size() - 5) == ".toml";
}

Plan plan_from_manifest(const std::string& manifest_path, bool force_local = false, bool check_machine = true) {
  Manifest manifest = load_manifest(manifest_path);
  if (force_local) manifest.executor = "local";
  Plan plan = make_plan(std::move(manifest), self_executable(), check_machine);
  identify_programs(plan);
  return plan;
}

// What changed since the done tasks ran (stale.hpp), printed before anything runs.
StaleReport report_stale(const Plan& plan, const RerunPolicy& policy) {
  StaleReport report = find_stale(plan, policy);
  std::cout << format_stale(report) << std::flush;
  return report;
}

// For status: the stale tasks against the manifest as it is now, when it can be read.
std::optional<StaleReport> stale_for_status(const RunInfo& info) {
  try {
    Plan plan = plan_from_manifest(info.manifest, info.executor == "local", /*check_machine=*/false);
    if (plan.run_dir != info.dir) return std::nullopt;  // the manifest now names another run
    return find_stale(plan);
  } catch (const Error& e) {
    std::cout << fmt::format("(stale tasks not checked: {})\n", e.what());
    return std::nullopt;
  }
}

void add_rerun_options(CLI::App* command, RerunPolicy& policy, bool& dry_run) {
  command->add_option("--force", policy.force, "rerun every done task of this stage (repeatable), and what depends on it");
  command->add_flag("!--no-rerun-stale", policy.rerun_stale,
                    "leave stale tasks (done, but their options, inputs or program changed) as they are");
  command->add_flag("--dry-run", dry_run, "print what would run (and why it is stale) without running anything");
}

// RUN is a run name (jobs/<RUN> under the working directory) or a manifest.
fs::path run_dir_of(const std::string& target, const std::string& workdir) {
  if (looks_like_manifest(target)) {
    Manifest m = load_manifest(target);
    return m.workdir / "jobs" / m.name;
  }
  fs::path dir = fs::absolute(fs::path(workdir) / "jobs" / target).lexically_normal();
  if (!fs::exists(dir / "plan.json")) fail("no run '{}' here ({} has no plan.json)", target, dir.string());
  return dir;
}

// For resubmit: the plan of an existing run, from the manifest it was planned from.
Plan plan_of_run(const std::string& target, const std::string& workdir) {
  if (looks_like_manifest(target)) return plan_from_manifest(target);
  RunInfo info = read_run_info(run_dir_of(target, workdir));
  return plan_from_manifest(info.manifest);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"xmtf: plan, submit, track and resubmit the BLOOMZ/mT0 multitask-finetuning pipeline from a TOML manifest", "xmtf"};
  add_logging_options(app);
  app.require_subcommand(1);
  app.fallthrough();  // --log-level and -q also after the subcommand
  std::string manifest, target, workdir = ".", stage;
  bool check = false, dry_run = false;
  RerunPolicy policy;

  auto* plan = app.add_subcommand("plan", "validate a manifest and write jobs/<run>/ (scripts, task tables); submits nothing");
  plan->add_option("manifest", manifest, "the run manifest (TOML)")->required();

  auto* submit = app.add_subcommand("submit", "plan, then sbatch every stage chained by --dependency");
  submit->add_option("manifest", manifest, "the run manifest (TOML)")->required();
  add_rerun_options(submit, policy, dry_run);

  auto* status = app.add_subcommand("status", "per stage: done / failed / running / pending / blocked / never-ran, failed and blocked tasks with their logs");
  status->add_option("run", target, "run name (jobs/<run>) or manifest")->required();
  status->add_option("--workdir", workdir, "where jobs/ lives (default .)");
  status->add_flag("--check", check, "exit 3 unless every task is done and none is stale");

  auto* resubmit = app.add_subcommand("resubmit", "submit exactly the failed, missing or stale tasks and re-chain their dependents");
  resubmit->add_option("run", target, "run name (jobs/<run>) or manifest")->required();
  resubmit->add_option("--stage", stage, "only this stage");
  resubmit->add_option("--workdir", workdir, "where jobs/ lives (default .)");
  add_rerun_options(resubmit, policy, dry_run);

  auto* cancel = app.add_subcommand("cancel", "scancel the run's queued and running jobs");
  cancel->add_option("run", target, "run name (jobs/<run>) or manifest")->required();
  cancel->add_option("--workdir", workdir, "where jobs/ lives (default .)");

  auto* run = app.add_subcommand("run", "run the manifest's DAG on this machine, without SLURM (reruns only what is not done or stale)");
  run->add_option("manifest", manifest, "the run manifest (TOML)")->required();
  add_rerun_options(run, policy, dry_run);

  TaskRequest task_request;
  std::size_t task_index = 0;
  auto* task = app.add_subcommand("task", "run one task of a planned stage (called by job scripts and `xmtf run`)");
  task->add_option("--spec", task_request.spec_path, "the stage spec (jobs/<run>/<stage>/stage.json)")->required();
  auto* index_option = task->add_option("--index", task_index, "task index (default: $SLURM_ARRAY_TASK_ID + $XMTF_INDEX_OFFSET)");
  task->add_flag("--local", task_request.local, "launched by the local executor");

  return run_main(app, argc, argv, [&]() -> int {
    if (*plan) {
      Plan p = plan_from_manifest(manifest);
      write_plan(p);
      std::cout << describe_plan(p) << std::flush;
      report_stale(p, policy);
      return 0;
    }
    if (*submit) {
      Plan p = plan_from_manifest(manifest);
      std::cout << describe_plan(p) << std::flush;
      StaleReport stale = report_stale(p, policy);
      if (dry_run) {
        std::cout << describe_pending_work(p, stale, query_status(run_info_of(p), p.manifest.slurm.lost_after_seconds));
        return 0;
      }
      submit_run(p, &stale);
      return 0;
    }
    if (*status) {
      RunInfo info = read_run_info(run_dir_of(target, workdir));
      RunStatus s = query_status(info);
      std::cout << format_status(info, s) << std::flush;
      std::optional<StaleReport> stale = stale_for_status(info);
      if (stale) std::cout << format_stale(*stale) << std::flush;
      return check && (!s.all_done() || (stale && stale->stale_count())) ? 3 : 0;
    }
    if (*resubmit) {
      Plan p = plan_of_run(target, workdir);
      StaleReport stale = report_stale(p, policy);
      if (dry_run) {
        std::cout << describe_pending_work(p, stale, query_status(run_info_of(p), p.manifest.slurm.lost_after_seconds));
        return 0;
      }
      resubmit_run(p, stage, &stale);
      return 0;
    }
    if (*cancel) {
      cancel_run(read_run_info(run_dir_of(target, workdir)));
      return 0;
    }
    if (*run) {
      Plan p = plan_from_manifest(manifest, /*force_local=*/true);
      std::cout << describe_plan(p) << std::flush;
      StaleReport stale = report_stale(p, policy);
      if (dry_run) {
        std::cout << describe_pending_work(p, stale, query_status(run_info_of(p)));
        return 0;
      }
      return run_local(p, &stale);
    }
    if (*task) {
      if (*index_option) task_request.index = task_index;
      return run_task(task_request);
    }
    return 2;
  });
}
