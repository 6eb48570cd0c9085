#include "sched/stale.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include <algorithm>
#include <fmt/format.h>
#include <map>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "sched/fingerprint.hpp"
#include "sched/lineage.hpp"
#include "sched/markers.hpp"
#include "sched/state.hpp"

namespace xmtf::sched {

std::size_t StaleReport::stale_count() const {
  std::size_t n = 0;
  for (const auto& s : stages) n += s.stale.size();
  return n;
}

std::size_t StaleReport::done_count() const {
  std::size_t n = 0;
  for (const auto& s : stages) n += s.done;
  return n;
}

const StageStaleness* StaleReport::find(const std::string& stage) const {
  for (const auto& s : stages)
    if (s.stage == stage) return &s;
  return nullptr;
}

std::string task_label(const PlannedStage& stage, std::size_t index) {
  if (stage.stage->array.empty() || index >= stage.rows.size()) return fmt::format("{}[{}]", stage.stage->name, index);
  return fmt::format("{}[{}]", stage.stage->name, join(stage.rows[index], ","));
}

RunInfo run_info_of(const Plan& plan) {
  RunInfo info;
  info.run = plan.manifest.name;
  info.executor = plan.manifest.executor;
  info.manifest = plan.manifest.path.string();
  info.workdir = plan.manifest.workdir.string();
  info.xmtf = plan.xmtf_path.string();
  info.dir = plan.run_dir;
  for (const auto& p : plan.stages) info.stages.push_back({p.stage->name, p.rows.size(), p.after});
  return info;
}

namespace {

// What downstream tasks will consume from a task: its recorded execution when it stays done.
struct TaskOutcome {
  enum class State { current, stale, not_done } state = State::not_done;
  std::string execution;
  bool reruns = true;  // stale and the policy reruns it
};
using Outcomes = std::map<std::string, std::vector<TaskOutcome>>;

std::string upstream_word(const TaskOutcome& o) {
  if (o.state == TaskOutcome::State::not_done) return "is not done";
  return o.reruns ? "reruns" : "is stale";
}

const UpstreamRef* recorded_ref(const Fingerprint& f, const std::string& stage) {
  for (const auto& u : f.upstream)
    if (u.stage == stage) return &u;
  return nullptr;
}

// The upstream part of the inputs trigger, knowing which upstream tasks are stale or not done.
class UpstreamComparison {
 public:
  UpstreamComparison(const Plan& plan, const Outcomes& outcomes) : plan_(plan), outcomes_(outcomes) {}

  std::vector<UpstreamRef> current_refs(const PlannedStage& stage, std::size_t index) const {
    std::vector<UpstreamRef> refs;
    for (const auto& dep : stage.spec.after) {
      const auto& up = outcomes_.at(dep.stage);
      UpstreamRef ref{dep.stage, dep.aligned, index, dep.tasks, ""};
      if (dep.aligned) {
        ref.execution = index < up.size() ? up[index].execution : "";
      } else {
        std::vector<std::string> executions;
        for (const auto& o : up) executions.push_back(o.execution);
        ref.execution = executions_digest(executions);
      }
      refs.push_back(std::move(ref));
    }
    return refs;
  }

  void changes(const PlannedStage& stage, std::size_t index, const Fingerprint& recorded,
               std::vector<std::string>& out) const {
    for (const auto& dep : stage.spec.after) {
      const PlannedStage& upstream = *plan_.find(dep.stage);
      const auto& up = outcomes_.at(dep.stage);
      const UpstreamRef* before = recorded_ref(recorded, dep.stage);
      if (dep.aligned) {
        const TaskOutcome& o = up.at(index);
        if (o.state != TaskOutcome::State::current) out.push_back(fmt::format("upstream {} {}", task_label(upstream, index), upstream_word(o)));
        else if (!before || !before->aligned) out.push_back(fmt::format("now after {} (task to task)", dep.stage));
        else if (before->execution != o.execution) out.push_back(fmt::format("upstream {} ran again since", task_label(upstream, index)));
        continue;
      }
      std::vector<std::string> moving;
      std::size_t count = 0;
      bool all_rerun = true;
      for (std::size_t i = 0; i < up.size(); ++i)
        if (up[i].state != TaskOutcome::State::current) {
          ++count;
          all_rerun = all_rerun && up[i].reruns;
          if (moving.size() < 3) moving.push_back(task_label(upstream, i));
        }
      if (count == 1 && up.size() == 1) {
        out.push_back(fmt::format("upstream {} {}", moving[0], upstream_word(up[0])));
        continue;
      }
      if (count) {
        out.push_back(fmt::format("upstream {} {} {} of {} tasks ({}{})", dep.stage, all_rerun ? "reruns" : "has stale or undone",
                                  count, up.size(), join(moving, ", "), count > moving.size() ? ", ..." : ""));
        continue;
      }
      std::vector<std::string> executions;
      for (const auto& o : up) executions.push_back(o.execution);
      if (!before || before->aligned) out.push_back(fmt::format("now after {} (whole stage)", dep.stage));
      else if (before->execution != executions_digest(executions)) out.push_back(fmt::format("upstream {} ran again since", dep.stage));
    }
    for (const auto& u : recorded.upstream)
      if (std::none_of(stage.spec.after.begin(), stage.spec.after.end(), [&](const UpstreamStage& d) { return d.stage == u.stage; }))
        out.push_back(fmt::format("no longer after {}", u.stage));
  }

