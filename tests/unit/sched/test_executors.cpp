// The executors' behaviour, observed from outside: submit, resubmit and cancel against a fake
// SLURM that records every call (fake_slurm.hpp), and the local runner against a wrapper that
// records every task it is asked to start before handing over to the real `xmtf task`.
#include <gmock/gmock.h>

#include <chrono>
#include <set>
#include <thread>

#include "core/text.hpp"
#include "core/process.hpp"
#include "sched/executor.hpp"
#include "sched/lock.hpp"
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
  // b[0]'s partner is done: it waits for nothing (with aftercorr:100 it would wait for all of
  // job 100, which lacks task 0). c waits for every job that holds b's tasks.
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("1-3%2", "0%2", "1-3%2", "0%2"));
  EXPECT_THAT(sbatch_option("--dependency"), ElementsAre("", "", "aftercorr:100", "afterany:101:102"));
  EXPECT_EQ(stage_of_job("100"), "a");
  EXPECT_EQ(stage_of_job("101"), "b");
  EXPECT_EQ(stage_of_job("103"), "c");
  StateStore store(plan.run_dir);
  auto subs = store.submissions();
  ASSERT_EQ(subs.size(), 4u);
  EXPECT_EQ(format_index_ranges(subs[0].indices), "1-3");
  EXPECT_EQ(subs[2].dependency, "aftercorr:100");
  // Each submission is recorded in its launch folder too (state.sqlite can be rebuilt).
  EXPECT_THAT(read_file(fs::path(subs[3].launch_dir) / "submission.json"), HasSubstr("\"job_id\": \"103\""));
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
  write_task_marker(plan.run_dir, "a", 1, "done");
  fs::remove(marker_path(plan.run_dir / "a", 1, "failed"));
  write_task_marker(plan.run_dir, "b", 1, "failed");
  slurm->set_queue({{"101", "1", "FAILED", "NonZeroExitCode"}, {"102", "N/A", "PENDING", "Dependency"}});
  resubmit_run(plan, "b");
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("1%2"));
  EXPECT_THAT(sbatch_option("--dependency"), ElementsAre(""));
  EXPECT_EQ(stage_of_job("103"), "b");
  // c now also waits for the new job, which holds b[1].
  EXPECT_THAT(slurm->dependency_updates(), ElementsAre(std::make_pair(std::string("102"), std::string("afterany:103"))));
}

// A task whose input nothing will produce (its partner failed and is not resubmitted) is not
// submitted to wait forever.
TEST_F(AfterOneFailure, ResubmitOfOneStageSkipsTasksWhoseInputCannotBeProduced) {
  write_task_marker(plan.run_dir, "b", 1, "failed");
  slurm->set_queue({{"100", "1", "FAILED", "NonZeroExitCode"}, {"101", "1", "FAILED", "NonZeroExitCode"},
                    {"102", "N/A", "PENDING", "Dependency"}});
  resubmit_run(plan, "b");
  EXPECT_TRUE(slurm->calls("sbatch").empty());
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

// Issue 19.1: b[1] fails while its siblings still run. c (after all of b) must wait for the old
// job and the new one in a form SLURM can satisfy whatever the old job's outcome: afterok on a job
// holding a failed task is never satisfied.
TEST_F(SlurmExecutor, ResubmitWhileSiblingsRunKeepsTheWholeStageDependentSatisfiable) {
  submit_run(plan);  // a = 100, b = 101, c = 102
  for (std::size_t i = 0; i < 4; ++i) write_task_marker(plan.run_dir, "a", i, "done");
  write_task_marker(plan.run_dir, "b", 1, "failed");
  write_task_marker(plan.run_dir, "b", 3, "done");
  slurm->set_queue({{"101", "0", "RUNNING", "None"},
                    {"101", "1", "FAILED", "NonZeroExitCode"},
                    {"101", "2", "RUNNING", "None"},
                    {"101", "3", "COMPLETED", "None"},
                    {"102", "N/A", "PENDING", "Dependency"}});
  slurm->clear_calls();
  resubmit_run(plan, "");
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("1%2"));
  EXPECT_EQ(stage_of_job("103"), "b");
  EXPECT_THAT(slurm->dependency_updates(), ElementsAre(std::make_pair(std::string("102"), std::string("afterany:101:103"))));
}

