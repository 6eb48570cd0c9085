// Completion records (what a rerun's skip rests on) and the cleanup of stale temporary files.
#include <gtest/gtest.h>

#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <fmt/format.h>

#include "core/completion.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

namespace xmtf {
namespace {

class CompletionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("xmtf-completion-{}-{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "out");
    write_file_atomic(dir_ / "input.txt", "the input\n");
    write_file_atomic(dir_ / "out" / "a.txt", "output a\n");
    write_file_atomic(dir_ / "out" / "b.txt", "output b\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  CompletionRecord expected(const std::string& options = "x=1") const {
    CompletionRecord record("test/1", options);
    record.add_input(dir_ / "input.txt");
    return record;
  }
  void write_record() const {
    CompletionRecord record = expected();
    record.add_output(dir_ / "out", "a.txt");
    record.add_output(dir_ / "out", "b.txt");
    record.write(record_path());
  }
  fs::path record_path() const { return dir_ / "out" / ".test.done"; }

  fs::path dir_;
};

TEST_F(CompletionTest, AVerifiedRecordMeansDone) {
  write_record();
  EXPECT_EQ(expected().mismatch(record_path()), "");
  EXPECT_EQ(recorded_outputs(record_path()), (std::vector<std::string>{"a.txt", "b.txt"}));
}

TEST_F(CompletionTest, MissingEmptyOrGarbageRecordsAreNotDone) {
  EXPECT_NE(expected().mismatch(record_path()).find("no completion record"), std::string::npos);
  write_file_atomic(record_path(), "");
  EXPECT_NE(expected().mismatch(record_path()).find("unreadable completion record"), std::string::npos);
  write_file_atomic(record_path(), "done\n");
  EXPECT_NE(expected().mismatch(record_path()).find("unreadable"), std::string::npos);
  write_file_atomic(record_path(), R"({"record": "xmtf-completion/1", "step": "test/1", "options": "x=1", "inputs": 3})");
  EXPECT_NE(expected().mismatch(record_path()), "");
  EXPECT_TRUE(recorded_outputs(record_path()).empty());
}

TEST_F(CompletionTest, OtherOptionsOrChangedInputsAreNotDone) {
  write_record();
  EXPECT_EQ(expected("x=2").mismatch(record_path()), "other options");
  write_file_atomic(dir_ / "input.txt", "the inpuT\n");  // same size, other bytes
  EXPECT_NE(expected().mismatch(record_path()).find("input.txt changed"), std::string::npos);
}

TEST_F(CompletionTest, ZeroByteTruncatedForeignOrEditedOutputsAreNotDone) {
  write_record();
  write_file_atomic(dir_ / "out" / "a.txt", "");
  EXPECT_NE(expected().mismatch(record_path()).find("a.txt: 0 bytes, recorded 9"), std::string::npos);
  write_record();
  write_file_atomic(dir_ / "out" / "b.txt", "output B\n");  // same size: only the hash tells
  EXPECT_NE(expected().mismatch(record_path()).find("b.txt: content changed"), std::string::npos);
  // Checked by size and mtime only, the same edit is seen through the mtime.
  write_record();
  auto mtime = fs::last_write_time(dir_ / "out" / "b.txt");
  write_file_atomic(dir_ / "out" / "b.txt", "output C\n");
  fs::last_write_time(dir_ / "out" / "b.txt", mtime + std::chrono::seconds(1));
  EXPECT_NE(expected().mismatch(record_path(), Content::stat_only).find("b.txt: modified"), std::string::npos);
  fs::remove(dir_ / "out" / "a.txt");
  EXPECT_NE(expected().mismatch(record_path()).find("a.txt: missing"), std::string::npos);
}

TEST_F(CompletionTest, ARecordCannotPointOutsideItsFolder) {
  write_file_atomic(record_path(), fmt::format(R"({{"record": "xmtf-completion/1", "step": "test/1", "options": "x=1",
    "inputs": [], "outputs": [{{"name": "../input.txt", "bytes": 10, "mtime_ns": 0}}]}})"));
  CompletionRecord none("test/1", "x=1");
  EXPECT_NE(none.mismatch(record_path()).find("unreadable"), std::string::npos);
  EXPECT_TRUE(recorded_outputs(record_path()).empty());
  EXPECT_THROW(none.add_output(dir_ / "out", "../input.txt"), Error);
}

TEST_F(CompletionTest, PathsOverlap) {
  EXPECT_TRUE(paths_overlap(dir_ / "input.txt", dir_ / "input.txt"));
  EXPECT_TRUE(paths_overlap(dir_ / "out", dir_ / "out" / "a.txt"));
  EXPECT_TRUE(paths_overlap(dir_ / "out" / "x" / "..", dir_ / "out/"));
  EXPECT_FALSE(paths_overlap(dir_ / "out", dir_ / "outside"));
  fs::create_directory_symlink(dir_ / "out", dir_ / "alias");
  EXPECT_TRUE(paths_overlap(dir_ / "alias" / "a.txt", dir_ / "out" / "a.txt"));
  EXPECT_FALSE(paths_overlap(dir_ / "input.txt", dir_ / "out"));
}

// A pid that is surely dead: a child that has exited and been reaped.
pid_t dead_pid() {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  return child;
}

TEST_F(CompletionTest, StaleTemporaryFilesAreRemovedOthersKept) {
  fs::path out = dir_ / "out";
  pid_t dead = dead_pid();
  fs::path stale = out / fmt::format("a.txt.tmp.{}.0", dead);
  fs::path ours = out / fmt::format("a.txt.tmp.{}.7", ::getpid());
  fs::path live = out / fmt::format("b.txt.tmp.{}.0", ::getppid());     // a running process's
  fs::path locked = out / fmt::format("b.txt.tmp.{}.1", dead_pid());    // held by a writer elsewhere
  fs::path lookalike = out / "notes.tmp.txt";
  for (const fs::path& path : {stale, ours, live, locked, lookalike}) write_file_atomic(path, "x");
  int holder = ::open(locked.c_str(), O_RDONLY);
  ASSERT_EQ(::flock(holder, LOCK_EX), 0);
  EXPECT_EQ(remove_stale_temp_files(out, "b.txt"), std::vector<fs::path>{});  // only b.txt's: none stale
  EXPECT_EQ(remove_stale_temp_files(out), std::vector<fs::path>{stale});
  ::close(holder);
  for (const fs::path& path : {ours, live, lookalike}) EXPECT_TRUE(fs::exists(path)) << path;
  EXPECT_EQ(remove_stale_temp_files(out, "b.txt"), std::vector<fs::path>{locked});
}

// An AtomicFile holds the lock on its temporary file until it is renamed: a cleaner in another
// process (same pid check aside) leaves it alone.
TEST_F(CompletionTest, AnAtomicFileInProgressIsLocked) {
  AtomicFile file(dir_ / "out" / "c.txt");
  file.write("partial");
  int probe = ::open(file.temp_path().c_str(), O_RDONLY);
  ASSERT_GE(probe, 0);
  EXPECT_NE(::flock(probe, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(errno, EWOULDBLOCK);
  ::close(probe);
  file.commit();
  EXPECT_EQ(read_file(dir_ / "out" / "c.txt"), "partial");
}

}  // namespace
}  // namespace xmtf
