#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <fmt/format.h>
#include <map>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "sched/executor.hpp"
#include "sched/lock.hpp"
#include "sched/markers.hpp"
#include "sched/task.hpp"

namespace xmtf::sched {
namespace {

// elsewhere: not started by this run because an earlier attempt of it is still alive; it is
// watched until it ends, then judged by its markers.
enum class LocalState { waiting, running, done, failed, blocked, elsewhere };

// Task states of one stage with a running count per state: readiness checks ask for counts
// once per waiting task per event, so counting must not walk the array.
class LocalStage {
 public:
  LocalStage() = default;
  explicit LocalStage(std::size_t n_tasks) : tasks_(n_tasks, LocalState::waiting) { counts_[0] = n_tasks; }
  LocalState operator[](std::size_t index) const { return tasks_[index]; }
  void set(std::size_t index, LocalState state) {
    --counts_[static_cast<int>(tasks_[index])];
    ++counts_[static_cast<int>(state)];
    tasks_[index] = state;
  }
  std::size_t size() const { return tasks_.size(); }
  std::size_t count(LocalState s) const { return counts_[static_cast<int>(s)]; }

 private:
  std::vector<LocalState> tasks_;
  std::array<std::size_t, 6> counts_{};
};

volatile sig_atomic_t g_stop_signal = 0;

void note_stop_signal(int signal_number) { g_stop_signal = signal_number; }

// SIGTERM / SIGINT / SIGHUP stop the run: no SA_RESTART, so a blocking waitpid returns EINTR.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = note_stop_signal;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &action, &previous_[i]);
  }
  ~StopSignals() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) ::sigaction(kSignals[i], &previous_[i], nullptr);
  }

 private:
  static constexpr std::array<int, 3> kSignals = {SIGTERM, SIGINT, SIGHUP};
  std::array<struct sigaction, 3> previous_{};
};

struct Launched {
  const PlannedStage* stage;
  std::size_t index;
};

class LocalRunner {
 public:
  explicit LocalRunner(const Plan& plan) : plan_(plan) {
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    slots_ = plan.manifest.local.max_parallel > 0 ? plan.manifest.local.max_parallel : static_cast<int>(cores);
    for (const auto& planned : plan.stages) {
      LocalStage stage(planned.rows.size());
      for (auto& [index, flags] : scan_markers(planned.dir)) {
        if (index >= stage.size()) continue;
        if (flags.done) {
          DoneMarker done = read_done_marker(planned.dir, task_id(planned, index), plan.manifest.workdir);
          if (done.is_done()) {
            stage.set(index, LocalState::done);
            continue;
          }
          log::warn("{}[{}] will run again: {}", planned.stage->name, index, done.problem);
        }
        if (flags.running) watch_if_alive(planned, index, stage);
      }
      stages_[planned.stage->name] = std::move(stage);
    }
  }

  int run() {
    for (const auto& planned : plan_.stages) {
      const LocalStage& s = stages_[planned.stage->name];
      if (s.count(LocalState::done))
        log::info("{}: {} of {} tasks already done", planned.stage->name, s.count(LocalState::done), s.size());
    }
    StopSignals stop_signals;
    while (true) {
      if (g_stop_signal) return stop_everything();
      start_ready_tasks();
      if (running_.empty() && elsewhere_.empty()) break;
      wait_for_an_event();
    }
    return summarize();
  }

 private:
  TaskId task_id(const PlannedStage& p, std::size_t index) const { return {plan_.manifest.name, p.stage->name, index}; }

  // An earlier attempt of this task whose processes are still alive (an orphan of a killed
  // `xmtf run` or wrapper): never start a second copy beside it.
  void watch_if_alive(const PlannedStage& p, std::size_t index, LocalStage& stage) {
    auto running = read_marker(p.dir, index, "running");
    if (!running || !running->job_id.empty() || !attempt_alive_here(*running)) return;
    log::warn("{}[{}]: its previous attempt is still running (pid {}, program group {}); not starting it again, "
              "waiting for that one to end (`kill -TERM -{}` stops it)",
              p.stage->name, index, running->pid, running->program_pid, running->program_pid);
    stage.set(index, LocalState::elsewhere);
    elsewhere_.push_back({&p, index});
  }

