// xmtf: the manifest-driven scheduler. plan / submit / status / resubmit / cancel / run, and
// `task`, the wrapper every job calls back into.
#include <cstdlib>
#include <fmt/format.h>
#include <iostream>

#include "core/cli.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "sched/executor.hpp"
#include "sched/manifest.hpp"
#include "sched/plan.hpp"
#include "sched/status.hpp"
#include "sched/task.hpp"

using namespace xmtf;
using namespace xmtf::sched;

namespace {

bool looks_like_manifest(const std::string& target) {
  return target.size() > 5 && target.substr(target.size() - 5) == ".toml";
}

Plan plan_from_manifest(const std::string& manifest_path, bool force_local = false) {
  Manifest manifest = load_manifest(manifest_path);
  if (force_local) manifest.executor = "local";
  return make_plan(std::move(manifest), self_executable());
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
  bool check = false;

  auto* plan = app.add_subcommand("plan", "validate a manifest and write jobs/<run>/ (scripts, task tables); submits nothing");
  plan->add_option("manifest", manifest, "the run manifest (TOML)")->required();

  auto* submit = app.add_subcommand("submit", "plan, then sbatch every stage chained by --dependency");
  submit->add_option("manifest", manifest, "the run manifest (TOML)")->required();

  auto* status = app.add_subcommand("status", "per stage: done / failed / running / pending / blocked / never-ran, failed and blocked tasks with their logs");
  status->add_option("run", target, "run name (jobs/<run>) or manifest")->required();
  status->add_option("--workdir", workdir, "where jobs/ lives (default .)");
  status->add_flag("--check", check, "exit 3 unless every task is done");

  auto* resubmit = app.add_subcommand("resubmit", "submit exactly the failed or missing tasks and re-chain their dependents");
  resubmit->add_option("run", target, "run name (jobs/<run>) or manifest")->required();
  resubmit->add_option("--stage", stage, "only this stage");
  resubmit->add_option("--workdir", workdir, "where jobs/ lives (default .)");

  auto* cancel = app.add_subcommand("cancel", "scancel the run's queued and running jobs");
  cancel->add_option("run", target, "run name (jobs/<run>) or manifest")->required();
  cancel->add_option("--workdir", workdir, "where jobs/ lives (default .)");

  auto* run = app.add_subcommand("run", "run the manifest's DAG on this machine, without SLURM (reruns only what is not done)");
  run->add_option("manifest", manifest, "the run manifest (TOML)")->required();

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
      return 0;
    }
    if (*submit) {
      Plan p = plan_from_manifest(manifest);
      std::cout << describe_plan(p) << std::flush;
      submit_run(p);
      return 0;
    }
    if (*status) {
      RunInfo info = read_run_info(run_dir_of(target, workdir));
      RunStatus s = query_status(info);
      std::cout << format_status(info, s) << std::flush;
      return check && !s.all_done() ? 3 : 0;
    }
    if (*resubmit) {
      resubmit_run(plan_of_run(target, workdir), stage);
      return 0;
    }
    if (*cancel) {
      cancel_run(read_run_info(run_dir_of(target, workdir)));
      return 0;
    }
    if (*run) {
      Plan p = plan_from_manifest(manifest, /*force_local=*/true);
      std::cout << describe_plan(p) << std::flush;
      return run_local(p);
    }
    if (*task) {
      if (*index_option) task_request.index = task_index;
      return run_task(task_request);
    }
    return 2;
  });
}
