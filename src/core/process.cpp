#include "core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string_view>
#include <fmt/format.h>

#include "core/error.hpp"

extern char** environ;

namespace xmtf {
namespace {

// Everything the child needs is built before fork(): between fork and exec a child of a
// multi-threaded parent may only make async-signal-safe calls (no malloc, no setenv).
struct PreparedExec {
  std::vector<std::string> arg_storage, env_storage;
  std::vector<char*> argv, envp;
  std::string working_directory;
  std::string cannot_run_message;
  bool new_process_group;
  int parent_death_signal;
  pid_t parent = ::getpid();

  PreparedExec(const std::vector<std::string>& args, const ProcessOptions& options)
      : arg_storage(args),
        working_directory(options.working_directory),
        new_process_group(options.new_process_group),
        parent_death_signal(options.parent_death_signal) {
    for (char** e = environ; *e; ++e) {
      std::string_view entry(*e);
      std::string_view name = entry.substr(0, entry.find('='));
      bool dropped = false;
      for (const auto& prefix : options.unset_env_prefixes) dropped |= name.substr(0, prefix.size()) == prefix;
      for (const auto& [key, value] : options.set_env) dropped |= name == key;
      if (!dropped) env_storage.emplace_back(entry);
    }
    for (const auto& [key, value] : options.set_env) env_storage.push_back(key + "=" + value);
    for (auto& a : arg_storage) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);
    cannot_run_message = fmt::format("cannot run {}\n", args[0]);
  }

  [[noreturn]] void exec_in_child() {
    if (new_process_group) ::setpgid(0, 0);
    if (parent_death_signal) {
      ::prctl(PR_SET_PDEATHSIG, parent_death_signal);
      if (::getppid() != parent) _exit(128 + parent_death_signal);  // the parent died before prctl
    }
    if (!working_directory.empty() && ::chdir(working_directory.c_str()) != 0) _exit(127);
    ::execvpe(argv[0], argv.data(), envp.data());
    [[maybe_unused]] auto ignored = ::write(2, cannot_run_message.data(), cannot_run_message.size());
    _exit(127);
  }
};

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options) {
  if (argv.empty()) fail("run_process: empty command");
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) || ::pipe2(err_pipe, O_CLOEXEC) || ::pipe2(in_pipe, O_CLOEXEC))
    fail("pipe: {}", errno_text(errno));
  PreparedExec exec(argv, options);
  pid_t pid = ::fork();
  if (pid < 0) fail("fork: {}", errno_text(errno));
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    exec.exec_in_child();
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  ::close(in_pipe[0]);
  if (!options.stdin_text.empty()) {
    [[maybe_unused]] auto n = ::write(in_pipe[1], options.stdin_text.data(), options.stdin_text.size());
  }
  ::close(in_pipe[1]);

  ProcessResult result;
  auto start = std::chrono::steady_clock::now();
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_count = 2;
  char buffer[65536];
  while (open_count > 0) {
    int wait_ms = -1;
    if (options.timeout_seconds > 0) {
      double left = options.timeout_seconds - std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (left <= 0) {
        ::kill(pid, SIGKILL);
        result.timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left * 1000) + 1;
    }
    if (::poll(fds, 2, wait_ms) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buffer, n);
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) ::close(f.fd);
  result.exit_code = wait_process(pid);
  return result;
}

pid_t spawn_process(const std::vector<std::string>& argv, const ProcessOptions& options, int log_fd) {
  if (argv.empty()) fail("spawn_process: empty command");
  PreparedExec exec(argv, options);
  pid_t pid = ::fork();
  if (pid < 0) fail("fork: {}", errno_text(errno));
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    exec.exec_in_child();
  }
  if (options.new_process_group) ::setpgid(pid, pid);  // also here: no window where -pid names no group
  return pid;
}

int wait_process(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return decode_status(status);
}

std::string describe_exit(int exit_code) {
  if (exit_code > 128 && exit_code < 128 + 65)
    return fmt::format("killed by signal {} ({})", exit_code - 128, ::strsignal(exit_code - 128));
  if (exit_code == 127) return "exit 127 (command not found or could not start)";
  return fmt::format("exit {}", exit_code);
}

}  // namespace xmtf
