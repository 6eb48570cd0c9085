#include "sched/lineage.hpp"

#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>

#include "core/fs.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"

namespace xmtf::sched {

using nlohmann::json;

const std::vector<std::string>& resumable_train_options() {
  // --export-dtype is not here: a finished trainer does not export again, so a new dtype needs
  // a new run to take effect.
  static const std::vector<std::string> options = {"checkpoint_dir", "steps",       "save_interval",
                                                   "eval_interval",  "export_dir",  "metrics",
                                                   "kill_switch_path", "exit_duration_in_mins", "log_level",
                                                   "quiet"};
  return options;
}

namespace {

bool is_resumable_flag(const std::string& word) {
  if (!starts_with(word, "--")) return false;
  std::string key = word.substr(2, word.find('=') == std::string::npos ? std::string::npos : word.find('=') - 2);
  std::replace(key.begin(), key.end(), '-', '_');
  const auto& options = resumable_train_options();
  return std::find(options.begin(), options.end(), key) != options.end();
}

// The command without resumable options (and their values).
std::vector<std::string> identity_command(const std::vector<std::string>& command) {
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < command.size(); ++i) {
    if (!is_resumable_flag(command[i])) {
      kept.push_back(command[i]);
      continue;
    }
    bool inline_value = command[i].find('=') != std::string::npos;
    if (!inline_value && i + 1 < command.size() && !starts_with(command[i + 1], "--")) ++i;
  }
  return kept;
}

std::string option_value(const std::vector<std::string>& command, const std::string& flag) {
  auto values = option_values(command, flag);
  return values.empty() ? "" : values.back();
}

}  // namespace

bool has_checkpoint_lineage(const StageSpec& spec) {
  if (spec.type != "train") return false;
  for (const auto& a : spec.args)
    if (a == "--checkpoint-dir" || starts_with(a, "--checkpoint-dir=")) return true;
  return false;
}

std::string lineage_identity(const Fingerprint& f, unsigned triggers) {
  // The program is never part of the identity: a rebuilt xmtf-train (any change in shared code
  // relinks it) reruns the task when `program` is a trigger, but it continues the checkpoint it
  // finds instead of throwing away days of training; `xmtf run --force train` with a fresh
  // checkpoint_dir is the way to retrain with new code.
  json j = {{"command", identity_command(f.command)}, {"env", f.env}};
  if (triggers & kInputsTrigger) {
    json inputs = json::array();
    for (const auto& r : f.inputs) {
      json files = json::array();
      for (const auto& file : r.files)
        files.push_back({file.path, file.size, file.sha256.empty() ? json(file.mtime_ns) : json(file.sha256)});
      inputs.push_back({{"path", r.path}, {"kind", input_kind_name(r.kind)}, {"files", std::move(files)}});
    }
    j["inputs"] = std::move(inputs);
  }
  return sha256_hex(j.dump());
}

LineageChoice choose_checkpoint_dir(const Fingerprint& current, unsigned triggers, const std::vector<Fingerprint>& previous,
                                    const fs::path& workdir) {
  std::string configured = option_value(current.command, "--checkpoint-dir");
  const Fingerprint* last_run = nullptr;
  for (const auto& p : previous)
    if (p.train) {
      last_run = &p;
      break;
    }
  if (!last_run || last_run->train->configured_dir != configured)
    return {configured, false, false, fmt::format("trains in {}", configured)};
  const TrainLineage* last = &*last_run->train;
  std::string steps = option_value(current.command, "--steps");
  bool more_steps = std::atoll(steps.c_str()) >= std::atoll(last->steps.c_str());
  // Both identities under today's triggers: editing rerun_on alone does not restart training.
  if (lineage_identity(*last_run, triggers) == lineage_identity(current, triggers) && more_steps)
    return {last->checkpoint_dir, true, false, fmt::format("continues from its checkpoint in {}", last->checkpoint_dir)};
  std::string fresh;
  for (int n = 2;; ++n) {
    fresh = fmt::format("{}-{}", configured, n);
    fs::path p = fs::path(fresh).is_absolute() ? fs::path(fresh) : workdir / fresh;
    if (!fs::exists(p)) break;
  }
  std::string why = more_steps ? "other settings or data than" : fmt::format("fewer steps ({} -> {}) than", last->steps, steps);
  return {fresh, false, true,
          fmt::format("starts a new checkpoint folder {} ({} {} was trained with)", fresh, why, last->checkpoint_dir)};
}

void apply_lineage(Fingerprint& current, unsigned triggers, const LineageChoice& choice, std::vector<std::string>& command) {
  std::string configured = option_value(current.command, "--checkpoint-dir");
  current.train = TrainLineage{lineage_identity(current, triggers), option_value(current.command, "--steps"), configured,
                               choice.checkpoint_dir};
  for (std::size_t i = 0; i < command.size(); ++i) {
    if (command[i] == "--checkpoint-dir" && i + 1 < command.size()) command[i + 1] = choice.checkpoint_dir;
    else if (starts_with(command[i], "--checkpoint-dir=")) command[i] = "--checkpoint-dir=" + choice.checkpoint_dir;
  }
}

}  // namespace xmtf::sched
