#pragma once
// Checkpoint folders of train stages across reruns. xmtf-train resumes from
// <checkpoint-dir>/latest, so a rerun that changed more than the length of the run must not
// train in the old folder: the trainer would continue the old model with new settings (a new
// learning rate over old optimizer state, new data after a data position of other files).
// The task wrapper therefore chooses the folder per run:
//   - first run, or --checkpoint-dir itself changed: the folder the manifest names;
//   - same identity as the previous run of the task and at least as many --steps: the previous
//     run's folder (the trainer resumes there and trains the extra steps);
//   - otherwise: a new folder beside it, <checkpoint-dir>-2, -3, ... (the first that does not
//     exist), where training starts from the beginning.
// The identity is the fingerprint under the stage's triggers without the options a resumed run
// may change (resumable_train_options()) and without upstream execution ids: rerunning an
// upstream task that leaves its files as they were does not restart training. It is computed
// for the previous run from its recorded fingerprint, under today's triggers.
#include <filesystem>
#include <string>
#include <vector>

#include "sched/fingerprint.hpp"

namespace xmtf::sched {

// Options of xmtf-train that a resumed run may change (manifest spelling).
const std::vector<std::string>& resumable_train_options();

bool has_checkpoint_lineage(const StageSpec& spec);  // type train with a --checkpoint-dir

std::string lineage_identity(const Fingerprint& fingerprint, unsigned triggers);

struct LineageChoice {
  std::string checkpoint_dir;
  bool continues = false;  // resumes the previous run's folder
  bool fresh = false;      // a new folder beside the configured one
  std::string note;        // for logs and `xmtf plan`
};

// `current` has command and inputs; `previous` are the earlier runs of the task, newest first.
LineageChoice choose_checkpoint_dir(const Fingerprint& current, unsigned triggers,
                                    const std::vector<Fingerprint>& previous, const std::filesystem::path& workdir);

// Fills current.train with the choice and points the command's --checkpoint-dir at it.
void apply_lineage(Fingerprint& current, unsigned triggers, const LineageChoice& choice,
                   std::vector<std::string>& command);

}  // namespace xmtf::sched
