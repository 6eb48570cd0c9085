#pragma once
// The golden plan: a manifest using every feature that reaches a script, with workdir and the
// xmtf path fixed so the output does not depend on the machine. test_plan.cpp compares what the
// code writes today with tests/unit/sched/golden/; only `make golden` (write_golden.cpp)
// rewrites those files, to be reviewed in the diff like code.
#include <string>
#include <utility>
#include <vector>

#include "sched/manifest.hpp"
#include "sched/plan.hpp"
#include "sched/spec.hpp"

namespace xmtf::sched::testing {

inline const char* kGoldenManifest = R"([run]
name = "golden"
executor = "slurm"
workdir = "/srv/xmtf"

[slurm]
partition = "gpu"
account = "proj-42"
qos = "normal"
time = "02:00:00"
setup = ["module load mpich hdf5", "export OMP_NUM_THREADS=1"]
max_concurrent = 8
extra_sbatch = ["--exclusive"]
signal = "B:USR1@120"

[languages]
use = ["en", "fr", "sw"]

[lists]
datasets = ["xcopa", "xnli"]

[stages.shard]
array = "languages"
ntasks = 2
cpus_per_task = 2
mem = "8G"
options = { input = "data/xp3/{lang}", output = "shards", languages = "{lang}", dedup = true }
outputs = ["shards/{lang}/index.json"]

[stages.tokenize]
array = "languages"
after = ["shard"]
options = { tokenizer = "tok/tokenizer.json", input = "shards/{lang}", output = "shards/{lang}" }

[stages.train]
after = ["tokenize"]
nodes = 2
ntasks_per_node = 4
gpus_per_node = 4
time = "12:00:00"
options = { tp = 2, pp = 2, dp = 2, seq_len = 2048 }
extra_sbatch = ["--constraint=a100", "--comment=it's the golden run"]

[stages.eval]
type = "command"
after = ["train"]
array = { dataset = "datasets", lang = "languages" }
run = "echo evaluating {dataset} {lang} > results/{dataset}_{lang}.txt"
env = { XMTF_EVAL_DATASET = "{dataset}" }
)";

inline Plan golden_plan() {
  return make_plan(parse_manifest(kGoldenManifest, "golden.toml", "."), "/opt/xmtf/bin/xmtf", /*check_machine=*/false);
}

// File name -> content of every golden file.
inline std::vector<std::pair<std::string, std::string>> golden_files(const Plan& plan) {
  std::vector<std::pair<std::string, std::string>> files = {{"plan.txt", describe_plan(plan)}};
  for (const auto& stage : plan.stages) {
    std::string name = stage.stage->name;
    files.emplace_back(name + ".sbatch", sbatch_script(plan, stage, stage.dir / "stage.json"));
    files.emplace_back(name + ".tasks.tsv", task_table_text(stage.spec.params, stage.rows));
    files.emplace_back(name + ".stage.json", spec_to_json(stage.spec));
  }
  return files;
}

}  // namespace xmtf::sched::testing
