#pragma once
// `xmtf task`: the wrapper that runs one array task, inside a SLURM job or under the local
// executor. It finds its task (--index, or $SLURM_ARRAY_TASK_ID + $XMTF_INDEX_OFFSET), skips it
// when its done-marker exists, runs the stage program (under the MPI launcher for MPI stages),
// forwards SIGTERM/SIGUSR1 so the program can checkpoint, checks declared outputs, and writes
// the marker atomically.
#include <filesystem>
#include <optional>
#include <string>

#include "sched/markers.hpp"

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

// When a process started (clock ticks since boot, /proc/<pid>/stat); 0 when there is no such process.
long long process_start_ticks(long pid);
// Whether the attempt a .running marker describes still has a process alive on this host: its
// wrapper (the same pid and start time) or anything in its program's process group.
bool attempt_alive_here(const Marker& running);

}  // namespace xmtf::sched