  // Slots a task takes: its MPI ranks times cpus per rank, never more than the whole machine.
  int slots_of(const PlannedStage& p) const {
    const Resources& r = p.stage->resources;
    int ranks = p.spec.mpi ? r.total_tasks() : 1;
    return std::min(slots_, ranks * r.cpus_per_task);
  }

  // Ready: every dependency done (the partner task for aligned arrays). A dependency that
  // failed or was blocked blocks this task.
  LocalState readiness(const PlannedStage& p, std::size_t index) {
    for (const auto& dep : p.after) {
      const LocalStage& up = stages_[dep.stage];
      if (dep.aligned) {
        LocalState s = up[index];
        if (s == LocalState::failed || s == LocalState::blocked) return LocalState::blocked;
        if (s != LocalState::done) return LocalState::waiting;
      } else {
        if (up.count(LocalState::failed) || up.count(LocalState::blocked)) return LocalState::blocked;
        if (up.count(LocalState::done) != up.size()) return LocalState::waiting;
      }
    }
    return LocalState::running;
  }

  void start_ready_tasks() {
    for (const auto& planned : plan_.stages) {
      LocalStage& stage = stages_[planned.stage->name];
      if (stage.count(LocalState::waiting) == 0) continue;
      for (std::size_t i = 0; i < stage.size(); ++i) {
        if (stage[i] != LocalState::waiting) continue;
        LocalState ready = readiness(planned, i);
        if (ready == LocalState::blocked) stage.set(i, LocalState::blocked);
        if (ready != LocalState::running) continue;
        int need = slots_of(planned);
        if (busy_ + need > slots_ && !running_.empty()) return;  // keep DAG order: wait for a slot
        launch(planned, i);
        stage.set(i, LocalState::running);
        busy_ += need;
      }
    }
  }

  fs::path log_path(const PlannedStage& p, std::size_t index) const {
    return p.dir / "logs" / fmt::format("local_{}.out", index);
  }

  void launch(const PlannedStage& p, std::size_t index) {
    fs::path log = log_path(p, index);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot open log {}: {}", log.string(), errno_text(errno));
    std::vector<std::string> argv = {plan_.xmtf_path.string(), "task", "--spec", (p.dir / "stage.json").string(),
                                     "--index", std::to_string(index), "--local"};
    // The wrapper gets SIGTERM if this runner dies (kill -9 included) and passes it on to its
    // program: no task outlives the run that started it.
    ProcessOptions options;
    options.parent_death_signal = SIGTERM;
    pid_t pid = spawn_process(argv, options, fd);
    ::close(fd);
    running_[pid] = {&p, index};
  }

