#include "eval/sandbox.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "core/error.hpp"
#include "core/text.hpp"

namespace xmtf::eval {
namespace {

// What the sandbox's first process (A) tells the parent: how its program ended, or at which
// step of the set-up it failed and with which errno.
enum class Stage : int {
  ran = 0,
  unshare,
  network_refused,
  sync,
  identity,
  mount_private,
  mount_bind,
  mount_readonly,
  mount_writable_folder,
  fork,
  wait,
};

struct Report {
  Stage stage = Stage::ran;
  int error = 0;
  int exited = 0;  // 1: exit_code is valid; 0: signal is valid
  int exit_code = 0;
  int signal = 0;
  int timed_out = 0;
  int network_isolated = 0;
};

const char* stage_text(Stage stage) {
  switch (stage) {
    case Stage::ran: return "ran";
    case Stage::unshare: return "unshare(user, mount, pid namespaces)";
    case Stage::network_refused: return "unshare(network namespace)";
    case Stage::sync: return "waiting for the uid/gid maps";
    case Stage::identity: return "becoming the sandbox user";
    case Stage::mount_private: return "making mounts private";
    case Stage::mount_bind: return "bind-mounting the private folder";
    case Stage::mount_readonly: return "mount_setattr(/, read-only, recursive)";
    case Stage::mount_writable_folder: return "making the private folder writable";
    case Stage::fork: return "fork";
    case Stage::wait: return "waiting for the program";
  }
  return "?";
}

// Everything the forked children use, prepared before fork: after fork in a threaded process
// only async-signal-safe calls are allowed (no allocation).
struct ChildPlan {
  const char* folder;
  const char* python;
  char* const* argv;
  char* const* envp;
  int sync_write, go_read, report_write;
  bool allow_network, refuse_network;
  int wall_ms;
  rlim_t cpu_seconds, memory_bytes, file_bytes, processes, open_files;
};

void send_report(int fd, const Report& report) {
  ssize_t unused = ::write(fd, &report, sizeof report);
  (void)unused;
}

[[noreturn]] void fail_child(const ChildPlan& plan, Stage stage, int error) {
  Report report;
  report.stage = stage;
  report.error = error;
  send_report(plan.report_write, report);
  ::_exit(1);
}

void set_limit(int resource, rlim_t value) {
  struct rlimit limit{value, value};
  ::setrlimit(resource, &limit);
}

// B: PID 1 of the new PID namespace; becomes the program.
[[noreturn]] void run_program(const ChildPlan& plan) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::chdir(plan.folder) != 0) ::_exit(126);
  const int null = ::open("/dev/null", O_RDWR);
  const int err = ::open("stderr.txt", O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (null < 0 || err < 0) ::_exit(126);
  ::dup2(null, 0);
  ::dup2(null, 1);
  ::dup2(err, 2);
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
    for (int fd = 3; fd < 4096; ++fd) ::close(fd);
  struct rlimit cpu{plan.cpu_seconds, plan.cpu_seconds + 1};
  ::setrlimit(RLIMIT_CPU, &cpu);
  set_limit(RLIMIT_AS, plan.memory_bytes);
  set_limit(RLIMIT_FSIZE, plan.file_bytes);
  set_limit(RLIMIT_NPROC, plan.processes);
  set_limit(RLIMIT_NOFILE, plan.open_files);
  set_limit(RLIMIT_CORE, 0);
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  ::execve(plan.python, plan.argv, plan.envp);
  ::_exit(127);
}

int mount_setattr_call(const char* path, unsigned int flags, std::uint64_t set, std::uint64_t clear) {
  struct mount_attr attr{};
  attr.attr_set = set;
  attr.attr_clr = clear;
  return static_cast<int>(::syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr));
}

