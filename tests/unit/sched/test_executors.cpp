// The executors' behaviour, observed from outside: submit, resubmit and cancel against a fake
// SLURM that records every call (fake_slurm.hpp), and the local runner against a wrapper that
// records every task it is asked to start before handing over to the real `xmtf task`.
#include <gmock/gmock.h>

#include <set>

#include "core/text.hpp"
#include "sched/executor.hpp"
#include "sched/markers.hpp"
#include "sched/state.hpp"
#include "sched/status.hpp"
#include "sched/task.hpp"
#include "fake_slurm.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using testing::FakeSlurm;

// A done or failed marker as `xmtf task` writes it.
void write_task_marker(const fs::path& run_dir, const std::string& stage, std::size_t index, const std::string& status) {
  Marker m;
  m.run = run_dir.filename().string();
  m.stage = stage;
  m.index = index;
  m.status = status;
  m.exit_status = status == "done" ? 0 : 3;
  m.reason = status == "done" ? "" : "exit 3";
  m.host = "node7";
  m.pid = 4242;
  m.job_id = "1";
  write_marker(run_dir / stage, m);
}

// a[4] -> b[4] (task to task) -> c (whole stage), on the fake SLURM.
struct SlurmExecutor : ::testing::Test {
  fs::path dir;
  std::unique_ptr<FakeSlurm> slurm;
  Plan plan;

  void SetUp() override {
    dir = testing::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    slurm = std::make_unique<FakeSlurm>(dir / "fake");
    plan = plan_of(fmt::format(R"([run]
name = "r"
executor = "slurm"
workdir = "{}"
[slurm]
max_concurrent = 2
[languages]
use = ["en", "fr", "sw", "zh"]
[stages.a]
array = "languages"
run = "true"
[stages.b]
array = "languages"
after = ["a"]
run = "true"
[stages.c]
after = ["b"]
run = "true"
)",
                               (dir / "work").string()));
  }
  void TearDown() override {
    slurm.reset();
    fs::remove_all(dir);
  }
  static Plan plan_of(const std::string& manifest) {
    return make_plan(parse_manifest(manifest, "m.toml", "."), "/opt/xmtf/bin/xmtf", /*check_machine=*/false);
  }
  std::vector<std::string> sbatch_option(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& argv : slurm->calls("sbatch")) out.push_back(FakeSlurm::option(argv, name));
    return out;
  }
  // The job name sbatch was given, from the script it copied.
  std::string stage_of_job(const std::string& job_id) const {
    for (const auto& line : split(slurm->script_of_job(job_id), '\n'))
      if (starts_with(line, "#SBATCH --job-name=")) return line.substr(line.rfind('.') + 1);
    return "";
  }
};

TEST_F(SlurmExecutor, SubmitChainsStagesAndSkipsDoneTasks) {
  write_plan(plan);
  write_task_marker(plan.run_dir, "a", 0, "done");
  submit_run(plan);
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("1-3%2", "0-3%2", "0%2"));
  EXPECT_THAT(sbatch_option("--dependency"), ElementsAre("", "aftercorr:100", "afterok:101"));
  EXPECT_EQ(stage_of_job("100"), "a");
  EXPECT_EQ(stage_of_job("102"), "c");
  StateStore store(plan.run_dir);
  auto subs = store.submissions();
  ASSERT_EQ(subs.size(), 3u);
  EXPECT_EQ(format_index_ranges(subs[0].indices), "1-3");
  EXPECT_EQ(subs[1].dependency, "aftercorr:100");
}

TEST_F(SlurmExecutor, SubmitRefusesWhileTasksAreQueued) {
  submit_run(plan);
  slurm->set_queue({{"100", "0", "RUNNING", "None"}});
  slurm->clear_calls();
  try {
    submit_run(plan);
    FAIL() << "a second submit while a[0] runs went through";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("still has queued or running tasks in stage a"));
  }
  EXPECT_TRUE(slurm->calls("sbatch").empty());
}

// a[1] failed, its partner b[1] waits (DependencyNeverSatisfied), c waits for all of b.
struct AfterOneFailure : SlurmExecutor {
  void SetUp() override {
    SlurmExecutor::SetUp();
    submit_run(plan);  // a = 100, b = 101, c = 102
    for (std::size_t i : {0, 2, 3}) {
      write_task_marker(plan.run_dir, "a", i, "done");
      write_task_marker(plan.run_dir, "b", i, "done");
    }
    write_task_marker(plan.run_dir, "a", 1, "failed");
    slurm->set_queue({{"100", "0", "COMPLETED", "None"},
                      {"100", "1", "FAILED", "NonZeroExitCode"},
                      {"100", "2", "COMPLETED", "None"},
                      {"100", "3", "COMPLETED", "None"},
                      {"101", "0", "COMPLETED", "None"},
                      {"101", "1", "PENDING", "DependencyNeverSatisfied"},
                      {"101", "2", "COMPLETED", "None"},
                      {"101", "3", "COMPLETED", "None"},
                      {"102", "N/A", "PENDING", "Dependency"}});
    slurm->clear_calls();
  }
};