  bool any_upstream_moving(const PlannedStage& stage, std::size_t index) const {
    for (const auto& dep : stage.spec.after) {
      const auto& up = outcomes_.at(dep.stage);
      if (dep.aligned ? up.at(index).state != TaskOutcome::State::current
                      : std::any_of(up.begin(), up.end(), [](const TaskOutcome& o) { return o.state != TaskOutcome::State::current; }))
        return true;
    }
    return false;
  }

 private:
  const Plan& plan_;
  const Outcomes& outcomes_;
};

std::optional<Fingerprint> recorded_fingerprint(const DoneMarker& done, const fs::path& stage_dir, std::size_t index) {
  if (!done.marker || !done.marker->fingerprint.is_object()) return std::nullopt;
  try {
    return fingerprint_from_json(done.marker->fingerprint, marker_path(stage_dir, index, "done").string());
  } catch (const Error& e) {
    log::warn("{}", e.what());
    return std::nullopt;
  }
}

// Why a train task's rerun continues or restarts, as the task wrapper will decide it.
std::string lineage_note(const Fingerprint& recorded, const Fingerprint& current,
                         unsigned triggers, bool upstream_moving, const fs::path& workdir) {
  LineageChoice choice = choose_checkpoint_dir(current, triggers, {recorded}, workdir);
  if (choice.continues && upstream_moving)
    return choice.note + " (a new folder if the data it reads changes)";
  return choice.note;
}

}  // namespace

StaleReport find_stale(const Plan& plan, const RerunPolicy& policy) {
  for (const auto& forced : policy.force) {
    if (plan.find(forced)) continue;
    std::vector<std::string> names;
    for (const auto& p : plan.stages) names.push_back(p.stage->name);
    auto suggestion = closest_match(forced, names);
    fail("--force {}: run {} has no such stage (stages: {}){}", forced, plan.manifest.name, join(names, ", "),
         suggestion ? fmt::format("; did you mean {}?", *suggestion) : "");
  }
  StaleReport report;
  report.policy = policy;
  Outcomes outcomes;
  UpstreamComparison upstream(plan, outcomes);
  for (const auto& planned : plan.stages) {
    const std::string& name = planned.stage->name;
    StageStaleness stage{name, planned.rows.size(), 0, {}};
    unsigned triggers = triggers_of(planned.spec.rerun_on);
    bool forced = std::find(policy.force.begin(), policy.force.end(), name) != policy.force.end();
    std::vector<TaskOutcome> outcome(planned.rows.size());
    for (const auto& [index, flags] : scan_markers(planned.dir)) {
      if (!flags.done || index >= planned.rows.size()) continue;
      DoneMarker done = read_done_marker(planned.dir, {plan.manifest.name, name, index}, plan.manifest.workdir);
      if (!done.is_done()) continue;  // not done (status says why): it runs anyway
      ++stage.done;
      StaleTask task{index, task_label(planned, index), {}, forced};
      if (forced) task.reasons.push_back(fmt::format("forced (--force {})", name));
      std::optional<Fingerprint> recorded = recorded_fingerprint(done, planned.dir, index);
      if (!recorded) {
        if (triggers) task.reasons.push_back("fingerprint unknown (done before fingerprints were recorded)");
      } else {
        Fingerprint current =
            compute_fingerprint(planned.spec, index, planned.rows[index], upstream.current_refs(planned, index), &*recorded);
        std::vector<std::string> changes = fingerprint_changes(*recorded, current, triggers);
        if (triggers & kInputsTrigger) upstream.changes(planned, index, *recorded, changes);
        if (!changes.empty() && has_checkpoint_lineage(planned.spec))
          changes.push_back(lineage_note(*recorded, current, triggers, upstream.any_upstream_moving(planned, index),
                                         plan.manifest.workdir));
        task.reasons.insert(task.reasons.end(), changes.begin(), changes.end());
      }
      TaskOutcome& o = outcome[index];
      if (task.reasons.empty()) {
        o = {TaskOutcome::State::current, recorded ? recorded->execution : "", false};
      } else {
        o = {TaskOutcome::State::stale, "", report.reruns(task)};
        stage.stale.push_back(std::move(task));
      }
    }
    outcomes[name] = std::move(outcome);
    report.stages.push_back(std::move(stage));
  }
  return report;
}

namespace {

std::string reason_text(const StaleTask& task) {
  std::vector<std::string> shown(task.reasons.begin(), task.reasons.begin() + std::min<std::size_t>(task.reasons.size(), 3));
  std::string text = join(shown, "; ");
  if (task.reasons.size() > 3) text += fmt::format("; and {} more", task.reasons.size() - 3);
  return text;
}

std::string labels_text(const std::vector<std::string>& labels, std::size_t shown = 3) {
  if (labels.size() <= shown + 1) return join(labels, ", ");
  return fmt::format("{} and {} more", join(std::vector<std::string>(labels.begin(), labels.begin() + shown), ", "),
                     labels.size() - shown);
}

}  // namespace

std::string format_stale(const StaleReport& report, std::size_t max_lines_per_stage) {
  if (report.done_count() == 0) return "";
  std::size_t stale = report.stale_count();
  if (stale == 0) return fmt::format("up to date: the {} done task{} match their fingerprints\n", report.done_count(),
                                     report.done_count() == 1 ? "" : "s");
  std::string out = fmt::format("stale: {} of {} done task{} changed since {} ran ({}):\n", stale, report.done_count(),
                                report.done_count() == 1 ? "" : "s", stale == 1 ? "it" : "they",
                                report.policy.rerun_stale ? "run, submit and resubmit rerun them"
                                                          : "kept by --no-rerun-stale, except forced ones");
  std::size_t width = 0;
  for (const auto& s : report.stages) width = std::max(width, s.stage.size());
  for (const auto& s : report.stages) {
    if (s.stale.empty()) continue;
    out += fmt::format("  {:<{}}  {} of {} stale\n", s.stage, width, s.stale.size(), s.tasks);
    // Tasks with the same reasons (a rebuilt program, a stage-wide option) share one line.
    std::vector<std::pair<std::string, std::vector<std::string>>> groups;
    for (const auto& t : s.stale) {
      std::string reason = reason_text(t);
      auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& group) { return group.first == reason; });
      if (g == groups.end()) groups.push_back({reason, {t.label}});
      else g->second.push_back(t.label);
    }
    for (std::size_t i = 0; i < groups.size() && i < max_lines_per_stage; ++i)
      out += fmt::format("    {}: {}\n", labels_text(groups[i].second), groups[i].first);
    if (groups.size() > max_lines_per_stage) out += fmt::format("    ... and {} more\n", groups.size() - max_lines_per_stage);
  }
  return out;
}

