#include "sched/task.hpp"

#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <fstream>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "sched/fingerprint.hpp"
#include "sched/markers.hpp"
#include "sched/plan.hpp"
#include "sched/spec.hpp"

namespace xmtf::sched {

std::string host_name() {
  char name[256] = {0};
  ::gethostname(name, sizeof name - 1);
  return name;
}

double unix_now() {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  return tv.tv_sec + tv.tv_usec / 1e6;
}

long long process_start_ticks(long pid) {
  if (pid <= 0) return 0;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!std::getline(in, stat)) return 0;
  // "pid (comm) state ppid ..." where comm may hold spaces and ')': fields resume after the last ')'.
  auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  auto fields = split(std::string(trim(std::string_view(stat).substr(close + 1))), ' ');
  return fields.size() > 19 ? std::atoll(fields[19].c_str()) : 0;  // field 22: starttime
}

bool attempt_alive_here(const Marker& m) {
  if (m.host != host_name()) return false;
  if (m.pid > 0) {
    long long started = process_start_ticks(m.pid);
    if (started != 0 && (m.pid_start == 0 || started == m.pid_start)) return true;
  }
  if (m.program_pid <= 0) return false;
  // A live process with the leader's pid but another start time took the pid after our group
  // ended (Linux hands out no pid that still names a process group): not ours.
  long long leader_started = process_start_ticks(m.program_pid);
  if (leader_started != 0 && m.program_start != 0 && leader_started != m.program_start) return false;
  return ::kill(-static_cast<pid_t>(m.program_pid), 0) == 0 || errno == EPERM;
}

namespace {

volatile sig_atomic_t g_child_pid = 0;

// SLURM signals the batch shell (here: us, thanks to `exec`) before a time limit or on
// preemption, `xmtf run` on SIGTERM; the stage program is the one that must checkpoint or stop,
// so pass the signal on to its whole process group (an MPI launcher and its ranks, a shell and
// its commands).
void forward_signal(int signal_number) {
  if (g_child_pid > 0) ::kill(-g_child_pid, signal_number);
}

void install_forwarding() {
  struct sigaction action {};
  action.sa_handler = forward_signal;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGCONT}) ::sigaction(s, &action, nullptr);
}

std::string env_or(const char* name, const std::string& fallback = "") {
  const char* value = std::getenv(name);
  return value ? value : fallback;
}

std::size_t index_from_environment() {
  std::string task_id = env_or("SLURM_ARRAY_TASK_ID");
  if (task_id.empty()) fail("no --index given and SLURM_ARRAY_TASK_ID is not set (not inside an array job?)");
  return std::stoul(task_id) + std::stoul(env_or("XMTF_INDEX_OFFSET", "0"));
}

// The program's command (as its fingerprint records it) made runnable: the executable's path,
// under the MPI launcher for MPI stages.
std::vector<std::string> task_command(const StageSpec& spec, std::vector<std::string> argv) {
  argv.at(0) = spec.executable.empty() ? "/bin/bash" : spec.executable;
  if (spec.mpi && spec.ntasks > 1) {
    std::vector<std::string> launched = spec.launcher;
    // Under srun a rank that dies must end the step, not leave its peers waiting for it until
    // the time limit.
    bool srun = !launched.empty() && fs::path(launched[0]).filename() == "srun";
    bool has_kill_flag = std::any_of(launched.begin(), launched.end(), [](const std::string& w) {
      return starts_with(w, "--kill-on-bad-exit") || w == "-K" || starts_with(w, "-K");
    });
    if (srun && !has_kill_flag) launched.insert(launched.begin() + 1, "--kill-on-bad-exit=1");
    launched.push_back("-n");
    launched.push_back(std::to_string(spec.ntasks));
    launched.insert(launched.end(), argv.begin(), argv.end());
    argv = std::move(launched);
  }
  return argv;
}