TEST_F(AfterOneFailure, ResubmitSendsExactlyTheFailedIndex) {
  resubmit_run(plan, "");
  ASSERT_EQ(slurm->calls("sbatch").size(), 1u);
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("1%2"));
  EXPECT_EQ(stage_of_job("103"), "a");
  EXPECT_THAT(sbatch_option("--export"), ElementsAre("ALL,XMTF_INDEX_OFFSET=0"));
  StateStore store(plan.run_dir);
  EXPECT_EQ(format_index_ranges(store.submissions().back().indices), "1");
}

TEST_F(AfterOneFailure, ResubmitRepointsTheWaitingDependentAtTheNewJob) {
  resubmit_run(plan, "");
  auto updates = slurm->dependency_updates();
  ASSERT_FALSE(updates.empty());
  EXPECT_EQ(updates[0], std::make_pair(std::string("101"), std::string("aftercorr:103")));
  for (const auto& [job, dependency] : updates) {
    EXPECT_NE(job, "100") << "a finished job was re-pointed";
    EXPECT_NE(job, "103") << "the new job was re-pointed";
  }
}

TEST_F(AfterOneFailure, ResubmitWithNothingFailedSubmitsNothing) {
  write_task_marker(plan.run_dir, "a", 1, "done");
  fs::remove(marker_path(plan.run_dir / "a", 1, "failed"));
  slurm->set_queue({{"101", "1", "PENDING", "Dependency"}, {"102", "N/A", "PENDING", "Dependency"}});
  resubmit_run(plan, "");
  EXPECT_TRUE(slurm->calls("sbatch").empty());
  EXPECT_TRUE(slurm->dependency_updates().empty());
}

TEST_F(AfterOneFailure, ResubmitOfOneStageLeavesTheOthers) {
  write_task_marker(plan.run_dir, "b", 1, "failed");
  slurm->set_queue({{"100", "1", "FAILED", "NonZeroExitCode"}, {"101", "1", "FAILED", "NonZeroExitCode"},
                    {"102", "N/A", "PENDING", "Dependency"}});
  resubmit_run(plan, "b");
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("1%2"));
  EXPECT_EQ(stage_of_job("103"), "b");
}

TEST_F(SlurmExecutor, CancelStopsEveryJobWithQueuedOrRunningTasks) {
  submit_run(plan);  // 100, 101, 102
  write_task_marker(plan.run_dir, "a", 3, "done");
  slurm->set_queue({{"100", "0", "RUNNING", "None"},
                    {"100", "1", "RUNNING", "None"},
                    {"100", "2", "PENDING", "Resources"},
                    {"100", "3", "COMPLETED", "None"},
                    {"101", "0", "PENDING", "Dependency"},
                    {"101", "1", "PENDING", "Dependency"},
                    {"101", "2", "PENDING", "Dependency"},
                    {"101", "3", "PENDING", "Dependency"},
                    {"102", "N/A", "PENDING", "Dependency"}});
  slurm->clear_calls();
  cancel_run(read_run_info(plan.run_dir));
  auto calls = slurm->calls("scancel");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_THAT(calls[0], UnorderedElementsAre("100", "101", "102"));
}

TEST_F(SlurmExecutor, CancelLeavesFinishedJobsAlone) {
  submit_run(plan);
  for (std::size_t i = 0; i < 4; ++i) write_task_marker(plan.run_dir, "a", i, "done");
  slurm->set_queue({{"100", "0", "COMPLETED", "None"},
                    {"101", "0", "RUNNING", "None"},
                    {"102", "N/A", "PENDING", "Dependency"}});
  slurm->clear_calls();
  cancel_run(read_run_info(plan.run_dir));
  auto calls = slurm->calls("scancel");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_THAT(calls[0], UnorderedElementsAre("101", "102"));
}

