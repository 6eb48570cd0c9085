#include "sched/manifest.hpp"

#include <gmock/gmock.h>

#include "sched/plan.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::HasSubstr;
using testing::manifest_error;

const char* kMinimal = R"([run]
name = "t"
[stages.hello]
run = "echo hi"
)";

TEST(Manifest, MinimalParses) {
  Manifest m = parse_manifest(kMinimal, "m.toml", ".");
  EXPECT_EQ(m.name, "t");
  EXPECT_EQ(m.executor, "local");
  ASSERT_EQ(m.stages.size(), 1u);
  EXPECT_EQ(m.stages[0].type, "command");
  EXPECT_EQ(m.stages[0].task_count(), 1u);
}

TEST(Manifest, SyntaxErrorHasFileLineColumn) {
  EXPECT_THAT(manifest_error("[run]\nname = \"t\"\nexecutor = = \"local\"\n"),
              HasSubstr("m.toml:3:12: TOML syntax error"));
}

TEST(Manifest, UnknownKeySuggestsClosest) {
  std::string error = manifest_error(std::string(kMinimal) + "[slurm]\npartiton = \"gpu\"\n");
  EXPECT_THAT(error, HasSubstr("m.toml:6:1: unknown key 'partiton' in [slurm]; did you mean 'partition'?"));
  error = manifest_error("[run]\nname = \"t\"\n[stages.a]\nrun = \"x\"\nntask = 2\n");
  EXPECT_THAT(error, HasSubstr("m.toml:5:1: unknown key 'ntask' in [stages.a]; did you mean 'ntasks'?"));
  EXPECT_THAT(manifest_error("[rnu]\n"), HasSubstr("m.toml:1:2: unknown key 'rnu' in the manifest; did you mean 'run'?"));
}

TEST(Manifest, ReportsEveryProblemAtOnce) {
  std::string error = manifest_error(
      "[run]\nname = \"t\"\nexecutor = \"slrum\"\n[stages.a]\nrun = \"x\"\nafter = [\"b\"]\ncpus_per_task = 0\n");
  EXPECT_THAT(error, HasSubstr("m.toml:3:12: executor must be \"local\" or \"slurm\""));
  EXPECT_THAT(error, HasSubstr("'cpus_per_task' must be at least 1"));
  EXPECT_THAT(error, HasSubstr("stage 'a' comes after unknown stage 'b'"));
}

TEST(Manifest, UnknownAfterSuggests) {
  std::string error = manifest_error(
      "[run]\nname = \"t\"\n[stages.shard]\ntype = \"command\"\nrun = \"x\"\n[stages.b]\nrun = \"y\"\nafter = [\"shrad\"]\n");
  EXPECT_THAT(error, HasSubstr("m.toml:6:1: stage 'b' comes after unknown stage 'shrad'; did you mean 'shard'?"));
}

TEST(Manifest, CycleIsPrinted) {
  Manifest m = parse_manifest(
      "[run]\nname = \"t\"\n[stages.a]\nrun = \"x\"\nafter = [\"c\"]\n[stages.b]\nrun = \"x\"\nafter = [\"a\"]\n"
      "[stages.c]\nrun = \"x\"\nafter = [\"b\"]\n",
      "m.toml", ".");
  try {
    dependency_order(m);
    FAIL() << "no cycle reported";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("the stages form a cycle: a -> c -> b -> a"));
  }
}

TEST(Manifest, UnknownPlaceholderSuggests) {
  std::string error = manifest_error(
      "[run]\nname = \"t\"\n[languages]\nuse = [\"en\"]\n[stages.a]\narray = \"languages\"\nrun = \"echo {lnag}\"\n");
  EXPECT_THAT(error, HasSubstr("m.toml:7:7: stage 'a' uses {lnag}, which is not one of its parameters"));
  EXPECT_THAT(error, HasSubstr("did you mean {lang}?"));
}

TEST(Manifest, SlurmValuesCannotInjectLines) {
  std::string error = manifest_error(std::string(kMinimal) + "[slurm]\npartition = \"gpu\\necho pwned\"\n");
  EXPECT_THAT(error, HasSubstr("'partition' must not contain newlines"));
  error = manifest_error(std::string(kMinimal) + "[slurm]\nextra_sbatch = [\"--exclusive\\nrm -rf ~\"]\n");
  EXPECT_THAT(error, HasSubstr("extra_sbatch entries must be single sbatch options"));
  error = manifest_error(std::string(kMinimal) + "[slurm]\nmpi_launcher = \"srun\"\n");
  EXPECT_THAT(error, HasSubstr("bare 'srun' starts N separate 1-rank programs"));
}

