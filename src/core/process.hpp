#pragma once
// Running other programs without a shell: argv goes to execvp as it is, so nothing in it is
// ever interpreted. run_process() captures output (for sbatch, squeue, scontrol, ...).
#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace xmtf {

struct ProcessOptions {
  double timeout_seconds = 0;                                // 0 = none; then SIGKILL
  std::vector<std::pair<std::string, std::string>> set_env;  // added / replaced
  std::vector<std::string> unset_env_prefixes;               // e.g. {"SLURM_"}
  std::string stdin_text;
  std::string working_directory;
  // The child leads a process group of its own (setpgid), so that it and everything it starts
  // can be signalled together with kill(-pid, ...).
  bool new_process_group = false;
  // Signal the child gets when the thread that started it dies (PR_SET_PDEATHSIG); 0 = none.
  int parent_death_signal = 0;
};

inline ProcessOptions with_timeout(double seconds) {
  ProcessOptions options;
  options.timeout_seconds = seconds;
  return options;
}

struct ProcessResult {
  int exit_code = -1;  // 128 + signal when killed by a signal, 127 when it could not start
  std::string out;
  std::string err;
  bool timed_out = false;
};

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

// Starts argv with stdout and stderr to `log_fd` (or inherited when -1); returns the pid.
pid_t spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options, int log_fd = -1);

// Waits for pid; returns the exit status as run_process does.
int wait_process(pid_t pid);

// Exit status as text: "exit 3", "killed by signal 9 (SIGKILL)".
std::string describe_exit(int exit_code);

}  // namespace xmtf
