#pragma once
// Task fingerprints: what a task ran from, recorded in its markers when it starts, so that a
// later `xmtf plan` / `run` / `submit` can tell a done task whose manifest entry, inputs or
// program changed since (stale.hpp). Three triggers, as a stage's `rerun_on` names them:
//   options  the command line after placeholders (program name and arguments, the MPI launcher
//            and resources left out), the task's parameters and its env entries;
//   program  the executable's version and sha256 (a moved but identical program is the same);
//   inputs   the files it reads (inputs.hpp) and the executions of the upstream tasks it consumed.
// Every run of a task gets a fresh execution id, so a rerun upstream always reaches downstream.
// The rules are in docs/scheduler.md.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sched/inputs.hpp"
#include "sched/spec.hpp"

namespace xmtf::sched {

struct Plan;

enum Trigger : unsigned { kOptionsTrigger = 1, kInputsTrigger = 2, kProgramTrigger = 4 };
unsigned triggers_of(const std::vector<std::string>& rerun_on);

struct UpstreamRef {
  std::string stage;
  bool aligned = false;
  std::size_t index = 0;   // aligned: the partner task
  std::size_t tasks = 0;   // whole stage: its number of tasks
  std::string execution;   // aligned: the partner's execution id; whole stage: the digest of all
                           // of them (in index order); "" when it had none
};

// Train stages: which checkpoint folder the task trained in, and the settings that folder
// belongs to (lineage.hpp).
struct TrainLineage {
  std::string identity;        // digest of everything but the options a resumed run may change
  std::string steps;           // --steps
  std::string configured_dir;  // --checkpoint-dir as the manifest gives it
  std::string checkpoint_dir;  // where it trained: configured_dir, or a new folder beside it
};

struct Fingerprint {
  std::string execution;  // unique per run of the task
  std::map<std::string, std::string> params;
  std::vector<std::string> command;  // program name + arguments, after placeholders
  std::vector<std::pair<std::string, std::string>> env;
  ProgramIdentity program;
  std::vector<InputRecord> inputs;
  std::vector<UpstreamRef> upstream;
  std::optional<TrainLineage> train;
};

nlohmann::json fingerprint_to_json(const Fingerprint& fingerprint);
// Throws xmtf::Error naming `origin` for a malformed fingerprint.
Fingerprint fingerprint_from_json(const nlohmann::json& j, const std::string& origin);

// The command of a task without the MPI launcher: the program's file name and its arguments,
// or {"bash", "-c", line} for a shell line.
std::vector<std::string> task_program_command(const StageSpec& spec, const Bindings& bindings);

// Everything but the execution id and the train lineage. `previous` (may be null) lends the
// hashes of files whose size and mtime did not change.
Fingerprint compute_fingerprint(const StageSpec& spec, std::size_t index, const std::vector<std::string>& values,
                                const std::vector<UpstreamRef>& upstream, const Fingerprint* previous);

// One line per difference in the triggers given, e.g. "steps 60 -> 80",
// "data/xp3/et/a.jsonl changed (size 199470 -> 19947)", "xmtf-train rebuilt (...)". Upstream
// executions are compared by the caller, which knows which upstream tasks rerun.
std::vector<std::string> fingerprint_changes(const Fingerprint& recorded, const Fingerprint& current, unsigned triggers);

// The identity of the program at `path`: stat, then sha256 and (ask_version) `--version` only
// when `known` does not describe the same file.
ProgramIdentity identify_program(const std::string& path, bool ask_version, const ProgramIdentity* known);

// Identifies every stage's program into its spec, with jobs/<run>/programs.json as the cache
// (path -> stat fields, sha256, version), so a plan hashes only what was rebuilt.
void identify_programs(Plan& plan);

std::string new_execution_id();

// For the task wrapper: the upstream executions a task consumes (from their done markers), and
// the fingerprints of its own earlier runs (retired .stale, .failed, .running), newest first.
std::vector<UpstreamRef> read_upstream_refs(const StageSpec& spec, std::size_t index);
std::vector<Fingerprint> previous_fingerprints(const std::filesystem::path& stage_dir, std::size_t index);

// For the task wrapper, when a task starts: its fingerprint as JSON for the markers (a new
// execution id; null, with a warning, when it cannot be taken). For train stages it also
// chooses the checkpoint folder (lineage.hpp) and points `command` at it.
nlohmann::json fingerprint_task_start(const StageSpec& spec, std::size_t index, const std::vector<std::string>& values,
                                      std::vector<std::string>& command);

// A digest of upstream execution ids (whole-stage dependencies).
std::string executions_digest(const std::vector<std::string>& executions);

}  // namespace xmtf::sched
