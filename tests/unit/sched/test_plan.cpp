#include "sched/plan.hpp"

#include <gmock/gmock.h>

#include <cstdlib>
#include <set>

#include "core/process.hpp"
#include "core/text.hpp"
#include "sched/executor.hpp"
#include "sched/state.hpp"
#include "golden_plan.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::HasSubstr;

using testing::golden_plan;

TEST(Plan, OrderAndAlignment) {
  Plan plan = golden_plan();
  ASSERT_EQ(plan.stages.size(), 4u);
  EXPECT_EQ(plan.stages[0].stage->name, "shard");
  EXPECT_TRUE(plan.stages[1].after[0].aligned);   // tokenize[i] after shard[i]
  EXPECT_FALSE(plan.stages[2].after[0].aligned);  // train after all of tokenize
  EXPECT_EQ(plan.task_count(), 3u + 3u + 1u + 6u);
  EXPECT_EQ(plan.stages[3].rows[1], (std::vector<std::string>{"xcopa", "fr"}));  // first axis slowest
}

// The text the code writes today against tests/unit/sched/golden/. Only `make golden` rewrites
// those files (after a change that is meant to alter them; review the diff).
TEST(Plan, GoldenFiles) {
  fs::path dir = fs::path(XMTF_SOURCE_DIR) / "tests/unit/sched/golden";
  for (const auto& [name, text] : testing::golden_files(golden_plan())) {
    ASSERT_TRUE(fs::exists(dir / name)) << dir / name << " is missing: `make golden` writes it";
    EXPECT_EQ(text, read_file(dir / name)) << "differs from " << (dir / name).string() << "; if the change is meant, `make golden`";
  }
}

// One argument as sbatch reads it from an "#SBATCH" line (SLURM's _get_argument in
// src/sbatch/opt.c): quotes removed, a backslash escapes the next character, a space or '#'
// outside quotes ends the argument. Returns the argument and what follows it.
std::pair<std::string, std::string> sbatch_argument(const std::string& line) {
  std::string out;
  bool escape = false;
  char quote = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    char c = line[i];
    if (escape) {
      escape = false;
    } else if (c == '\\') {
      escape = true;
      continue;
    } else if (quote) {
      if (c == quote) {
        quote = 0;
        continue;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      continue;
    } else if (c == ' ' || c == '\t' || c == '#') {
      break;
    }
    out += c;
  }
  return {out, line.substr(i)};
}

// The script by its properties, read back as sbatch and bash would: every setting of the
// manifest exactly once with its value intact, nothing else, and the wrapper as the last line.
TEST(Plan, SbatchScriptCarriesEveryUserSetting) {
  Plan plan = golden_plan();
  const PlannedStage& train = *plan.find("train");
  std::string script = sbatch_script(plan, train, train.dir / "stage.json");
  std::multiset<std::string> options;
  std::vector<std::string> commands;
  for (const auto& line : split(script, '\n')) {
    if (starts_with(line, "#SBATCH ")) {
      auto [argument, rest] = sbatch_argument(line.substr(8));
      options.insert(argument);
      EXPECT_EQ(trim(rest), "") << "more than one argument on: " << line;
    } else if (!line.empty() && line[0] != '#') {
      commands.push_back(line);
    }
  }
  std::multiset<std::string> expected = {
      "--job-name=xmtf.golden.train", "--output=/srv/xmtf/jobs/golden/train/logs/%A_%a.out", "--open-mode=append",
      "--chdir=/srv/xmtf", "--nodes=2", "--ntasks-per-node=4", "--cpus-per-task=1", "--gpus-per-node=4",
      "--time=12:00:00", "--partition=gpu", "--account=proj-42", "--qos=normal", "--signal=B:USR1@120",
      "--no-requeue", "--exclusive", "--constraint=a100", "--comment=it's the golden run"};
  EXPECT_EQ(options, expected);
  ASSERT_EQ(commands.size(), 3u) << script;
  EXPECT_EQ(commands[0], "module load mpich hdf5");
  EXPECT_EQ(commands[1], "export OMP_NUM_THREADS=1");
  ProcessResult words = run_process({"bash", "-c", "for w in " + commands[2].substr(5) + "; do echo \"[$w]\"; done"});
  EXPECT_EQ(commands[2].substr(0, 5), "exec ");
  EXPECT_EQ(words.out, "[/opt/xmtf/bin/xmtf]\n[task]\n[--spec]\n[/srv/xmtf/jobs/golden/train/stage.json]\n");

  // A stage without its own settings gets the run-wide ones and the stage's resources.
  const PlannedStage& shard = *plan.find("shard");
  std::string shard_script = sbatch_script(plan, shard, shard.dir / "stage.json");
  EXPECT_THAT(shard_script, HasSubstr("\n#SBATCH --mem=8G\n"));
  EXPECT_THAT(shard_script, HasSubstr("\n#SBATCH --ntasks-per-node=2\n#SBATCH --cpus-per-task=2\n"));
  EXPECT_THAT(shard_script, HasSubstr("\n#SBATCH --time=02:00:00\n"));
  EXPECT_THAT(shard_script, ::testing::Not(HasSubstr("a100")));
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
  EXPECT_THAT(problems("[stages.a]\nargv = [\"true\"]\nmpi = true\nntasks = 100000\n"),
              HasSubstr("100000 MPI ranks x cpus_per_task 1 need 100000 cores, but this machine has"));
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

TEST(State, IndexRanges) {
  EXPECT_EQ(format_index_ranges({0, 1, 2, 3, 7, 9, 10}), "0-3,7,9-10");
  EXPECT_EQ(parse_index_ranges("0-3,7,9-10"), (std::vector<std::size_t>{0, 1, 2, 3, 7, 9, 10}));
  EXPECT_EQ(format_index_ranges({}), "");
}

}  // namespace
}  // namespace xmtf::sched
