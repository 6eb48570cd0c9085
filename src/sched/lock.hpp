#pragma once
// jobs/<run>/run.lock: one xmtf at a time changes a run. submit, resubmit, cancel and `xmtf run`
// hold it while they decide and act, so two of them never submit or start the same task twice.
// It is an flock(2): the kernel releases it when its holder dies, even by kill -9, so a crash
// never leaves a stale lock. The file names the holder (pid, host, what it does) for messages.
#include <filesystem>
#include <string>

namespace xmtf::sched {

class RunLock {
 public:
  // Waits up to wait_seconds for the lock (0: fails at once if held); throws xmtf::Error naming
  // the holder when it cannot have it.
  RunLock(const std::filesystem::path& run_dir, const std::string& purpose, double wait_seconds);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// How long submit, resubmit and cancel wait for another one to finish.
inline constexpr double kRunLockWaitSeconds = 300;

}  // namespace xmtf::sched
