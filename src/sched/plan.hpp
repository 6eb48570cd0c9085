#pragma once
// Manifest -> DAG -> files. `xmtf plan` writes, under <workdir>/jobs/<run>/:
//   plan.json                       stage order and dependencies (read by status / resubmit)
//   <stage>/stage.json, tasks.tsv   the stage spec and its task table (spec.hpp)
//   <stage>/job.sbatch              the SLURM script (small: #SBATCH lines, setup, exec xmtf task)
//   <stage>/logs/, <stage>/markers/
#include <filesystem>
#include <string>
#include <vector>

#include "sched/manifest.hpp"
#include "sched/spec.hpp"

namespace xmtf::sched {

struct Dependency {
  std::string stage;
  bool aligned = false;  // same array: task i waits only for task i (SLURM aftercorr)
};

// A stage as plan.json records it.
struct PlanStageInfo {
  std::string name;
  std::size_t tasks = 0;
  std::vector<Dependency> after;
};

struct PlannedStage {
  const Stage* stage = nullptr;
  std::vector<Dependency> after;
  StageSpec spec;
  std::vector<std::vector<std::string>> rows;  // task index -> parameter values
  std::filesystem::path dir;                   // jobs/<run>/<stage>
};

struct Plan {
  Manifest manifest;
  std::filesystem::path run_dir;    // <workdir>/jobs/<run>
  std::filesystem::path xmtf_path;  // the xmtf executable that tasks call back into
  std::vector<PlannedStage> stages;  // in dependency order

  const PlannedStage* find(const std::string& stage_name) const;
  std::size_t task_count() const;
};

// Stage names in an order where every stage comes after its dependencies (manifest order
// among equals). Throws xmtf::Error printing the cycle, e.g. "a -> b -> c -> a".
std::vector<std::string> dependency_order(const Manifest& manifest);

// Two stages are aligned when their arrays have the same axes and values.
bool arrays_aligned(const Stage& a, const Stage& b);

// Builds the plan in memory; checks executables and resources against this machine (or the
// SLURM partition when sinfo answers). Throws xmtf::Error listing every problem.
Plan make_plan(Manifest manifest, const std::filesystem::path& xmtf_path, bool check_machine = true);

// The words of the MPI launcher the executor uses for stage specs.
std::vector<std::string> launcher_words(const Manifest& manifest);

void write_plan(const Plan& plan);
std::string sbatch_script(const Plan& plan, const PlannedStage& stage, const std::filesystem::path& spec_path);
std::string describe_plan(const Plan& plan);

// Where an executable lives: a path with '/' relative to workdir, else next to xmtf, else PATH.
std::filesystem::path find_executable(const std::string& name, const std::filesystem::path& xmtf_dir,
                                      const std::filesystem::path& workdir);

// The path of the running executable (/proc/self/exe).
std::filesystem::path self_executable();

}  // namespace xmtf::sched
