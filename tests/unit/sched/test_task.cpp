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

TEST_F(TaskFixture, IndexOutOfRange) {
  EXPECT_THROW(run("a", 3), Error);
}

}  // namespace
}  // namespace xmtf::sched