// Issue 19.2: a[1] and then a[2] fail and are resubmitted one after the other. b[1] must still
// wait for the first rerun when the second resubmit re-points b[2].
TEST_F(SlurmExecutor, TwoSuccessiveResubmitsKeepEveryPartnerDependency) {
  submit_run(plan);  // a = 100, b = 101 (aftercorr:100), c = 102
  write_task_marker(plan.run_dir, "a", 1, "failed");
  slurm->set_queue({{"100", "0", "RUNNING", "None"},
                    {"100", "1", "FAILED", "NonZeroExitCode"},
                    {"100", "2", "RUNNING", "None"},
                    {"100", "3", "RUNNING", "None"},
                    {"101", "0", "PENDING", "Dependency"},
                    {"101", "1", "PENDING", "DependencyNeverSatisfied"},
                    {"101", "2", "PENDING", "Dependency"},
                    {"101", "3", "PENDING", "Dependency"},
                    {"102", "N/A", "PENDING", "Dependency"}});
  slurm->clear_calls();
  resubmit_run(plan, "");  // a[1] -> 103
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("1%2"));
  EXPECT_THAT(slurm->dependency_updates(),
              UnorderedElementsAre(std::make_pair(std::string("101_[0,2-3]"), std::string("aftercorr:100")),
                                   std::make_pair(std::string("101_[1]"), std::string("aftercorr:103"))));

  // Now a[2] fails in the old job while a[1]'s rerun is still queued.
  for (std::size_t i : {0, 3}) {
    write_task_marker(plan.run_dir, "a", i, "done");
    write_task_marker(plan.run_dir, "b", i, "done");
  }
  write_task_marker(plan.run_dir, "a", 2, "failed");
  slurm->set_queue({{"100", "0", "COMPLETED", "None"},
                    {"100", "1", "FAILED", "NonZeroExitCode"},
                    {"100", "2", "FAILED", "NonZeroExitCode"},
                    {"100", "3", "COMPLETED", "None"},
                    {"101", "0", "COMPLETED", "None"},
                    {"101", "1", "PENDING", "Dependency"},
                    {"101", "2", "PENDING", "DependencyNeverSatisfied"},
                    {"101", "3", "COMPLETED", "None"},
                    {"102", "N/A", "PENDING", "Dependency"},
                    {"103", "1", "PENDING", "Priority"}});
  slurm->clear_calls();
  resubmit_run(plan, "");  // a[2] -> 104
  EXPECT_THAT(sbatch_option("--array"), ElementsAre("2%2"));
  EXPECT_EQ(stage_of_job("104"), "a");
  EXPECT_THAT(slurm->dependency_updates(),
              UnorderedElementsAre(std::make_pair(std::string("101_[1]"), std::string("aftercorr:103")),
                                   std::make_pair(std::string("101_[2]"), std::string("aftercorr:104"))));
}

// A blocked task (DependencyNeverSatisfied) is repaired even when nothing is left to resubmit:
// here its partner was rerun and is done.
TEST_F(AfterOneFailure, BlockedDependentIsRepointedWhenItsInputIsDone) {
  write_task_marker(plan.run_dir, "a", 1, "done");
  fs::remove(marker_path(plan.run_dir / "a", 1, "failed"));
  RunStatus before = query_status(read_run_info(plan.run_dir));
  EXPECT_EQ(before.stage("b").tasks[1].state, TaskState::blocked);
  EXPECT_THAT(format_status(read_run_info(plan.run_dir), before), HasSubstr("blocked tasks (`xmtf resubmit` repairs them):\n  b[1] lang=fr: waits for a dependency that can never be satisfied"));
  resubmit_run(plan, "");
  EXPECT_TRUE(slurm->calls("sbatch").empty());
  EXPECT_THAT(slurm->dependency_updates(), ElementsAre(std::make_pair(std::string("101"), std::string(""))));
}

