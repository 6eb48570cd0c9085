#include "sched/status.hpp"

#include <gmock/gmock.h>

#include "sched/markers.hpp"
#include "sched/task.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::HasSubstr;

// One stage of 7 tasks in every situation status must tell apart.
TEST(Status, ClassifiesMarkersAndQueue) {
  fs::path dir = testing::scratch("status");
  RunInfo run;
  run.run = "r";
  run.executor = "slurm";
  run.dir = dir;
  run.stages = {{"s", 7, {}}};
  fs::create_directories(dir / "s" / "markers");
  auto marker = [&](std::size_t index, const std::string& status, int exit_status) {
    Marker m;
    m.run = "r";
    m.stage = "s";
    m.index = index;
    m.status = status;
    m.exit_status = exit_status;
    m.reason = exit_status ? "exit 3" : "";
    m.host = "elsewhere";
    m.job_id = "50";
    write_marker(dir / "s", m);
  };
  marker(0, "done", 0);
  marker(1, "failed", 3);
  StatusInputs in;
  in.now = 1000;
  in.lost_after_seconds = 100;
  Submission old;
  old.stage = "s";
  old.job_id = "50";
  old.indices = {0, 1, 2, 3, 4, 7};
  old.submitted_at = 500;
  Submission forgotten = old;
  forgotten.job_id = "51";
  forgotten.indices = {5};
  in.submissions = {old, forgotten};
  in.queue["50"][2] = {"PENDING", "Dependency"};
  in.queue["50"][3] = {"RUNNING", "None"};
  in.queue["50"][4] = {"OUT_OF_MEMORY", "None"};  // gone without a marker
  // 5: submitted long ago in a job squeue no longer knows, no marker: lost
  // 6: never submitted
  // 7: its job is known, but squeue lists no such task: scancel'd while pending
  run.stages = {{"s", 8, {}}};
  RunStatus status = compute_status(run, in);
  const auto& t = status.stages[0].tasks;
  EXPECT_EQ(t[0].state, TaskState::done);
  EXPECT_EQ(t[1].state, TaskState::failed);
  EXPECT_EQ(t[2].state, TaskState::pending);
  EXPECT_EQ(t[2].detail, "Dependency");
  EXPECT_EQ(t[3].state, TaskState::running);
  EXPECT_EQ(t[4].state, TaskState::failed);
  EXPECT_THAT(t[4].detail, HasSubstr("SLURM state OUT_OF_MEMORY without a marker"));
  EXPECT_EQ(t[5].state, TaskState::failed);
  EXPECT_THAT(t[5].detail, HasSubstr("left the queue without a marker"));
  EXPECT_EQ(t[6].state, TaskState::never_ran);
  EXPECT_EQ(t[7].state, TaskState::failed);
  EXPECT_EQ(t[7].detail, "cancelled: removed from the queue before it started");
  EXPECT_EQ(t[4].log, (dir / "s/logs/50_4.out").string());
  // A task whose dependency SLURM can no longer satisfy is blocked, not plain pending.
  in.queue["50"][2] = {"PENDING", "DependencyNeverSatisfied"};
  EXPECT_EQ(compute_status(run, in).stages[0].tasks[2].state, TaskState::blocked);
  in.queue["50"][2] = {"PENDING", "Dependency"};

  // A newer submission of task 1 that is still pending overrides the old failure.
  Submission retry;
  retry.stage = "s";
  retry.job_id = "60";
  retry.indices = {1};
  retry.submitted_at = 990;
  in.submissions.push_back(retry);
  in.queue["60"][1] = {"PENDING", "Priority"};
  EXPECT_EQ(compute_status(run, in).stages[0].tasks[1].state, TaskState::pending);
  // An exit code 0 without a marker is not success.
  in.queue["50"][4] = {"COMPLETED", "None"};
  EXPECT_EQ(compute_status(run, in).stages[0].tasks[4].state, TaskState::failed);
  fs::remove_all(dir);
}

TEST(Status, DeadLocalProcessIsFailed) {
  fs::path dir = testing::scratch("status-local");
  RunInfo run;
  run.run = "r";
  run.dir = dir;
  run.stages = {{"s", 1, {}}};
  Marker m;
  m.run = "r";
  m.stage = "s";
  m.status = "running";
  m.host = host_name();
  m.pid = 999999;  // no such process
  write_marker(dir / "s", m);
  StatusInputs in;
  in.now = unix_now();
  EXPECT_EQ(compute_status(run, in).stages[0].tasks[0].state, TaskState::failed);
  fs::remove_all(dir);
}

// A .done file counts only when it is a completion record of that very task whose outputs are
// there; anything else is a failed task whose status line says what is wrong with the file.
TEST(Status, EmptyGarbageOrForeignDoneMarkerIsNotDone) {
  fs::path dir = testing::scratch("bad-done");
  RunInfo run;
  run.run = "r";
  run.executor = "local";
  run.dir = dir / "jobs/r";
  run.workdir = dir.string();
  run.stages = {{"s", 7, {}}};
  fs::path stage_dir = run.dir / "s";
  fs::create_directories(stage_dir / "markers");
  auto done_marker = [&](std::size_t index, const std::string& run_name, std::size_t recorded_index,
                         std::vector<std::string> outputs) {
    Marker m;
    m.run = run_name;
    m.stage = "s";
    m.index = recorded_index;
    m.status = "done";
    m.outputs = std::move(outputs);
    write_file_atomic(marker_path(stage_dir, index, "done"), marker_to_json(m));
  };
  done_marker(0, "r", 0, {"out0.txt"});
  write_file_atomic(dir / "out0.txt", "x");
  write_file_atomic(marker_path(stage_dir, 1, "done"), "");
  write_file_atomic(marker_path(stage_dir, 2, "done"), "garbage\n");
  write_file_atomic(marker_path(stage_dir, 3, "done"), "{\"format\": \"xmtf-marker/1\", \"run\": \"r\"}");
  done_marker(4, "other-run", 4, {});
  done_marker(5, "r", 4, {});
  done_marker(6, "r", 6, {"out6.txt"});  // its output was deleted
  StatusInputs in;
  in.now = unix_now();
  RunStatus status = compute_status(run, in);
  const auto& t = status.stages[0].tasks;
  EXPECT_EQ(t[0].state, TaskState::done);
  for (std::size_t i = 1; i < 7; ++i) EXPECT_EQ(t[i].state, TaskState::failed) << i;
  EXPECT_THAT(t[1].detail, HasSubstr("1.done: empty file, not a marker"));
  EXPECT_THAT(t[2].detail, HasSubstr("2.done: unreadable marker"));
  EXPECT_THAT(t[3].detail, HasSubstr("3.done: unreadable marker"));
  EXPECT_THAT(t[4].detail, HasSubstr("describes other-run/s[4], not r/s[4]"));
  EXPECT_THAT(t[5].detail, HasSubstr("describes r/s[4], not r/s[5]"));
  EXPECT_EQ(t[6].detail, "done, but its output out6.txt is gone");
  EXPECT_THAT(format_status(run, status), HasSubstr("  s[1]: " + marker_path(stage_dir, 1, "done").string() + ": empty file"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace xmtf::sched
