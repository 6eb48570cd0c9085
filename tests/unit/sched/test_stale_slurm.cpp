// The SLURM path with stale tasks, against stand-in sbatch / squeue / scontrol / sacct on PATH:
// sbatch records its arguments and runs every array task of the script at once (through the
// real `xmtf task`, as a job would), squeue then knows no job (all finished). After an input
// changes, resubmit (and submit) must send exactly the stale indices, like failed ones, with
// their dependents chained to the new jobs.
#include <gmock/gmock.h>
#include <stdlib.h>

#include "core/text.hpp"
#include "sched/executor.hpp"
#include "sched/fingerprint.hpp"
#include "sched/markers.hpp"
#include "sched/stale.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const char* kFakeSbatch = R"SH(#!/bin/bash
# stand-in sbatch: records its arguments, runs each array task of the script now, prints a job id
fake=$(dirname "$0")
id=$(( $(cat "$fake/next_id" 2>/dev/null || echo 100) + 1 ))
echo $id > "$fake/next_id"
echo "$*" >> "$fake/sbatch.log"
array= offset=0
for a in "$@"; do
  case $a in
    --array=*) array=${a#--array=}; array=${array%%\%*} ;;
    --export=*) [[ $a =~ XMTF_INDEX_OFFSET=([0-9]+) ]] && offset=${BASH_REMATCH[1]} ;;
  esac
done
script=${@: -1}
for part in ${array//,/ }; do
  for i in $(seq ${part%-*} ${part#*-}); do
    SLURM_JOB_ID=$id SLURM_ARRAY_JOB_ID=$id SLURM_ARRAY_TASK_ID=$i XMTF_INDEX_OFFSET=$offset \
      bash "$script" >> "$fake/jobs.log" 2>&1 || echo "job $id task $i failed" >> "$fake/jobs.log"
  done
done
echo $id
)SH";

struct StaleSlurmTest : ::testing::Test {
  fs::path dir, fake;
  std::string saved_path;
  std::string c_run = "cat out/b_*.txt > out/c.txt";
  Plan plan;

  void SetUp() override {
    dir = testing::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fake = dir / "fakebin";
    fs::create_directories(fake);
    fs::create_directories(dir / "out");
    install("sbatch", kFakeSbatch);
    install("squeue", "#!/bin/sh\nexit 0\n");
    install("sacct", "#!/bin/sh\nexit 1\n");
    install("scancel", "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/scancel.log\"\n");
    install("scontrol", "#!/bin/sh\n[ \"$1\" = show ] && echo 'MaxArraySize            = 1001'\n"
                        "[ \"$1\" = update ] && echo \"$*\" >> \"$(dirname \"$0\")/scontrol.log\"\nexit 0\n");
    saved_path = std::getenv("PATH");
    ::setenv("PATH", (fake.string() + ":" + saved_path).c_str(), 1);
    for (const char* lang : {"en", "sw", "zh"}) write_file_atomic(dir / "data" / (std::string(lang) + ".txt"), lang);
  }
  void TearDown() override {
    ::setenv("PATH", saved_path.c_str(), 1);
    fs::remove_all(dir);
  }
  void install(const std::string& name, const std::string& text) {
    write_file_atomic(fake / name, text);
    fs::permissions(fake / name, fs::perms::owner_all);
  }
  void replan() {
    std::string manifest = fmt::format(R"TOML([run]
name = "sl"
executor = "slurm"
workdir = "{}"
[languages]
use = ["en", "sw", "zh"]
[stages.a]
array = "languages"
run = "cat data/{{lang}}.txt >> out/a_{{lang}}.txt"
inputs = ["data/{{lang}}.txt"]
[stages.b]
array = "languages"
after = ["a"]
run = "cat out/a_{{lang}}.txt > out/b_{{lang}}.txt"
inputs = ["out/a_{{lang}}.txt"]
[stages.c]
after = ["b"]
run = "{}"
)TOML",
                                       dir.string(), c_run);
    plan = make_plan(parse_manifest(manifest, "m.toml", "."), fs::path(XMTF_BIN_DIR) / "xmtf", false);
    identify_programs(plan);
  }
  std::vector<std::string> sbatch_calls() {
    std::vector<std::string> calls;
    for (const auto& line : split(read_file(fake / "sbatch.log"), '\n'))
      if (!line.empty()) calls.push_back(line);
    return calls;
  }
};

TEST_F(StaleSlurmTest, ResubmitSendsStaleTasksLikeFailedOnes) {
  replan();
  StaleReport none = find_stale(plan);
  submit_run(plan, &none);
  ASSERT_EQ(sbatch_calls().size(), 3u) << read_file(fake / "jobs.log");
  EXPECT_TRUE(query_status(run_info_of(plan)).all_done()) << read_file(fake / "jobs.log");

  write_file_atomic(dir / "data/sw.txt", "swahili");
  replan();
  StaleReport report = find_stale(plan);
  std::vector<std::string> stale;
  for (const auto& s : report.stages)
    for (const auto& t : s.stale) stale.push_back(t.label);
  EXPECT_THAT(stale, ElementsAre("a[sw]", "b[sw]", "c[0]"));
  resubmit_run(plan, "", &report);
  auto calls = sbatch_calls();
  ASSERT_EQ(calls.size(), 6u);
  EXPECT_THAT(calls[3], HasSubstr("--array=1 "));  // a: only sw
  EXPECT_THAT(calls[4], HasSubstr("--array=1 "));  // b: only sw, after a's new job
  EXPECT_THAT(calls[4], HasSubstr("--dependency=aftercorr:104"));
  EXPECT_THAT(calls[5], HasSubstr("--array=0 "));
  EXPECT_THAT(calls[5], HasSubstr("--dependency=afterok:105"));
  EXPECT_EQ(read_file(dir / "out/a_sw.txt"), "swswahili");
  EXPECT_EQ(read_file(dir / "out/a_en.txt"), "en");  // not rerun
  EXPECT_EQ(read_file(dir / "out/c.txt"), "enswswahilizh");
  auto marker = read_marker(plan.run_dir / "a", 1, "done");
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(marker->job_id, "104");
  EXPECT_TRUE(query_status(run_info_of(plan)).all_done());
  replan();
  EXPECT_EQ(find_stale(plan).stale_count(), 0u);

  // submit too: an edited option of c submits c alone.
  c_run = "cat out/b_*.txt out/b_*.txt > out/c.txt";
  replan();
  StaleReport edited = find_stale(plan);
  submit_run(plan, &edited);
  calls = sbatch_calls();
  ASSERT_EQ(calls.size(), 7u);
  EXPECT_THAT(calls[6], HasSubstr("/c/launch/"));  // the launch script of stage c
  EXPECT_THAT(calls[6], Not(HasSubstr("--dependency")));  // a and b stay done: nothing to wait for
  EXPECT_EQ(read_file(dir / "out/c.txt"), "enswswahilizhenswswahilizh");

  // --no-rerun-stale: a stale task is left alone.
  write_file_atomic(dir / "data/en.txt", "english");
  replan();
  StaleReport kept = find_stale(plan, {false, {}});
  EXPECT_EQ(kept.stale_count(), 3u);
  resubmit_run(plan, "", &kept);
  EXPECT_EQ(sbatch_calls().size(), 7u);
}

}  // namespace
}  // namespace xmtf::sched