// Issue 19.3: a resubmit waits for one in progress, then sees what that one submitted.
TEST_F(AfterOneFailure, ConcurrentResubmitWaitsForTheRunLock) {
  auto other = std::make_unique<RunLock>(plan.run_dir, "resubmit r", 0);
  std::thread holder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    // What the other resubmit did meanwhile: a[1] is queued again, in job 103.
    slurm->set_queue({{"100", "1", "FAILED", "NonZeroExitCode"},
                      {"101", "1", "PENDING", "Dependency"},
                      {"102", "N/A", "PENDING", "Dependency"},
                      {"103", "1", "PENDING", "Priority"}});
    StateStore store(plan.run_dir);
    Submission s;
    s.stage = "a";
    s.job_id = "103";
    s.indices = {1};
    s.submitted_at = unix_now();
    s.launch_dir = (plan.run_dir / "a/launch/0002").string();
    fs::create_directories(s.launch_dir);
    store.add(s);
    other.reset();
  });
  resubmit_run(plan, "");
  holder.join();
  EXPECT_TRUE(slurm->calls("sbatch").empty()) << "a[1] was submitted a second time";
}

// Issue 19.4: a pending task scancel'd disappears from squeue; it is cancelled at once, and
// resubmit takes it without waiting for lost_after_seconds.
TEST_F(SlurmExecutor, PendingTaskCancelledInTheQueueIsResubmittedAtOnce) {
  submit_run(plan);
  slurm->set_queue({{"100", "0", "PENDING", "Priority"},
                    {"100", "2", "PENDING", "Priority"},
                    {"100", "3", "PENDING", "Priority"},
                    {"101", "0", "PENDING", "Dependency"}});
  RunStatus status = query_status(read_run_info(plan.run_dir));
  EXPECT_EQ(status.stage("a").tasks[1].state, TaskState::failed);
  EXPECT_EQ(status.stage("a").tasks[1].detail, "cancelled: removed from the queue before it started");
  slurm->clear_calls();
  resubmit_run(plan, "");
  EXPECT_THAT(sbatch_option("--array"), ::testing::Contains("1%2"));
  EXPECT_EQ(stage_of_job("103"), "a");
}

// Where accounting exists, sacct's state of a task squeue no longer lists is used.
TEST_F(SlurmExecutor, AccountingExplainsTasksTheQueueNoLongerLists) {
  submit_run(plan);
  slurm->set_queue({{"100", "0", "RUNNING", "None"}});
  slurm->set_sacct("100_0|RUNNING\n100_1|CANCELLED by 0\n100_[2-3%2]|PENDING\n");
  RunStatus status = query_status(read_run_info(plan.run_dir));
  EXPECT_EQ(status.stage("a").tasks[0].state, TaskState::running);
  EXPECT_EQ(status.stage("a").tasks[1].state, TaskState::failed);
  EXPECT_EQ(status.stage("a").tasks[1].detail, "cancelled before it finished");
  EXPECT_EQ(status.stage("a").tasks[2].state, TaskState::pending);
  EXPECT_EQ(status.stage("a").tasks[3].state, TaskState::pending);
}

// Issue 19.5: a failing squeue is an error, never an empty queue.
TEST_F(SlurmExecutor, FailingQueueQueryIsAnErrorNotAnEmptyQueue) {
  submit_run(plan);
  slurm->make_fail("squeue", "squeue: error: Unable to contact slurm controller (connect failure)");
  slurm->clear_calls();
  try {
    query_status(read_run_info(plan.run_dir), 0);
    FAIL() << "status read a failing squeue as an empty queue";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("squeue failed (exit 1): squeue: error: Unable to contact slurm controller"));
  }
  EXPECT_THROW(resubmit_run(plan, ""), Error);
  EXPECT_THROW(cancel_run(read_run_info(plan.run_dir)), Error);
  EXPECT_TRUE(slurm->calls("sbatch").empty());
  EXPECT_TRUE(slurm->calls("scancel").empty());
  // "Invalid job id" is an answer: squeue knows none of the ids any more.
  slurm->make_fail("squeue", "slurm_load_jobs error: Invalid job id specified");
  EXPECT_EQ(query_status(read_run_info(plan.run_dir), 3600).stage("a").tasks[0].state, TaskState::pending);
  slurm->make_fail("sacct", "sacct: error: slurmdbd: Connection refused");
  EXPECT_THROW(query_status(read_run_info(plan.run_dir), 3600), Error);
}

