#pragma once
// Waiting for MPI without burning a core, and without waiting forever for a rank that died.
//
// MPICH's blocking calls spin at 100% CPU, and a rank killed under srun (without
// --kill-on-bad-exit) left the others spinning until the time limit. Every wait in our programs
// goes through wait_for(): it polls the request (yielding the core, then sleeping longer and
// longer), and every half second checks that the ranks on this node (by pid, gathered at start)
// and the launcher that started this process are still alive. When one is gone it logs which
// and ends the job (MPI_Abort), so no survivor hangs. A dead rank on another node is noticed
// by the launcher (mpiexec, srun --kill-on-bad-exit), which ends the job.
#include <mpi.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace xmtf::dist {

class PeerWatch {
 public:
  PeerWatch() = default;  // watches nothing (tests)
  // Collective over `world`: every rank's host and pid.
  explicit PeerWatch(MPI_Comm world);

  // "" while every watched process lives; else what is gone ("rank 1 (pid 123)", "the launcher").
  std::string find_dead_peer() const;

 private:
  struct Peer {
    int rank;
    pid_t pid;
  };
  std::vector<Peer> same_host_peers_;
  pid_t parent_ = 0;
};

// Completes request. `what` names the operation in the message when a peer died.
void wait_for(MPI_Request& request, const PeerWatch& watch, const char* what);

}  // namespace xmtf::dist
