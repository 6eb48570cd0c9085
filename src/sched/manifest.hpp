#pragma once
// The run manifest (TOML): what a user declares. In a typed stage (shard, tokenize, train, ...)
// every key that is not a scheduler key (array, after, resources, ...) is an option of the
// stage's program, like the keys of its `options` table; plan checks them against the
// program's --help. load_manifest() parses and validates it; every
// problem is reported with file:line:column and, for unknown keys, the closest valid key.
// The reference for each key is docs/manifest.md.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace xmtf::sched {

struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string str() const;  // "file:line:column"
};

struct SlurmSettings {
  std::string partition, account, qos, time;
  std::vector<std::string> setup;         // shell lines run before the task (module load ...)
  int max_concurrent = 0;                 // --array=...%N; 0 = unlimited
  std::vector<std::string> extra_sbatch;  // extra "#SBATCH" options, e.g. "--exclusive"
  std::string mpi_launcher = "srun --mpi=pmi2";
  std::string signal;                     // --signal, e.g. "B:USR1@120" (checkpoint before the limit)
  bool requeue = false;                   // --requeue (only for preemption)
  int lost_after_seconds = 120;           // a task with no marker whose job left the queue
};

struct LocalSettings {
  int max_parallel = 0;  // tasks at once; 0 = number of cores
  std::string mpi_launcher = "mpiexec";
};

struct Asset {
  std::string name, repo, kind = "model", revision = "main";
  std::vector<std::string> include, exclude;
};

// One axis of a stage's array: a parameter name and its values (e.g. lang = en, fr, ...).
struct ArrayAxis {
  std::string param;
  std::vector<std::string> values;
};

struct Resources {
  int nodes = 1;
  int ntasks_per_node = 1;
  int cpus_per_task = 1;
  int gpus_per_task = 0;
  int gpus_per_node = 0;
  std::string mem;   // "4G"
  std::string time;  // "01:00:00"
  int total_tasks() const { return nodes * ntasks_per_node; }
};

// An option of a typed stage: "--name value" (repeated for lists); booleans as "--name=true"
// or "--name=false", which CLI11 accepts for flags and for boolean options alike.
struct StageOption {
  std::string name;
  std::vector<std::string> values;
  bool is_flag = false;
  SourceLocation where;
};

struct Stage {
  std::string name;
  std::string type;                 // "command" or a pipeline stage type (shard, tokenize, ...)
  std::string executable;           // program name before resolution (xmtf-shard, or argv[0])
  std::string shell;                // command stages: a shell line ({param}s inserted quoted)
  std::vector<std::string> args;    // argv after the executable; {param} placeholders
  std::vector<StageOption> options;
  std::vector<ArrayAxis> array;     // product of the axes, first axis slowest
  std::vector<std::string> after;
  Resources resources;
  bool mpi = false;
  std::vector<std::pair<std::string, std::string>> env;
  std::vector<std::string> outputs;  // paths that must exist after success ({param}s allowed)
  std::vector<std::string> extra_sbatch;
  // Files the task reads besides those its typed options name ({param}s allowed; folders
  // recursively, globs), and what makes a done task stale (fingerprint.hpp).
  std::vector<std::string> inputs;
  std::vector<std::string> rerun_on = {"options", "inputs", "program"};
  SourceLocation where;

  std::size_t task_count() const;
};

struct Manifest {
  std::filesystem::path path;
  std::string name;
  std::string executor = "local";
  std::filesystem::path workdir;  // absolute; jobs/ lives here
  SlurmSettings slurm;
  LocalSettings local;
  std::vector<std::string> languages;
  std::map<std::string, std::vector<std::string>> lists;
  std::vector<Asset> assets;
  std::vector<Stage> stages;  // in manifest order

  const Stage* find_stage(const std::string& name) const;
};

// Pipeline stage types and the executables they run.
struct StageType {
  const char* type;
  const char* executable;
  bool mpi;
};
const std::vector<StageType>& stage_types();

// The 46 languages of xP3 (bigscience/xP3 card), for `use = "all"`.
const std::vector<std::string>& xp3_languages();

// Parses and validates; throws xmtf::Error listing every problem found. Validation that needs
// the machine (executables present, resources that fit) is in plan.hpp.
Manifest load_manifest(const std::filesystem::path& path);
Manifest parse_manifest(const std::string& toml_text, const std::string& file_name,
                        const std::filesystem::path& base_dir);

}  // namespace xmtf::sched