// Issue 19.7: a deleted state.sqlite is rebuilt from the launch records: queued tasks stay
// queued, and nothing is submitted twice.
TEST_F(SlurmExecutor, DeletedStateIsRebuiltFromLaunchRecords) {
  submit_run(plan);  // 100, 101, 102
  slurm->set_queue({{"100", "0", "RUNNING", "None"},
                    {"100", "1", "RUNNING", "None"},
                    {"100", "2", "PENDING", "Resources"},
                    {"100", "3", "PENDING", "Resources"},
                    {"101", "0", "PENDING", "Dependency"},
                    {"101", "1", "PENDING", "Dependency"},
                    {"101", "2", "PENDING", "Dependency"},
                    {"101", "3", "PENDING", "Dependency"},
                    {"102", "N/A", "PENDING", "Dependency"}});
  fs::remove(plan.run_dir / "state.sqlite");
  RunStatus status = query_status(read_run_info(plan.run_dir));
  EXPECT_EQ(status.stage("a").count(TaskState::running), 2u);
  EXPECT_EQ(status.stage("c").count(TaskState::pending), 1u);
  EXPECT_FALSE(fs::exists(plan.run_dir / "state.sqlite")) << "status wrote";
  slurm->clear_calls();
  resubmit_run(plan, "");
  EXPECT_TRUE(slurm->calls("sbatch").empty());
  EXPECT_EQ(StateStore(plan.run_dir).submissions().size(), 3u);
}

// ... and with the launch records gone too, jobs of the run still in the queue are refused.
TEST_F(SlurmExecutor, UnrecordedJobsOfTheRunInTheQueueAreRefused) {
  submit_run(plan);
  std::string script = (plan.run_dir / "a/launch/0001/job.sbatch").string();
  slurm->set_queue({{"100", "0", "RUNNING", "None", "xmtf.r.a", script},
                    {"100", "1", "PENDING", "Resources", "xmtf.r.a", script},
                    {"77", "0", "RUNNING", "None", "xmtf.r.a", "/elsewhere/jobs/r/a/launch/0001/job.sbatch"}});
  fs::remove(plan.run_dir / "state.sqlite");
  for (const char* stage : {"a", "b", "c"}) fs::remove(plan.run_dir / stage / "launch/0001/submission.json");
  slurm->clear_calls();
  try {
    resubmit_run(plan, "");
    FAIL() << "resubmitted while job 100 of the run is unrecorded";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("jobs 100 of run r are in the SLURM queue, but no submission record"));
  }
  EXPECT_THROW(submit_run(plan), Error);
  EXPECT_TRUE(slurm->calls("sbatch").empty());
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

// Issue 19.8: one `xmtf run` of a run at a time.
TEST_F(LocalExecutor, SecondRunOfTheSameRunIsRefused) {
  RunLock other(plan.run_dir, "run m.toml", 0);
  try {
    run_local(plan);
    FAIL() << "a second run started";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("run loc is being changed by `xmtf run m.toml` (pid "));
  }
  EXPECT_TRUE(starts().empty());
}

// Issue 19.9: a task whose previous attempt is still alive (an orphan of a killed run) is not
// started beside it; the run waits for it to end, then runs it since it did not finish.
TEST_F(LocalExecutor, PreviousAttemptStillAliveIsNotStartedAgain) {
  write_plan(plan);
  ProcessOptions group;
  group.new_process_group = true;
  pid_t orphan = spawn_process({"sleep", "1.5"}, group);
  Marker running;
  running.run = "loc";
  running.stage = "a";
  running.index = 0;
  running.status = "running";
  running.host = host_name();
  running.pid = 999999;  // its wrapper is gone
  running.program_pid = orphan;
  write_marker(plan.run_dir / "a", running);
  std::thread reaper([&] { wait_process(orphan); });  // the orphan is our child: reap it when it ends
  double start = unix_now();
  EXPECT_EQ(run_local(plan), 0);
  reaper.join();
  EXPECT_GE(unix_now() - start, 1.4);
  EXPECT_EQ(starts().count("a 0"), 1u);
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