std::string log_path_for(const StageSpec& spec, std::size_t index, bool local) {
  fs::path logs = fs::path(spec.run_dir) / spec.stage / "logs";
  if (local) return (logs / fmt::format("local_{}.out", index)).string();
  return (logs / fmt::format("{}_{}.out", env_or("SLURM_ARRAY_JOB_ID", env_or("SLURM_JOB_ID", "0")),
                             env_or("SLURM_ARRAY_TASK_ID", "0")))
      .string();
}

std::string quote_command(const std::vector<std::string>& argv) {
  std::vector<std::string> quoted;
  for (const auto& a : argv) quoted.push_back(shell_quote(a));
  return join(quoted, " ");
}

// Why a task cannot start yet: an upstream task it needs is not done (SLURM may start it early,
// since it counts a dependency on a job it has forgotten as satisfied, and `afterany` lets it
// start after a failure). "" when everything it needs is done.
std::string upstream_not_done(const StageSpec& spec, std::size_t index) {
  for (const auto& up : spec.after) {
    fs::path dir = fs::path(spec.run_dir) / up.stage;
    auto missing = [&](std::size_t i) -> std::string {
      DoneMarker done = read_done_marker(dir, {spec.run, up.stage, i}, spec.workdir);
      if (done.is_done()) return "";
      return fmt::format("{}[{}] is not done{}", up.stage, i, done.problem.empty() ? "" : " (" + done.problem + ")");
    };
    if (up.aligned) {
      if (std::string why = missing(index); !why.empty()) return why;
      continue;
    }
    auto flags = scan_markers(dir);  // one listing, then only the files that exist are read
    for (std::size_t i = 0; i < up.tasks; ++i) {
      auto f = flags.find(i);
      if (f == flags.end() || !f->second.done) return fmt::format("{}[{}] is not done", up.stage, i);
      if (std::string why = missing(i); !why.empty()) return why;
    }
  }
  return "";
}

// After the program ended, whatever it left running in its process group (a shell's background
// job, a rank that outlived its launcher) is stopped: a task leaves no process behind.
void stop_leftovers(pid_t group, const std::string& task_name) {
  if (::kill(-group, 0) != 0) return;
  log::warn("{}: the program left processes behind; stopping them", task_name);
  ::kill(-group, SIGTERM);
  for (int i = 0; i < 50 && ::kill(-group, 0) == 0; ++i) ::usleep(100000);
  ::kill(-group, SIGKILL);
}

}  // namespace