std::size_t retire_stale(const Plan& plan, const StaleReport& report, const std::string& only_stage) {
  std::size_t retired = 0;
  for (const auto& s : report.stages) {
    if (!only_stage.empty() && s.stage != only_stage) continue;
    const PlannedStage* planned = plan.find(s.stage);
    if (!planned) continue;
    std::vector<std::size_t> indices;
    for (const auto& t : s.stale) {
      if (!report.reruns(t)) continue;
      fs::path done = marker_path(planned->dir, t.index, "done");
      fs::path stale = marker_path(planned->dir, t.index, "stale");
      if (std::rename(done.c_str(), stale.c_str()) != 0) {
        if (errno != ENOENT) fail("cannot retire {}: {}", done.string(), errno_text(errno));
        continue;
      }
      // Its mtime says when it was retired: status counts only jobs submitted since (status.cpp).
      ::utimensat(AT_FDCWD, stale.c_str(), nullptr, 0);
      indices.push_back(t.index);
    }
    if (indices.empty()) continue;
    fsync_directory(planned->dir / "markers");
    retired += indices.size();
    log::info("{}: {} stale task(s) to rerun: {}", s.stage, indices.size(), format_index_ranges(indices));
  }
  return retired;
}

std::string describe_pending_work(const Plan& plan, const StaleReport& report, const RunStatus& status) {
  std::string lines;
  std::size_t total = 0, width = 0;
  for (const auto& p : plan.stages) width = std::max(width, p.stage->name.size());
  for (const auto& planned : plan.stages) {
    const StageStaleness* stale = report.find(planned.stage->name);
    const StageStatus* current = nullptr;
    for (const auto& s : status.stages)
      if (s.name == planned.stage->name) current = &s;
    std::vector<std::string> labels;
    for (std::size_t i = 0; i < planned.rows.size(); ++i) {
      TaskState state = current && i < current->tasks.size() ? current->tasks[i].state : TaskState::never_ran;
      std::string label = task_label(planned, i);
      if (state == TaskState::failed) labels.push_back(label + " (failed)");
      else if (state == TaskState::never_ran) labels.push_back(label);
      else if (state == TaskState::done && stale) {
        auto t = std::find_if(stale->stale.begin(), stale->stale.end(), [&](const StaleTask& st) { return st.index == i; });
        if (t != stale->stale.end() && report.reruns(*t)) labels.push_back(label + " (stale)");
      }
    }
    if (labels.empty()) continue;
    total += labels.size();
    lines += fmt::format("  {:<{}}  {:>5}  {}\n", planned.stage->name, width, labels.size(), labels_text(labels, 6));
  }
  if (total == 0) return "dry run: nothing to run (every task is done and up to date, or queued)\n";
  return fmt::format("dry run: would run {} task{}:\n", total, total == 1 ? "" : "s") + lines;
}

}  // namespace xmtf::sched