// A: enters the namespaces, locks the file system down, starts B and times it.
[[noreturn]] void sandbox_main(const ChildPlan& plan) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int base = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID;
  Report report;
  report.network_isolated = 1;
  if (plan.refuse_network || ::unshare(base | CLONE_NEWNET) != 0) {
    const int net_error = plan.refuse_network ? EPERM : errno;
    if (::unshare(base) != 0) fail_child(plan, Stage::unshare, errno);
    if (!plan.allow_network) fail_child(plan, Stage::network_refused, net_error);
    report.network_isolated = 0;
  }
  char byte = 'u';
  if (::write(plan.sync_write, &byte, 1) != 1 || ::read(plan.go_read, &byte, 1) != 1) fail_child(plan, Stage::sync, errno);
  // The parent mapped the namespace's root to the sandbox user: switch to it for real.
  if (::setresgid(0, 0, 0) != 0 || ::setresuid(0, 0, 0) != 0) fail_child(plan, Stage::identity, errno);
  ::syscall(SYS_setgroups, 0, nullptr);  // refused where setgroups is denied: there are none then
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail_child(plan, Stage::mount_private, errno);
  if (::mount(plan.folder, plan.folder, nullptr, MS_BIND | MS_REC, nullptr) != 0) fail_child(plan, Stage::mount_bind, errno);
  if (mount_setattr_call("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0) != 0) fail_child(plan, Stage::mount_readonly, errno);
  if (mount_setattr_call(plan.folder, 0, 0, MOUNT_ATTR_RDONLY) != 0) fail_child(plan, Stage::mount_writable_folder, errno);
  const pid_t program = ::fork();
  if (program < 0) fail_child(plan, Stage::fork, errno);
  if (program == 0) run_program(plan);
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, program, 0));
  if (pidfd >= 0) {
    struct pollfd wait_for{pidfd, POLLIN, 0};
    int ready;
    do {
      ready = ::poll(&wait_for, 1, plan.wall_ms);
    } while (ready < 0 && errno == EINTR);
    if (ready == 0) {
      report.timed_out = 1;
      ::kill(program, SIGKILL);  // PID 1 of its namespace: everything it started dies too
    }
  } else {
    // No pidfd (kernel < 5.3): poll the child every millisecond.
    struct timespec tick{0, 1000000};
    int waited_ms = 0;
    for (int status; ::waitpid(program, &status, WNOHANG) == 0; ++waited_ms) {
      if (waited_ms >= plan.wall_ms) {
        report.timed_out = 1;
        ::kill(program, SIGKILL);
        break;
      }
      ::nanosleep(&tick, nullptr);
    }
  }
  int status = 0;
  if (::waitpid(program, &status, 0) != program) fail_child(plan, Stage::wait, errno);
  report.exited = WIFEXITED(status) ? 1 : 0;
  report.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  report.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  send_report(plan.report_write, report);
  ::_exit(0);
}

struct Pipe {
  int read = -1, write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) fail("sandbox: pipe: {}", errno_text(errno));
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  void close_read() {
    if (read >= 0) ::close(read);
    read = -1;
  }
  void close_write() {
    if (write >= 0) ::close(write);
    write = -1;
  }
};

void write_proc_file(pid_t pid, const char* name, const std::string& text) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail("sandbox: open {}: {}", path, errno_text(errno));
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int error = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) fail("sandbox: write {}: {}", path, errno_text(error));
}

// The files a program left (any permissions it set) are removed with its folder.
void remove_folder(const fs::path& folder) {
  std::error_code ignored;
  for (auto it = fs::recursive_directory_iterator(folder, fs::directory_options::skip_permission_denied, ignored);
       it != fs::recursive_directory_iterator(); it.increment(ignored))
    if (it->is_directory(ignored)) fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ignored);
  fs::permissions(folder, fs::perms::owner_all, fs::perm_options::add, ignored);
  fs::remove_all(folder, ignored);
}

