#pragma once
// The SLURM command-line client as the scheduler uses it: sbatch --parsable, one squeue per
// status query, scontrol for MaxArraySize and dependency updates, scancel. Every call runs with
// the SLURM_* variables of an enclosing job cleared (SLURM_CONF kept), so submitting from inside
// a job does not inherit that job's settings.
#include <map>
#include <string>
#include <vector>

namespace xmtf::sched {

struct SlurmTask {
  std::string state;   // PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...
  std::string reason;  // e.g. DependencyNeverSatisfied
};

// array job id -> array task id -> state (from `squeue -r -h -t all`)
using QueueSnapshot = std::map<std::string, std::map<std::size_t, SlurmTask>>;

bool slurm_available();
std::string sbatch(const std::vector<std::string>& options, const std::string& script_path);
int max_array_size();  // MaxArraySize from scontrol show config (SLURM's default 1001)
QueueSnapshot squeue(const std::vector<std::string>& job_ids);
// Final states of jobs slurmctld has forgotten (after MinJobAge), from accounting when the
// cluster has it; an empty snapshot where sacct answers "accounting storage is disabled".
QueueSnapshot sacct(const std::vector<std::string>& job_ids, double since_unix_time);
// Sets Dependency= on a pending job; finished tasks answer "already finished", which is fine.
void update_dependency(const std::string& job_id, const std::string& dependency);
void scancel(const std::vector<std::string>& job_ids);

bool is_active_state(const std::string& state);  // pending, running, configuring, completing, ...

}  // namespace xmtf::sched
