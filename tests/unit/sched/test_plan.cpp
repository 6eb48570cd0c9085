#include "sched/plan.hpp"

#include <gmock/gmock.h>

#include <cstdlib>

#include "core/process.hpp"
#include "core/text.hpp"
#include "sched/executor.hpp"
#include "sched/state.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::HasSubstr;

// A manifest using every feature that reaches a script; workdir and the xmtf path are fixed
// so the output does not depend on the machine.
const char* kGoldenManifest = R"([run]
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

[stages.eval]
type = "command"
after = ["train"]
array = { dataset = "datasets", lang = "languages" }
run = "echo evaluating {dataset} {lang} > results/{dataset}_{lang}.txt"
env = { XMTF_EVAL_DATASET = "{dataset}" }
)";

std::string golden_path(const std::string& name) { return std::string(XMTF_SOURCE_DIR) + "/tests/unit/sched/golden/" + name; }

void expect_golden(const std::string& name, const std::string& actual) {
  if (std::getenv("XMTF_UPDATE_GOLDEN")) write_file_atomic(golden_path(name), actual);
  EXPECT_EQ(actual, read_file(golden_path(name))) << "differs from " << golden_path(name)
                                                 << " (XMTF_UPDATE_GOLDEN=1 rewrites it after review)";
}

Plan golden_plan() {
  return make_plan(parse_manifest(kGoldenManifest, "golden.toml", "."), "/opt/xmtf/bin/xmtf", /*check_machine=*/false);
}

TEST(Plan, OrderAndAlignment) {
  Plan plan = golden_plan();
  ASSERT_EQ(plan.stages.size(), 4u);
  EXPECT_EQ(plan.stages[0].stage->name, "shard");
  EXPECT_TRUE(plan.stages[1].after[0].aligned);   // tokenize[i] after shard[i]
  EXPECT_FALSE(plan.stages[2].after[0].aligned);  // train after all of tokenize
  EXPECT_EQ(plan.task_count(), 3u + 3u + 1u + 6u);
  EXPECT_EQ(plan.stages[3].rows[1], (std::vector<std::string>{"xcopa", "fr"}));  // first axis slowest
}

TEST(Plan, GoldenFiles) {
  Plan plan = golden_plan();
  expect_golden("plan.txt", describe_plan(plan));
  for (const auto& stage : plan.stages) {
    std::string name = stage.stage->name;
    expect_golden(name + ".sbatch", sbatch_script(plan, stage, stage.dir / "stage.json"));
    expect_golden(name + ".tasks.tsv", task_table_text(stage.spec.params, stage.rows));
    expect_golden(name + ".stage.json", spec_to_json(stage.spec));
  }
}