// Arrays larger than MaxArraySize are split into jobs with index offsets, and aligned stages
// chain chunk to chunk.
TEST_F(SlurmExecutor, LargeArraysSplitAtMaxArraySize) {
  slurm->set_max_array_size(10);
  std::string items;
  for (int i = 0; i < 25; ++i) items += fmt::format("{}\"{}\"", i ? ", " : "", i);
  Plan big = plan_of(fmt::format(R"([run]
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
                                 (dir / "work").string(), items));
  submit_run(big);
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("0-9", "0-9", "0-4", "0-9", "0-9", "0-4"));
  EXPECT_THAT(sbatch_option("--export"),
              ElementsAre("ALL,XMTF_INDEX_OFFSET=0", "ALL,XMTF_INDEX_OFFSET=10", "ALL,XMTF_INDEX_OFFSET=20",
                          "ALL,XMTF_INDEX_OFFSET=0", "ALL,XMTF_INDEX_OFFSET=10", "ALL,XMTF_INDEX_OFFSET=20"));
  EXPECT_THAT(sbatch_option("--dependency"), ElementsAre("", "", "", "aftercorr:100", "aftercorr:101", "aftercorr:102"));
  StateStore store(big.run_dir);
  auto subs = store.submissions();
  ASSERT_EQ(subs.size(), 6u);
  EXPECT_EQ(subs[2].index_offset, 20u);
  EXPECT_EQ(format_index_ranges(subs[2].indices), "20-24");
}

// ------------------------------------------------------------------ the local runner

// The runner starts tasks through plan.xmtf_path: a script that logs "stage index" and hands
// over to the real `xmtf task`, so markers and logs are the real ones.
struct LocalExecutor : ::testing::Test {
  fs::path dir;
  Plan plan;

  void SetUp() override {
    dir = testing::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::path wrapper = dir / "xmtf";
    write_file_atomic(wrapper, fmt::format("#!/bin/bash\n"
                                           "stage=$(basename \"$(dirname \"$3\")\")\n"
                                           "echo \"$stage $5\" >> {}\n"
                                           "exec {} \"$@\"\n",
                                           (dir / "starts.log").string(), std::string(XMTF_BIN_DIR) + "/xmtf"));
    fs::permissions(wrapper, fs::perms::owner_all);
    plan = make_plan(parse_manifest(fmt::format(R"([run]
name = "loc"
workdir = "{}"
[local]
max_parallel = 2
[languages]
use = ["en", "fr", "sw"]
[stages.a]
array = "languages"
run = "test -e fail_{{lang}} && exit 4; echo {{lang}} >> a_{{lang}}.txt"
[stages.b]
array = "languages"
after = ["a"]
run = "echo {{lang}} >> b_{{lang}}.txt"
[stages.c]
after = ["b"]
run = "echo c >> c.txt"
)",
                                                dir.string()),
                                    "m.toml", "."),
                     wrapper, /*check_machine=*/false);
  }
  void TearDown() override { fs::remove_all(dir); }
  std::multiset<std::string> starts() {
    std::multiset<std::string> out;
    if (fs::exists(dir / "starts.log"))
      for (const auto& line : split(read_file(dir / "starts.log"), '\n'))
        if (!line.empty()) out.insert(line);
    fs::remove(dir / "starts.log");
    return out;
  }
};

TEST_F(LocalExecutor, StartsOnlyWhatIsNotDoneAndNeverRestartsIt) {
  write_plan(plan);
  write_task_marker(plan.run_dir, "a", 1, "done");
  write_task_marker(plan.run_dir, "b", 1, "done");
  EXPECT_EQ(run_local(plan), 0);
  EXPECT_EQ(starts(), (std::multiset<std::string>{"a 0", "a 2", "b 0", "b 2", "c 0"}));
  EXPECT_EQ(read_file(dir / "c.txt"), "c\n");
  EXPECT_EQ(run_local(plan), 0);
  EXPECT_TRUE(starts().empty()) << "a second run started tasks that were done";
  EXPECT_EQ(read_file(dir / "a_en.txt"), "en\n");
}

TEST_F(LocalExecutor, AFailureStopsOnlyItsDependentsAndTheRerunTakesExactlyThose) {
  write_file_atomic(dir / "fail_fr", "");
  EXPECT_EQ(run_local(plan), 1);
  EXPECT_EQ(starts(), (std::multiset<std::string>{"a 0", "a 1", "a 2", "b 0", "b 2"}));
  EXPECT_FALSE(fs::exists(dir / "c.txt"));
  fs::remove(dir / "fail_fr");
  EXPECT_EQ(run_local(plan), 0);
  EXPECT_EQ(starts(), (std::multiset<std::string>{"a 1", "b 1", "c 0"}));
  for (const char* lang : {"en", "fr", "sw"}) EXPECT_EQ(read_file(dir / fmt::format("b_{}.txt", lang)), std::string(lang) + "\n");
}

}  // namespace
}  // namespace xmtf::sched
