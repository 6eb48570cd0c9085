#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <map>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/process.hpp"
#include "sched/executor.hpp"
#include "sched/markers.hpp"

namespace xmtf::sched {
namespace {

enum class LocalState { waiting, running, done, failed, blocked };

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
  std::array<std::size_t, 5> counts_{};
};

class LocalRunner {
 public:
  explicit LocalRunner(const Plan& plan) : plan_(plan) {
    unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    slots_ = plan.manifest.local.max_parallel > 0 ? plan.manifest.local.max_parallel : static_cast<int>(cores);
    for (const auto& planned : plan.stages) {
      LocalStage stage(planned.rows.size());
      for (auto& [index, flags] : scan_markers(planned.dir)) {
        if (!flags.done || index >= stage.size()) continue;
        DoneMarker done = read_done_marker(planned.dir, {plan.manifest.name, planned.stage->name, index}, plan.manifest.workdir);
        if (done.is_done()) stage.set(index, LocalState::done);
        else log::warn("{}[{}] will run again: {}", planned.stage->name, index, done.problem);
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
    while (true) {
      start_ready_tasks();
      if (running_.empty()) break;
      reap_one();
    }
    return summarize();
  }

 private:
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

  void launch(const PlannedStage& p, std::size_t index) {
    fs::path log_path = p.dir / "logs" / fmt::format("local_{}.out", index);
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot open log {}: {}", log_path.string(), errno_text(errno));
    std::vector<std::string> argv = {plan_.xmtf_path.string(), "task", "--spec", (p.dir / "stage.json").string(),
                                     "--index", std::to_string(index), "--local"};
    pid_t pid = spawn_process(argv, {}, fd);
    ::close(fd);
    running_[pid] = {&p, index};
  }

  void reap_one() {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) fail("waitpid: {}", errno_text(errno));
    auto found = running_.find(pid);
    if (found == running_.end()) return;
    auto [planned, index] = found->second;
    running_.erase(found);
    busy_ -= slots_of(*planned);
    LocalStage& stage = stages_[planned->stage->name];
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    stage.set(index, ok ? LocalState::done : LocalState::failed);
    if (!ok)
      log::warn("{}[{}] failed; log: {}", planned->stage->name, index,
                (planned->dir / "logs" / fmt::format("local_{}.out", index)).string());
    log::info("{}: {}/{} done, {} running, {} failed", planned->stage->name, stage.count(LocalState::done),
              stage.size(), stage.count(LocalState::running), stage.count(LocalState::failed));
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

  const Plan& plan_;
  int slots_ = 1;
  int busy_ = 0;
  std::map<std::string, LocalStage> stages_;
  std::map<pid_t, std::pair<const PlannedStage*, std::size_t>> running_;
};

}  // namespace

int run_local(const Plan& plan, const StaleReport* stale) {
  write_plan(plan);
  if (stale) retire_stale(plan, *stale);
  return LocalRunner(plan).run();
}

}  // namespace xmtf::sched
