#pragma once
// The MPI world of one of our executables, in one place: start-up and finalisation, rank and
// size (with rank-aware logging), agreement on success, abort with a message, and the peer
// watch behind every wait. A process started without a launcher is a world of one.
//
//   int main(int argc, char** argv) {
//     dist::World world(argc, argv);
//     ...
//     if (!world.agree([&] { setup(); })) return 1;   // every rank knows whether all succeeded
//     return world.run([&] { return work(); });       // an error past here ends the whole job
//   }
#include <functional>
#include <memory>
#include <string>

#include "dist/communicator.hpp"
#include "dist/peer_watch.hpp"

namespace xmtf::dist {

class World {
 public:
  World(int& argc, char**& argv);
  ~World();  // MPI_Finalize
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  Communicator& communicator() { return *communicator_; }
  const PeerWatch& peer_watch() const { return *watch_; }

  // Runs this rank's part of a step; true on every rank only when it succeeded on every rank.
  // A rank that fails logs why and still reaches the agreement, so no rank hangs.
  bool agree(const std::function<void()>& work);
  // The same for a result already known: true iff ok on every rank.
  bool all_ok(bool ok);

  // Logs the message and ends every rank of the job with exit_code.
  [[noreturn]] void abort(const std::string& message, int exit_code = 1);

  // Runs body; an error escaping it (past the agreed setup, where the other ranks may wait in a
  // collective) is logged and, with several ranks, ends the job. Returns body's exit code.
  int run(const std::function<int()>& body);

  // Cores this rank may use on its own: its CPU affinity shared by the ranks of its node
  // (mpiexec without binding gives every rank the whole node; SLURM's --cpus-per-task binds).
  int cores_per_rank() const;

 private:
  int rank_ = 0;
  int size_ = 1;
  std::unique_ptr<PeerWatch> watch_;
  std::unique_ptr<Communicator> communicator_;
};

}  // namespace xmtf::dist
