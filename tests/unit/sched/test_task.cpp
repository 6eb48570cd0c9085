#include "sched/task.hpp"

#include <gmock/gmock.h>

#include "sched/markers.hpp"
#include "sched/plan.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::HasSubstr;

struct TaskFixture : ::testing::Test {
  fs::path dir;
  Plan plan;
  void SetUp() override {
    dir = testing::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::string manifest = fmt::format(R"TOML([run]
name = "m"
workdir = "{}"
[languages]
use = ["en", "$(touch {}/pwned)\"; rm -rf ~", "sw"]
[stages.a]
array = "languages"
run = "printf '%s\n' {{lang}} >> out_{{index}}.txt; test -e fail_{{index}} && exit 5; true"
outputs = ["out_{{index}}.txt"]
[stages.b]
array = "languages"
run = "true"
outputs = ["never_written_{{index}}"]
[stages.c]
array = "languages"
after = ["a"]
run = "echo c >> c_{{index}}.txt"
[stages.d]
after = ["a"]
run = "echo d >> d.txt"
)TOML",
                                       dir.string(), dir.string());
    plan = make_plan(parse_manifest(manifest, "m.toml", "."), "/bin/false", false);
    write_plan(plan);
  }
  void TearDown() override { fs::remove_all(dir); }
  int run(const std::string& stage, std::size_t index) {
    return run_task({plan.run_dir / stage / "stage.json", index, true});
  }
};

TEST_F(TaskFixture, DoneMarkerThenSkip) {
  EXPECT_EQ(run("a", 0), 0);
  auto marker = read_marker(plan.run_dir / "a", 0, "done");
  ASSERT_TRUE(marker.has_value());
  EXPECT_EQ(marker->exit_status, 0);
  EXPECT_EQ(marker->attempt, 1);
  EXPECT_EQ(marker->params.at("lang"), "en");
  EXPECT_EQ(marker->outputs, std::vector<std::string>{"out_0.txt"});
  EXPECT_EQ(marker->host, host_name());
  EXPECT_GE(marker->end_time, marker->start_time);
  EXPECT_FALSE(fs::exists(marker_path(plan.run_dir / "a", 0, "running")));
  EXPECT_EQ(run("a", 0), 0);  // skipped: the program does not run again
  EXPECT_EQ(read_file(dir / "out_0.txt"), "en\n");
}

// An empty or garbage done marker does not make the wrapper skip the task: it runs again.
TEST_F(TaskFixture, UnusableDoneMarkerRunsTheTaskAgain) {
  for (const char* content : {"", "{not json", "{\"format\": \"xmtf-marker/1\"}"}) {
    write_file_atomic(marker_path(plan.run_dir / "a", 0, "done"), content);
    fs::remove(dir / "out_0.txt");
    EXPECT_EQ(run("a", 0), 0);
    EXPECT_EQ(read_file(dir / "out_0.txt"), "en\n") << "content: '" << content << "'";
    ASSERT_TRUE(read_marker(plan.run_dir / "a", 0, "done").has_value());
  }
  // A valid marker whose declared output was deleted: the task runs again too.
  fs::remove(dir / "out_0.txt");
  EXPECT_EQ(run("a", 0), 0);
  EXPECT_TRUE(fs::exists(dir / "out_0.txt"));
  EXPECT_EQ(run("a", 0), 0);  // now a real completion record: skipped
  EXPECT_EQ(read_file(dir / "out_0.txt"), "en\n");
}

TEST_F(TaskFixture, ShellValuesStayLiteral) {
  EXPECT_EQ(run("a", 1), 0);
  EXPECT_EQ(read_file(dir / "out_1.txt"), "$(touch " + dir.string() + "/pwned)\"; rm -rf ~\n");
  EXPECT_FALSE(fs::exists(dir / "pwned"));
}