std::string tail_of(const fs::path& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

std::string SandboxResult::summary() const {
  switch (outcome) {
    case Outcome::passed: return "passed";
    case Outcome::timed_out: return "timed out";
    case Outcome::killed: return fmt::format("killed by signal {}", signal);
    case Outcome::failed: break;
  }
  std::string last;
  for (const std::string& line : split(stderr_tail, '\n'))
    if (!trim(line).empty()) last = std::string(trim(line));
  return last.empty() ? fmt::format("failed: exit {}", exit_code) : "failed: " + last;
}

fs::path find_python(const std::string& given) {
  if (!given.empty()) {
    fs::path path = given;
    if (path.is_absolute()) {
      if (::access(path.c_str(), X_OK) != 0) fail("{}: not an executable interpreter", given);
      return path;
    }
    if (given.find('/') != std::string::npos) return fs::absolute(path);
  }
  const std::string name = given.empty() ? "python3" : given;
  if (given.empty() && ::access("/usr/bin/python3", X_OK) == 0) return "/usr/bin/python3";
  const char* path_env = std::getenv("PATH");
  for (const std::string& dir : split(path_env ? path_env : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    fs::path candidate = fs::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0) return fs::absolute(candidate);
  }
  fail("no {} found (pass --python)", name);
}

Sandbox::Sandbox(SandboxOptions options) : options_(std::move(options)) {
  if (options_.temp_root.empty()) options_.temp_root = fs::temp_directory_path();
  if (!options_.python.is_absolute()) options_.python = find_python(options_.python.string());
  if (options_.wall_seconds <= 0) fail("sandbox: the timeout must be positive");
  const SandboxResult probe = run_python("import sys\nsys.exit(0)\n");
  if (probe.outcome != Outcome::passed)
    fail("sandbox: {} does not run in the sandbox: {}", options_.python.string(), probe.summary());
  network_isolated_ = probe.network_isolated;
}

SandboxResult Sandbox::run_python(const std::string& program) const {
  std::string folder_template = (options_.temp_root / "xmtf-sandbox-XXXXXX").string();
  if (!::mkdtemp(folder_template.data())) fail("sandbox: mkdtemp in {}: {}", options_.temp_root.string(), errno_text(errno));
  const fs::path folder = folder_template;
  struct Cleanup {
    fs::path folder;
    ~Cleanup() { remove_folder(folder); }
  } cleanup{folder};
  {
    std::ofstream out(folder / "program.py", std::ios::binary);
    out << program;
    if (!out) fail("sandbox: cannot write {}", (folder / "program.py").string());
  }
  // As root, the program runs as nobody (65534) in the namespace; else as ourselves.
  const bool root = ::geteuid() == 0;
  const uid_t outer_uid = root ? 65534 : ::geteuid();
  const gid_t outer_gid = root ? 65534 : ::getegid();
  if (root) {
    if (::chown(folder.c_str(), outer_uid, outer_gid) != 0 || ::chown((folder / "program.py").c_str(), outer_uid, outer_gid) != 0)
      fail("sandbox: chown {}: {}", folder.string(), errno_text(errno));
  }

  const std::string folder_text = folder.string(), python = options_.python.string();
  const std::string home = "HOME=" + folder_text, tmpdir = "TMPDIR=" + folder_text;
  std::vector<std::string> args = {python, "-I", "program.py"};
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", home, tmpdir, "LANG=C.UTF-8"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  Pipe sync, go, report_pipe;
  ChildPlan plan{folder_text.c_str(),
                 python.c_str(),
                 argv.data(),
                 envp.data(),
                 sync.write,
                 go.read,
                 report_pipe.write,
                 options_.allow_network,
                 options_.simulate_network_refused,
                 static_cast<int>(std::lround(options_.wall_seconds * 1000)),
                 static_cast<rlim_t>(std::ceil(options_.wall_seconds)) + 1,
                 static_cast<rlim_t>(options_.memory_bytes),
                 static_cast<rlim_t>(options_.file_bytes),
                 static_cast<rlim_t>(options_.processes),
                 static_cast<rlim_t>(options_.open_files)};
  const auto start = std::chrono::steady_clock::now();
  const pid_t child = ::fork();
  if (child < 0) fail("sandbox: fork: {}", errno_text(errno));
  if (child == 0) sandbox_main(plan);
  sync.close_write();
  go.close_read();
  report_pipe.close_write();

  std::string setup_error;
  char byte = 0;
  if (::read(sync.read, &byte, 1) == 1) {
    try {
      if (!root) write_proc_file(child, "setgroups", "deny");
      write_proc_file(child, "uid_map", fmt::format("0 {} 1\n", outer_uid));
      write_proc_file(child, "gid_map", fmt::format("0 {} 1\n", outer_gid));
      if (::write(go.write, &byte, 1) != 1) setup_error = "sandbox: cannot release the child";
    } catch (const Error& e) {
      setup_error = e.what();
    }
  }
  go.close_write();
  // The child reports within the wall time plus its set-up; a generous guard against a hang.
  Report report;
  bool reported = false;
  struct pollfd wait_for{report_pipe.read, POLLIN, 0};
  const int guard_ms = static_cast<int>(options_.wall_seconds * 1000) + 30000;
  if (::poll(&wait_for, 1, guard_ms) > 0) reported = ::read(report_pipe.read, &report, sizeof report) == sizeof report;
  if (!reported) ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!setup_error.empty()) fail("{}", setup_error);
  if (!reported) fail("sandbox: the sandbox process ended without a report ({})", WIFSIGNALED(status) ? "killed" : "exited");
  if (report.stage != Stage::ran) {
    if (report.stage == Stage::network_refused)
      fail("sandbox: the kernel refused a network namespace ({}): completions would run with network access; "
           "rerun with --allow-network to accept that",
           errno_text(report.error));
    fail("sandbox: {} failed: {}", stage_text(report.stage), errno_text(report.error));
  }
  SandboxResult result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.exit_code = report.exited ? report.exit_code : -1;
  result.signal = report.exited ? 0 : report.signal;
  result.stderr_tail = tail_of(folder / "stderr.txt", 2048);
  result.network_isolated = report.network_isolated != 0;
  if (report.timed_out || report.signal == SIGXCPU)
    result.outcome = Outcome::timed_out;
  else if (!report.exited)
    result.outcome = Outcome::killed;
  else
    result.outcome = report.exit_code == 0 ? Outcome::passed : Outcome::failed;
  return result;
}

std::vector<SandboxResult> run_all(const Sandbox& sandbox, const std::vector<std::string>& programs, int jobs) {
  std::vector<SandboxResult> results(programs.size());
  std::atomic<std::size_t> next{0};
  std::vector<std::string> errors(static_cast<std::size_t>(std::max(1, jobs)));
  auto worker = [&](std::size_t w) {
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < programs.size();) results[i] = sandbox.run_python(programs[i]);
    } catch (const std::exception& e) {
      errors[w] = e.what();
      next = programs.size();
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < errors.size(); ++w) threads.emplace_back(worker, w);
  for (auto& t : threads) t.join();
  for (const std::string& e : errors)
    if (!e.empty()) fail("{}", e);
  return results;
}

}  // namespace xmtf::eval