  // Blocks until a task ends (or a stop signal arrives); with tasks watched elsewhere, polls.
  void wait_for_an_event() {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, elsewhere_.empty() ? 0 : WNOHANG);
    if (pid > 0) {
      reaped(pid, status);
      return;
    }
    if (pid < 0 && errno != EINTR && errno != ECHILD) fail("waitpid: {}", errno_text(errno));
    if (!elsewhere_.empty()) {
      check_elsewhere();
      if (g_stop_signal == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Tasks of an earlier attempt that ended: done if their marker says so, else run again.
  void check_elsewhere() {
    for (auto it = elsewhere_.begin(); it != elsewhere_.end();) {
      auto running = read_marker(it->stage->dir, it->index, "running");
      if (running && attempt_alive_here(*running)) {
        ++it;
        continue;
      }
      LocalStage& stage = stages_[it->stage->stage->name];
      bool done = read_done_marker(it->stage->dir, task_id(*it->stage, it->index), plan_.manifest.workdir).is_done();
      log::info("{}[{}]: its previous attempt ended ({})", it->stage->stage->name, it->index,
                done ? "done" : "not done: it runs again");
      stage.set(it->index, done ? LocalState::done : LocalState::waiting);
      it = elsewhere_.erase(it);
    }
  }

  void reaped(pid_t pid, int status) {
    auto found = running_.find(pid);
    if (found == running_.end()) return;
    auto [planned, index] = found->second;
    running_.erase(found);
    busy_ -= slots_of(*planned);
    LocalStage& stage = stages_[planned->stage->name];
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (WIFSIGNALED(status)) stop_program_of(*planned, index, SIGKILL);  // the wrapper died: its program must too
    stage.set(index, ok ? LocalState::done : LocalState::failed);
    if (!ok) log::warn("{}[{}] failed; log: {}", planned->stage->name, index, log_path(*planned, index).string());
    log::info("{}: {}/{} done, {} running, {} failed", planned->stage->name, stage.count(LocalState::done),
              stage.size(), stage.count(LocalState::running), stage.count(LocalState::failed));
  }

  // Signals the program group a task's running marker names, if that group still exists.
  void stop_program_of(const PlannedStage& p, std::size_t index, int signal_number) {
    auto running = read_marker(p.dir, index, "running");
    if (running && running->program_pid > 0 && running->host == host_name())
      ::kill(-static_cast<pid_t>(running->program_pid), signal_number);
  }

  // A stop signal: every running task gets SIGTERM (its wrapper passes it on and records the
  // failure), then after a grace period whatever is left is killed.
  int stop_everything() {
    int signal_number = g_stop_signal;
    log::warn("run {}: stopping on signal {} ({}); {} task(s) running", plan_.manifest.name, signal_number,
              ::strsignal(signal_number), running_.size());
    for (const auto& [pid, task] : running_) ::kill(pid, SIGTERM);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kStopGraceSeconds);
    while (!running_.empty() && std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid > 0) reaped(pid, status);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (const auto& [pid, task] : running_) {
      log::warn("{}[{}] did not stop within {}s: killing it", task.stage->stage->name, task.index, kStopGraceSeconds);
      stop_program_of(*task.stage, task.index, SIGKILL);
      ::kill(pid, SIGKILL);
    }
    while (!running_.empty()) {
      int status = 0;
      pid_t pid = ::waitpid(-1, &status, 0);
      if (pid < 0 && errno != EINTR) break;
      if (pid > 0) reaped(pid, status);
    }
    log::error("run {}: stopped by signal {}; `xmtf run` again reruns what did not finish", plan_.manifest.name,
               signal_number);
    return 128 + signal_number;
  }

  int summarize() {
    std::size_t failed = 0, blocked = 0, total = 0;
    for (auto& [name, stage] : stages_) {
      failed += stage.count(LocalState::failed);
      blocked += stage.count(LocalState::blocked);
      total += stage.size();
    }
    if (failed == 0 && blocked == 0) {
      log::info("run {}: all {} tasks done", plan_.manifest.name, total);
      return 0;
    }
    log::error("run {}: {} task(s) failed, {} not run because what they depend on failed; `xmtf status {}` lists them, "
               "`xmtf run` again reruns only those",
               plan_.manifest.name, failed, blocked, plan_.manifest.name);
    return 1;
  }

  static constexpr int kStopGraceSeconds = 30;
  const Plan& plan_;
  int slots_ = 1;
  int busy_ = 0;
  std::map<std::string, LocalStage> stages_;
  std::map<pid_t, Launched> running_;
  std::vector<Launched> elsewhere_;
};

}  // namespace

int run_local(const Plan& plan, const StaleReport* stale) {
  // One `xmtf run` of a run at a time: a second one would start every task a second time.
  RunLock lock(plan.run_dir, "run " + plan.manifest.path.string(), /*wait_seconds=*/0);
  write_plan(plan);
  if (stale) retire_stale(plan, *stale);
  return LocalRunner(plan).run();
}

}  // namespace xmtf::sched
