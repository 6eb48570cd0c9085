#include "sched/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <thread>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "sched/task.hpp"

namespace xmtf::sched {
namespace {

std::string holder_of(int fd) {
  char buffer[512];
  ssize_t n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  std::string text(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
  text = std::string(trim(text));
  return text.empty() ? "another xmtf" : text;
}

}  // namespace

RunLock::RunLock(const fs::path& run_dir, const std::string& purpose, double wait_seconds) {
  fs::create_directories(run_dir);
  fs::path path = run_dir / "run.lock";
  // O_CLOEXEC: the tasks a holder starts must not inherit (and so keep) the lock.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open {}: {}", path.string(), errno_text(errno));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  bool told = false;
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int error = errno;
      ::close(fd_);
      fail("cannot lock {}: {}", path.string(), errno_text(error));
    }
    std::string holder = holder_of(fd_);
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(fd_);
      fail("run {} is being changed by {}; try again when it has ended (lock: {})", run_dir.filename().string(),
           holder, path.string());
    }
    if (!told) log::info("waiting for {} to finish with run {}", holder, run_dir.filename().string());
    told = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  std::string holder = fmt::format("`xmtf {}` (pid {} on {}, since {})\n", purpose, ::getpid(), host_name(), when);
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, holder.data(), holder.size(), 0) < 0)
    log::debug("cannot note the holder in {}: {}", path.string(), errno_text(errno));
}

RunLock::~RunLock() {
  if (fd_ >= 0) {
    [[maybe_unused]] int ignored = ::ftruncate(fd_, 0);
    ::close(fd_);  // releases the flock
  }
}

}  // namespace xmtf::sched