TEST(Plan, MachineChecks) {
  auto problems = [](const std::string& extra) {
    try {
      make_plan(parse_manifest("[run]\nname = \"t\"\n" + extra, "m.toml", "."), "/nonexistent/xmtf");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_THAT(problems("[stages.train]\nntasks = 1\n"), HasSubstr("stage 'train' runs 'xmtf-train', which is neither next to"));
  EXPECT_THAT(problems("[stages.a]\nargv = [\"no-such-program-xmtf\"]\n"), HasSubstr("runs 'no-such-program-xmtf'"));
  EXPECT_THAT(problems("[stages.a]\nrun = \"x\"\nnodes = 2\n"), HasSubstr("nodes = 2, but the local executor runs on this one machine"));
  EXPECT_THAT(problems("[stages.a]\nrun = \"x\"\ncpus_per_task = 100000\n"), HasSubstr("cpus_per_task = 100000, but this machine has"));
  EXPECT_THAT(problems("[stages.a]\nrun = \"x\"\nntasks = 4\noptions = { tp = 2, pp = 1, dp = 1 }\n"),
              HasSubstr("tp x pp x dp = 2 x 1 x 1 = 2 ranks, but the stage starts nodes x ntasks_per_node = 4"));
  EXPECT_EQ(problems("[stages.a]\nargv = [\"true\"]\n"), "");
  EXPECT_THAT(problems("[stages.a]\nrun = \"x\"\nntasks = 3\noptions = { dp = 2 }\n"),
              HasSubstr("tp x pp x dp = 1 x 1 x 2 = 2 ranks, but the stage starts nodes x ntasks_per_node = 3"));
}

// The trainer's dp (and tp, pp) set how many ranks the stage starts, unless ntasks says so.
TEST(Plan, ParallelismSetsTheRankCount) {
  const Manifest m = parse_manifest("[run]\nname = \"t\"\n[stages.train]\ndp = 2\n[stages.b]\nrun = \"x\"\n"
                                    "options = { tp = 2, dp = 3 }\n[stages.c]\nrun = \"x\"\nntasks = 4\n",
                                    "m.toml", ".");
  EXPECT_EQ(m.find_stage("train")->resources.total_tasks(), 2);
  EXPECT_TRUE(m.find_stage("train")->mpi);
  EXPECT_EQ(m.find_stage("b")->resources.total_tasks(), 6);
  EXPECT_EQ(m.find_stage("c")->resources.total_tasks(), 4);
}

// Keys of a typed stage are checked against its program's --help at plan time.
TEST(Plan, TypedStageOptionsCheckedAgainstHelp) {
  fs::path dir = testing::scratch("help");
  write_file_atomic(dir / "xmtf-train", "#!/bin/bash\necho 'Options: --seq-len INT  --lr FLOAT  --checkpoint-dir DIR'\n");
  fs::permissions(dir / "xmtf-train", fs::perms::owner_all);
  auto plan_error = [&](const std::string& keys) {
    try {
      make_plan(parse_manifest("[run]\nname = \"t\"\n[stages.train]\n" + keys, "m.toml", "."), dir / "xmtf");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(plan_error("seq_len = 8\nlr = 0.1\n"), "");
  EXPECT_THAT(plan_error("seq_len = 8\nsq_len = 8\n"),
              HasSubstr("m.toml:5:1: stage 'train': 'sq_len' is neither a stage key nor an option of xmtf-train "
                        "(no --sq-len in its --help); did you mean 'seq_len'?"));
  EXPECT_THAT(plan_error("ntask = 2\n"), HasSubstr("did you mean 'ntasks'?"));
  fs::remove_all(dir);
}

// The generated script, run by bash itself with `xmtf` replaced by echo: manifest values that
// look like shell code stay literal text, and only the setup lines run.
TEST(Plan, ScriptQuotesEveryManifestValue) {
  fs::path dir = testing::scratch("quote");
  std::string manifest = fmt::format(R"TOML([run]
name = "q"
executor = "slurm"
workdir = "{}"
[slurm]
partition = "\"; touch {}/pwned1; echo \""
account = "$(touch {}/pwned2)"
setup = ["echo setup-ran"]
[stages.a]
run = "echo {{index}}"
)TOML",
                                     dir.string(), dir.string(), dir.string());
  Plan plan = make_plan(parse_manifest(manifest, "m.toml", "."), "/bin/echo", false);
  fs::path script = dir / "job.sbatch";
  write_file_atomic(script, sbatch_script(plan, plan.stages[0], plan.stages[0].dir / "stage.json"));
  ProcessResult r = run_process({"bash", script.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "setup-ran\ntask --spec " + (dir / "jobs/q/a/stage.json").string() + "\n");
  EXPECT_FALSE(fs::exists(dir / "pwned1"));
  EXPECT_FALSE(fs::exists(dir / "pwned2"));
  std::string text = read_file(script);
  EXPECT_THAT(text, HasSubstr("#SBATCH --account='$(touch "));
  fs::remove_all(dir);
}

// submit against a fake sbatch/scontrol/squeue on PATH: arrays larger than MaxArraySize are
// split into jobs with index offsets, and aligned stages chain chunk to chunk.
TEST(Plan, LargeArraysSplitAtMaxArraySize) {
  fs::path dir = testing::scratch("split");
  fs::path bin = dir / "bin";
  fs::create_directories(bin);
  write_file_atomic(bin / "sbatch", "#!/bin/bash\necho \"$*\" >> " + (dir / "sbatch.log").string() +
                                        "\nn=$(wc -l < " + (dir / "sbatch.log").string() + ")\necho $((100 + n))\n");
  write_file_atomic(bin / "scontrol", "#!/bin/bash\necho 'MaxArraySize            = 10'\n");
  write_file_atomic(bin / "squeue", "#!/bin/bash\nexit 0\n");
  write_file_atomic(bin / "sinfo", "#!/bin/bash\necho '64 512000 (null)'\n");
  for (const char* f : {"sbatch", "scontrol", "squeue", "sinfo"}) fs::permissions(bin / f, fs::perms::owner_all);
  std::string old_path = std::getenv("PATH");
  ::setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
  std::string manifest = fmt::format(R"([run]
name = "big"
executor = "slurm"
workdir = "{}"
[lists]
items = [{}]
[stages.a]
array = "items"
run = "true"
[stages.b]
array = "items"
after = ["a"]
run = "true"
)",
                                     dir.string(), [] {
                                       std::string items;
                                       for (int i = 0; i < 25; ++i) items += fmt::format("{}\"{}\"", i ? ", " : "", i);
                                       return items;
                                     }());
  Plan plan = make_plan(parse_manifest(manifest, "m.toml", "."), "/bin/echo", true);
  submit_run(plan);
  ::setenv("PATH", old_path.c_str(), 1);
  std::vector<std::string> calls = split(std::string(trim(read_file(dir / "sbatch.log"))), '\n');
  ASSERT_EQ(calls.size(), 6u);
  EXPECT_THAT(calls[0], HasSubstr("--array=0-9 --export=ALL,XMTF_INDEX_OFFSET=0 "));
  EXPECT_THAT(calls[1], HasSubstr("--array=0-9 --export=ALL,XMTF_INDEX_OFFSET=10 "));
  EXPECT_THAT(calls[2], HasSubstr("--array=0-4 --export=ALL,XMTF_INDEX_OFFSET=20 "));
  EXPECT_THAT(calls[3], HasSubstr("--dependency=aftercorr:101 "));
  EXPECT_THAT(calls[4], HasSubstr("XMTF_INDEX_OFFSET=10 --dependency=aftercorr:102 "));
  EXPECT_THAT(calls[5], HasSubstr("XMTF_INDEX_OFFSET=20 --dependency=aftercorr:103 "));
  StateStore store(plan.run_dir);
  auto subs = store.submissions();
  ASSERT_EQ(subs.size(), 6u);
  EXPECT_EQ(subs[2].index_offset, 20u);
  EXPECT_EQ(format_index_ranges(subs[2].indices), "20-24");
  fs::remove_all(dir);
}

TEST(State, IndexRanges) {
  EXPECT_EQ(format_index_ranges({0, 1, 2, 3, 7, 9, 10}), "0-3,7,9-10");
  EXPECT_EQ(parse_index_ranges("0-3,7,9-10"), (std::vector<std::size_t>{0, 1, 2, 3, 7, 9, 10}));
  EXPECT_EQ(format_index_ranges({}), "");
}

}  // namespace
}  // namespace xmtf::sched
