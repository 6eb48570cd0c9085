#pragma once
// `xmtf task`: the wrapper that runs one array task, inside a SLURM job or under the local
// executor. It finds its task (--index, or $SLURM_ARRAY_TASK_ID + $XMTF_INDEX_OFFSET), skips it
// when its done-marker exists, runs the stage program (under the MPI launcher for MPI stages),
// forwards SIGTERM/SIGUSR1 so the program can checkpoint, checks declared outputs, and writes
// the marker atomically.
#include <filesystem>
#include <optional>

namespace xmtf::sched {

struct TaskRequest {
  std::filesystem::path spec_path;
  std::optional<std::size_t> index;  // else from the SLURM environment
  bool local = false;                // launched by the local executor (logs named local_<i>.out)
};

// Returns the exit status for the wrapper: 0 when the task is done.
int run_task(const TaskRequest& request);

std::string host_name();
double unix_now();

}  // namespace xmtf::sched
