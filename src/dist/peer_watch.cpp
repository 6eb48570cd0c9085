#include "dist/peer_watch.hpp"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "core/log.hpp"

namespace xmtf::dist {

namespace {

std::uint64_t host_id() {
  char name[256] = {};
  ::gethostname(name, sizeof name - 1);
  return std::hash<std::string>{}(name);
}

// A process that exited but was not reaped yet is a zombie: kill(pid, 0) still succeeds on it.
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;  // no /proc: trust kill()
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() || (text[close + 2] != 'Z' && text[close + 2] != 'X');
}

}  // namespace

PeerWatch::PeerWatch(MPI_Comm world) : parent_(::getppid()) {
  int rank = 0, size = 1;
  MPI_Comm_rank(world, &rank);
  MPI_Comm_size(world, &size);
  const std::int64_t mine[2] = {static_cast<std::int64_t>(host_id()), static_cast<std::int64_t>(::getpid())};
  std::vector<std::int64_t> all(2 * static_cast<std::size_t>(size));
  MPI_Allgather(mine, 2, MPI_INT64_T, all.data(), 2, MPI_INT64_T, world);
  for (int r = 0; r < size; ++r) {
    if (r != rank && all[2 * r] == mine[0]) same_host_peers_.push_back({r, static_cast<pid_t>(all[2 * r + 1])});
  }
}

std::string PeerWatch::find_dead_peer() const {
  for (const Peer& peer : same_host_peers_) {
    if (!process_alive(peer.pid)) return "rank " + std::to_string(peer.rank) + " (pid " + std::to_string(peer.pid) + ")";
  }
  if (parent_ != 0 && ::getppid() != parent_) return "the launcher that started this rank";
  return "";
}

void wait_for(MPI_Request& request, const PeerWatch& watch, const char* what) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto next_check = start + std::chrono::milliseconds(500);
  int done = 0;
  for (;;) {
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    // A transfer between two ranks that are both here completes within a few ms: poll while
    // yielding the core; a wait for a slower rank sleeps, longer and longer, up to 1 ms.
    const auto waited = Clock::now() - start;
    if (waited < std::chrono::milliseconds(2)) {
      sched_yield();
    } else {
      const auto pause = waited < std::chrono::milliseconds(50) ? std::chrono::microseconds(50) : std::chrono::microseconds(1000);
      std::this_thread::sleep_for(pause);
    }
    if (Clock::now() >= next_check) {
      next_check = Clock::now() + std::chrono::milliseconds(500);
      const std::string dead = watch.find_dead_peer();
      if (!dead.empty()) {
        log::error("{} is gone while this rank waited in {}: ending the job", dead, what);
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
    }
  }
}

}  // namespace xmtf::dist
