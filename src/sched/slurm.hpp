#pragma once
// The SLURM command-line client as the scheduler uses it: sbatch --parsable, one squeue per
// status query, scontrol for MaxArraySize and dependency updates, scancel. Every call runs with
// the SLURM_* variables of an enclosing job cleared (SLURM_CONF kept), so submitting from inside
// a job does not inherit that job's settings.
#include <map>
#include <string>
#include <utility>
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
// Every query throws xmtf::Error when SLURM does not answer (bad SLURM_CONF, controller down):
// a query that fails never reads as "nothing queued".
QueueSnapshot squeue(const std::vector<std::string>& job_ids);
// (array job id, script path) of every job of these names (xmtf.<run>.<stage>) and this user that
// slurmctld still knows, whether or not a submission record knows it.
std::vector<std::pair<std::string, std::string>> squeue_commands(const std::vector<std::string>& job_names,
                                                                 const std::string& user);
// States from accounting where the cluster has it (final states of jobs slurmctld forgot after
// MinJobAge, tasks scancel'd before they started); an empty snapshot where sacct is missing or
// answers "accounting storage is disabled".
bool sacct_available();
QueueSnapshot sacct(const std::vector<std::string>& job_ids, double since_unix_time);
// Sets Dependency= on pending tasks: job_id is "A" (every pending task of the array) or
// "A_[1,3-5]". Tasks that already ended or started answer so, which is fine.
void update_dependency(const std::string& job_id, const std::string& dependency);
void scancel(const std::vector<std::string>& job_ids);

bool is_active_state(const std::string& state);  // pending, running, configuring, completing, ...

}  // namespace xmtf::sched