TEST(Manifest, RunAndStageNamesAreRestricted) {
  EXPECT_THAT(manifest_error("[run]\nname = \"a b;rm\"\n[stages.x]\nrun = \"y\"\n"), HasSubstr("run name 'a b;rm' may only hold"));
  EXPECT_THAT(manifest_error("[run]\nname = \"t\"\n[stages.\"a;b\"]\nrun = \"y\"\n"), HasSubstr("stage name 'a;b' may only hold"));
}

TEST(Manifest, ArrayProductInWrittenOrder) {
  Manifest m = parse_manifest(R"([run]
name = "t"
[languages]
use = ["en", "fr", "sw"]
[lists]
datasets = ["xnli", "xcopa"]
[stages.eval]
type = "command"
array = { dataset = "datasets", lang = "languages" }
run = "echo {dataset} {lang}"
)",
                              "m.toml", ".");
  const Stage& s = m.stages[0];
  ASSERT_EQ(s.array.size(), 2u);
  EXPECT_EQ(s.array[0].param, "dataset");
  EXPECT_EQ(s.array[1].param, "lang");
  EXPECT_EQ(s.task_count(), 6u);
}

TEST(Manifest, LanguagesAllIsXp3) {
  Manifest m = parse_manifest("[run]\nname = \"t\"\n[languages]\nuse = \"all\"\n[stages.a]\nrun = \"x\"\n", "m.toml", ".");
  EXPECT_EQ(m.languages.size(), 46u);
}

TEST(Manifest, TypedStageOptionsBecomeFlags) {
  Manifest m = parse_manifest(R"([run]
name = "t"
[stages.shard]
ntasks = 2
options = { input = "data/xp3", max_shard_bytes = 1000, dedup = true, shuffle = false, languages = ["en", "fr"] }
)",
                              "m.toml", ".");
  const Stage& s = m.stages[0];
  EXPECT_EQ(s.type, "shard");
  EXPECT_EQ(s.executable, "xmtf-shard");
  EXPECT_TRUE(s.mpi);
  EXPECT_EQ(s.resources.total_tasks(), 2);
  ASSERT_EQ(s.options.size(), 5u);
  EXPECT_EQ(s.options[1].name, "max_shard_bytes");
  EXPECT_TRUE(s.options[2].is_flag);
  EXPECT_EQ(s.options[3].values, std::vector<std::string>{"false"});
}

TEST(Manifest, FetchStageTakesAnAsset) {
  Manifest m = parse_manifest(R"([run]
name = "t"
[assets.data]
repo = "bigscience/xP3"
kind = "dataset"
include = ["sw/*.jsonl", "zh/*.jsonl"]
[stages.fetch]
asset = "data"
cache = "hf-cache"
)",
                              "m.toml", ".");
  const Stage& s = m.stages[0];
  EXPECT_EQ(s.executable, "xmtf-fetch");
  std::vector<std::string> names;
  for (const auto& o : s.options) names.push_back(o.name);
  EXPECT_EQ(names, (std::vector<std::string>{"cache", "repo", "kind", "revision", "include"}));
  EXPECT_EQ(s.options[4].values, (std::vector<std::string>{"sw/*.jsonl", "zh/*.jsonl"}));
  EXPECT_THAT(manifest_error("[run]\nname = \"t\"\n[assets.data]\nrepo = \"a/b\"\n[stages.fetch]\nasset = \"date\"\n"),
              HasSubstr("m.toml:6:9: stage 'fetch' fetches unknown asset 'date'; did you mean 'data'?"));
}

TEST(Manifest, TypedStageKeysAreProgramOptions) {
  Manifest m = parse_manifest("[run]\nname = \"t\"\n[stages.train]\nntasks = 2\nseq_len = 2048\nlr = 2e-5\n", "m.toml", ".");
  const Stage& s = m.stages[0];
  ASSERT_EQ(s.options.size(), 2u);
  EXPECT_EQ(s.options[0].name, "seq_len");
  EXPECT_EQ(s.options[0].values, std::vector<std::string>{"2048"});
  EXPECT_EQ(s.options[0].where.str(), "m.toml:5:1");
  EXPECT_EQ(s.resources.total_tasks(), 2);
}

}  // namespace
}  // namespace xmtf::sched
