#pragma once
// What `xmtf plan` writes for each stage and `xmtf task` reads inside the job: the stage spec
// (stage.json: the program, argument templates, launcher, outputs) and the task table
// (tasks.tsv: array index -> parameter values). Everything a task needs is in these two files,
// so a manifest edited after submission never changes a job already queued.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "sched/placeholders.hpp"

namespace xmtf::sched {

// What a program is, for task fingerprints: its version (`--version`, pipeline programs only)
// and the sha256 of the executable. The stat fields are the cache key: a program whose size,
// mtime, ctime and inode are unchanged is not hashed again.
struct ProgramIdentity {
  std::string path;
  std::string version;
  std::string sha256;
  std::uint64_t size = 0, inode = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool known() const { return !sha256.empty(); }
};

// A stage this one runs after, as the task wrapper checks it before starting the program.
struct UpstreamStage {
  std::string stage;
  bool aligned = false;  // task i needs task i of it; else every task of it
  std::size_t tasks = 0;
};

struct StageSpec {
  std::string run;
  std::string stage;
  std::string type;
  std::string executable;             // absolute path; empty for shell command stages
  std::string shell;                  // shell line template (command stages)
  std::vector<std::string> args;      // argument templates after the executable
  bool mpi = false;
  int ntasks = 1;                     // MPI ranks per task
  std::vector<std::string> launcher;  // e.g. {"srun", "--mpi=pmi2"}; used when mpi and ntasks > 1
  std::vector<std::pair<std::string, std::string>> env;  // templates
  std::vector<std::string> outputs;   // templates, relative to workdir
  std::vector<std::string> params;    // array parameter names, in tasks.tsv column order
  std::size_t task_count = 1;
  std::string workdir;                // absolute
  std::string run_dir;                // absolute: <workdir>/jobs/<run>
  // Fingerprints (fingerprint.hpp). Optional in stage.json: specs written before them read
  // as no inputs, every trigger, no dependencies, program not yet identified.
  std::vector<std::string> inputs;    // templates, relative to workdir
  std::vector<std::string> rerun_on = {"options", "inputs", "program"};
  std::vector<UpstreamStage> after;   // every upstream task a task needs must be done first
  ProgramIdentity program;
};

std::string spec_to_json(const StageSpec& spec);
StageSpec spec_from_json(const std::string& json_text, const std::string& origin);
StageSpec read_spec(const std::filesystem::path& path);

// tasks.tsv: a header "index<TAB>param..." then one row per task; \t \n \\ escaped.
std::string task_table_text(const std::vector<std::string>& params,
                            const std::vector<std::vector<std::string>>& rows);
// The values of task `index` (params order); throws when the table has no such row.
std::vector<std::string> read_task_row(const std::filesystem::path& path, std::size_t index,
                                       std::size_t param_count);

// Placeholder bindings of one task: its parameters plus run, root, jobs, stage, index.
Bindings task_bindings(const StageSpec& spec, std::size_t index, const std::vector<std::string>& values);

}  // namespace xmtf::sched
