// The SLURM path with stale tasks, on the fake SLURM of fake_slurm.hpp: each submitted array
// task is then run through the real task wrapper (as its job would, so it records its
// fingerprint) and shows as COMPLETED in squeue. After an input or an option changes, resubmit
// and submit must send exactly the stale indices, like failed ones, with their dependents
// chained to the new jobs.
#include <gmock/gmock.h>

#include <regex>

#include "core/text.hpp"
#include "sched/executor.hpp"
#include "sched/fingerprint.hpp"
#include "sched/markers.hpp"
#include "sched/stale.hpp"
#include "sched/task.hpp"
#include "fake_slurm.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::ElementsAre;
using testing::FakeSlurm;

struct StaleSlurmTest : ::testing::Test {
  fs::path dir, work;
  std::unique_ptr<FakeSlurm> slurm;
  std::vector<std::vector<std::string>> queue;  // every job so far, COMPLETED
  std::size_t jobs_run = 0;
  std::string c_run = "cat out/b_*.txt > out/c.txt";
  Plan plan;

  void SetUp() override {
    dir = testing::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    work = dir / "work";
    slurm = std::make_unique<FakeSlurm>(dir / "fake");
    fs::create_directories(work / "out");
    for (const char* lang : {"en", "sw", "zh"}) write_file_atomic(work / "data" / (std::string(lang) + ".txt"), lang);
  }
  void TearDown() override {
    slurm.reset();
    fs::remove_all(dir);
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
[stages.c]
after = ["b"]
run = "{}"
)TOML",
                                       work.string(), c_run);
    plan = make_plan(parse_manifest(manifest, "m.toml", "."), "/opt/xmtf/bin/xmtf", false);
    identify_programs(plan);
  }
  // The jobs submitted since the last call run now, in order (dependencies hold by order).
  void run_new_jobs() {
    auto calls = slurm->calls("sbatch");
    for (; jobs_run < calls.size(); ++jobs_run) {
      std::string job = std::to_string(100 + jobs_run);
      std::smatch spec;
      std::string script = slurm->script_of_job(job);
      ASSERT_TRUE(std::regex_search(script, spec, std::regex("task --spec '?([^' \\n]+)")));
      std::size_t offset = std::stoul(FakeSlurm::option(calls[jobs_run], "--export").substr(std::string("ALL,XMTF_INDEX_OFFSET=").size()));
      std::string array = FakeSlurm::option(calls[jobs_run], "--array");
      for (std::size_t i : parse_index_ranges(array.substr(0, array.find('%')))) {
        ::setenv("SLURM_JOB_ID", job.c_str(), 1);
        EXPECT_EQ(run_task({spec[1].str(), offset + i, false}), 0);
        ::unsetenv("SLURM_JOB_ID");
        queue.push_back({job, std::to_string(i), "COMPLETED", "None"});
      }
    }
    slurm->set_queue(queue);
  }
  std::vector<std::string> stale_labels(const StaleReport& report) {
    std::vector<std::string> labels;
    for (const auto& s : report.stages)
      for (const auto& t : s.stale) labels.push_back(t.label);
    return labels;
  }
  std::vector<std::string> new_sbatch(const std::string& option, std::size_t from) {
    std::vector<std::string> out;
    auto calls = slurm->calls("sbatch");
    for (std::size_t i = from; i < calls.size(); ++i) out.push_back(FakeSlurm::option(calls[i], option));
    return out;
  }
};

TEST_F(StaleSlurmTest, ResubmitAndSubmitSendTheStaleTasksLikeFailedOnes) {
  replan();
  StaleReport none = find_stale(plan);
  submit_run(plan, &none);  // a = 100, b = 101, c = 102
  run_new_jobs();
  ASSERT_TRUE(query_status(run_info_of(plan)).all_done());

  write_file_atomic(work / "data/sw.txt", "swahili");
  replan();
  StaleReport report = find_stale(plan);
  EXPECT_THAT(stale_labels(report), ElementsAre("a[sw]", "b[sw]", "c[0]"));
  resubmit_run(plan, "", &report);  // a = 103, b = 104, c = 105
  EXPECT_THAT(new_sbatch("--array", 3), ElementsAre("1", "1", "0"));
  EXPECT_THAT(new_sbatch("--dependency", 3), ElementsAre("", "aftercorr:103", "afterany:104"));
  // Before the new jobs run, the retired tasks are waiting for them, not done.
  RunStatus waiting = query_status(run_info_of(plan));
  EXPECT_EQ(waiting.stage("a").tasks[1].state, TaskState::pending);
  EXPECT_EQ(waiting.stage("a").tasks[0].state, TaskState::done);
  run_new_jobs();
  EXPECT_EQ(read_file(work / "out/a_sw.txt"), "swswahili");  // appended: it ran twice
  EXPECT_EQ(read_file(work / "out/a_en.txt"), "en");         // ran once
  EXPECT_EQ(read_file(work / "out/c.txt"), "enswswahilizh");
  EXPECT_EQ(read_marker(plan.run_dir / "a", 1, "done")->job_id, "103");
  EXPECT_TRUE(query_status(run_info_of(plan)).all_done());
  replan();
  EXPECT_EQ(find_stale(plan).stale_count(), 0u);

  // submit: an edited option of c submits c alone, with nothing to wait for.
  c_run = "cat out/b_*.txt out/b_*.txt > out/c.txt";
  replan();
  StaleReport edited = find_stale(plan);
  EXPECT_THAT(stale_labels(edited), ElementsAre("c[0]"));
  submit_run(plan, &edited);  // c = 106
  EXPECT_THAT(new_sbatch("--array", 6), ElementsAre("0"));
  EXPECT_THAT(new_sbatch("--dependency", 6), ElementsAre(""));
  run_new_jobs();
  EXPECT_EQ(read_file(work / "out/c.txt"), "enswswahilizhenswswahilizh");

  // --no-rerun-stale: a stale task is left alone.
  write_file_atomic(work / "data/en.txt", "english");
  replan();
  StaleReport kept = find_stale(plan, {false, {}});
  EXPECT_EQ(kept.stale_count(), 3u);
  resubmit_run(plan, "", &kept);
  EXPECT_EQ(slurm->calls("sbatch").size(), 7u);
  EXPECT_TRUE(fs::exists(marker_path(plan.run_dir / "a", 0, "done")));
}

}  // namespace
}  // namespace xmtf::sched