TEST_F(TaskFixture, FailureMarkerAndAttempts) {
  write_file_atomic(dir / "fail_2", "");
  EXPECT_EQ(run("a", 2), 5);
  auto failed = read_marker(plan.run_dir / "a", 2, "failed");
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->exit_status, 5);
  EXPECT_EQ(failed->reason, "exit 5");
  EXPECT_EQ(failed->log, (plan.run_dir / "a/logs/local_2.out").string());
  EXPECT_FALSE(fs::exists(marker_path(plan.run_dir / "a", 2, "done")));
  fs::remove(dir / "fail_2");
  EXPECT_EQ(run("a", 2), 0);
  auto done = read_marker(plan.run_dir / "a", 2, "done");
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->attempt, 2);
  EXPECT_FALSE(fs::exists(marker_path(plan.run_dir / "a", 2, "failed")));
}

TEST_F(TaskFixture, MissingOutputIsFailure) {
  EXPECT_NE(run("b", 0), 0);
  auto failed = read_marker(plan.run_dir / "b", 0, "failed");
  ASSERT_TRUE(failed.has_value());
  EXPECT_THAT(failed->reason, HasSubstr("exit 0 but the declared output never_written_0 is missing"));
}

// SLURM may start a task before its inputs exist (afterany after a failure, a dependency on a job
// it forgot): the wrapper checks the upstream markers and does not start the program.
TEST_F(TaskFixture, UpstreamNotDoneMeansNotStarted) {
  EXPECT_EQ(run("c", 1), 1);
  auto failed = read_marker(plan.run_dir / "c", 1, "failed");
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->reason, "not started: a[1] is not done");
  EXPECT_FALSE(fs::exists(dir / "c_1.txt"));
  EXPECT_EQ(run("a", 1), 0);
  EXPECT_EQ(run("c", 1), 0);  // only its partner is needed
  EXPECT_EQ(read_file(dir / "c_1.txt"), "c\n");
  EXPECT_EQ(run("d", 0), 1);  // the whole stage is needed
  EXPECT_EQ(read_marker(plan.run_dir / "d", 0, "failed")->reason, "not started: a[0] is not done");
  EXPECT_EQ(run("a", 0), 0);
  write_file_atomic(marker_path(plan.run_dir / "a", 2, "done"), "");  // not a completion record
  EXPECT_EQ(run("d", 0), 1);
  EXPECT_THAT(read_marker(plan.run_dir / "d", 0, "failed")->reason, HasSubstr("not started: a[2] is not done (" ));
  EXPECT_EQ(run("a", 2), 0);
  EXPECT_EQ(run("d", 0), 0);
  EXPECT_EQ(read_file(dir / "d.txt"), "d\n");
}

TEST_F(TaskFixture, IndexOutOfRange) {
  EXPECT_THROW(run("a", 3), Error);
}

// Issue 19.6: MPI stages under srun end when one rank dies (--kill-on-bad-exit=1), instead of
// leaving the others waiting for it until the time limit.
TEST(TaskLauncher, SrunGetsKillOnBadExit) {
  fs::path dir = testing::scratch("srun");
  write_file_atomic(dir / "srun", "#!/bin/bash\nprintf '%s\\n' \"$@\" > " + (dir / "srun.args").string() + "\n");
  fs::permissions(dir / "srun", fs::perms::owner_all);
  std::string manifest = fmt::format(R"TOML([run]
name = "s"
executor = "slurm"
workdir = "{}"
[slurm]
mpi_launcher = "{} --mpi=pmi2"
[stages.m]
argv = ["/bin/true"]
mpi = true
ntasks = 2
)TOML",
                                     dir.string(), (dir / "srun").string());
  Plan plan = make_plan(parse_manifest(manifest, "m.toml", "."), "/bin/false", false);
  write_plan(plan);
  EXPECT_EQ(run_task({plan.run_dir / "m" / "stage.json", 0, true}), 0);
  EXPECT_EQ(read_file(dir / "srun.args"), "--kill-on-bad-exit=1\n--mpi=pmi2\n-n\n2\n/bin/true\n");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace xmtf::sched
