#include "core/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fmt/format.h>

#include "core/error.hpp"

extern char** environ;

namespace xmtf {
namespace {

// In the child, between fork and exec: only async-signal-safe work plus setenv/unsetenv,
// which is fine here because the parent is single-threaded at the point of each fork we make,
// or accepts the (documented) glibc behaviour.
[[noreturn]] void exec_child(const std::vector<std::string>& argv, const ProcessOptions& options) {
  for (const auto& prefix : options.unset_env_prefixes) {
    std::vector<std::string> names;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, prefix.c_str(), prefix.size()) == 0) {
        const char* eq = std::strchr(*e, '=');
        names.emplace_back(*e, eq ? eq - *e : std::strlen(*e));
      }
    for (const auto& n : names) ::unsetenv(n.c_str());
  }
  for (const auto& [k, v] : options.set_env) ::setenv(k.c_str(), v.c_str(), 1);
  if (!options.working_directory.empty() && ::chdir(options.working_directory.c_str()) != 0) _exit(127);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  std::string message = fmt::format("cannot run {}: {}\n", argv[0], std::strerror(errno));
  [[maybe_unused]] auto ignored = ::write(2, message.data(), message.size());
  _exit(127);
}

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
  pid_t pid = ::fork();
  if (pid < 0) fail("fork: {}", errno_text(errno));
  if (pid == 0) {
    ::dup2(in_pipe[0], 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    exec_child(argv, options);
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
  pid_t pid = ::fork();
  if (pid < 0) fail("fork: {}", errno_text(errno));
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    exec_child(argv, options);
  }
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