int run_task(const TaskRequest& request) {
  StageSpec spec = read_spec(request.spec_path);
  std::size_t index = request.index ? *request.index : index_from_environment();
  if (index >= spec.task_count) fail("task index {} is out of range: stage {} has {} tasks", index, spec.stage, spec.task_count);
  fs::path stage_dir = fs::path(spec.run_dir) / spec.stage;
  std::string task_name = fmt::format("{}[{}]", spec.stage, index);

  DoneMarker done = read_done_marker(stage_dir, {spec.run, spec.stage, index}, spec.workdir);
  if (done.is_done()) {
    log::info("{} is already done ({}); skipping", task_name, marker_path(stage_dir, index, "done").string());
    return 0;
  }
  if (done.verdict != DoneVerdict::absent) {
    // Removed before the program runs, so that a failure of this attempt is not hidden behind it.
    log::warn("{} runs again: {}", task_name, done.problem);
    std::error_code ignored;
    fs::remove(marker_path(stage_dir, index, "done"), ignored);
  }

  std::vector<std::string> values = read_task_row(request.spec_path.parent_path() / "tasks.tsv", index, spec.params.size());
  Bindings bindings = task_bindings(spec, index, values);

  Marker marker;
  marker.run = spec.run;
  marker.stage = spec.stage;
  marker.index = index;
  for (std::size_t i = 0; i < spec.params.size(); ++i) marker.params[spec.params[i]] = values[i];
  int previous_attempt = 0;
  for (const char* kind : {"failed", "running"})
    if (auto earlier = read_marker(stage_dir, index, kind)) previous_attempt = std::max(previous_attempt, earlier->attempt);
  marker.attempt = previous_attempt + 1;
  marker.host = host_name();
  marker.pid = ::getpid();
  marker.pid_start = process_start_ticks(marker.pid);
  marker.job_id = env_or("SLURM_JOB_ID");
  marker.array_job_id = env_or("SLURM_ARRAY_JOB_ID");
  marker.array_task_id = env_or("SLURM_ARRAY_TASK_ID");
  marker.log = log_path_for(spec, index, request.local);
  marker.start_time = unix_now();
  for (const auto& o : spec.outputs) marker.outputs.push_back(expand_placeholders(o, bindings, Quoting::none));
  if (std::string why = upstream_not_done(spec, index); !why.empty()) {
    marker.status = "failed";
    marker.exit_status = 1;
    marker.reason = "not started: " + why;
    marker.start_time = marker.end_time = unix_now();
    write_marker(stage_dir, marker);
    log::error("{} not started: {} (attempt {})", task_name, why, marker.attempt);
    return 1;
  }
  std::vector<std::string> command = task_program_command(spec, bindings);
  marker.fingerprint = fingerprint_task_start(spec, index, values, command);
  marker.status = "running";
  write_marker(stage_dir, marker);

  std::vector<std::string> argv = task_command(spec, command);
  ProcessOptions options;
  for (const auto& [key, value] : spec.env) options.set_env.emplace_back(key, expand_placeholders(value, bindings, Quoting::none));
  // Command stages call the pipeline's executables by name: put xmtf's own folder first.
  const char* path = std::getenv("PATH");
  options.set_env.emplace_back("PATH", self_executable().parent_path().string() + ":" + (path ? path : "/usr/bin:/bin"));
  options.set_env.emplace_back("XMTF_RUN", spec.run);
  options.set_env.emplace_back("XMTF_STAGE", spec.stage);
  options.set_env.emplace_back("XMTF_TASK_INDEX", std::to_string(index));
  options.set_env.emplace_back("XMTF_ATTEMPT", std::to_string(marker.attempt));
  options.working_directory = spec.workdir;

  std::string params_text;
  for (const auto& [k, v] : marker.params) params_text += fmt::format(" {}={}", k, v);
  log::info("{}{} attempt {} on {}: {}", task_name, params_text, marker.attempt, marker.host, quote_command(argv));

  // The program leads its own process group, so that signals reach everything it starts, and it
  // gets SIGTERM if this wrapper dies (kill -9), so that it never runs on unsupervised.
  options.new_process_group = true;
  options.parent_death_signal = SIGTERM;
  install_forwarding();
  pid_t child = spawn_process(argv, options);
  g_child_pid = child;
  marker.program_pid = child;
  marker.program_start = process_start_ticks(child);
  write_marker(stage_dir, marker);  // the running marker now names the program's group too
  int exit_status = wait_process(child);
  g_child_pid = 0;
  stop_leftovers(child, task_name);

  marker.end_time = unix_now();
  marker.exit_status = exit_status;
  if (exit_status != 0) {
    marker.reason = describe_exit(exit_status);
  } else {
    for (const auto& output : marker.outputs) {
      fs::path p = fs::path(output).is_absolute() ? fs::path(output) : fs::path(spec.workdir) / output;
      if (!fs::exists(p)) {
        marker.reason = fmt::format("exit 0 but the declared output {} is missing", output);
        exit_status = 1;
        break;
      }
    }
  }
  marker.status = exit_status == 0 ? "done" : "failed";
  write_marker(stage_dir, marker);
  std::error_code ignored;
  fs::remove(marker_path(stage_dir, index, "running"), ignored);
  if (exit_status == 0) {
    fs::remove(marker_path(stage_dir, index, "failed"), ignored);
    fs::remove(marker_path(stage_dir, index, "stale"), ignored);  // the run it replaced
    log::info("{} done in {}", task_name, format_duration(marker.end_time - marker.start_time));
  } else {
    log::error("{} failed: {} (attempt {})", task_name, marker.reason, marker.attempt);
  }
  return exit_status == 0 ? 0 : (exit_status > 255 ? 1 : exit_status);
}

}  // namespace xmtf::sched
