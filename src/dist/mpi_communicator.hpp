#pragma once
// Communicator over an MPI communicator. Every operation is started non-blocking and completed
// with wait_for() (peer_watch.hpp): no spinning, no endless wait for a dead rank.
#include <mpi.h>

#include "dist/communicator.hpp"
#include "dist/peer_watch.hpp"

namespace xmtf::dist {

class MpiCommunicator : public Communicator {
 public:
  // Takes ownership of comm (freed on destruction) unless it is MPI_COMM_WORLD.
  MpiCommunicator(MPI_Comm comm, const PeerWatch* watch);
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  // The typed forms of the base class stay visible beside the overrides.
  using Communicator::all_gather;
  using Communicator::all_reduce;
  using Communicator::all_reduce_async;
  using Communicator::broadcast;
  using Communicator::recv;
  using Communicator::reduce_scatter;
  using Communicator::send;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MPI_Comm comm() const { return comm_; }

  std::unique_ptr<Request> all_reduce_async(void* data, std::size_t count, DataType type, ReduceOp op) override;
  void all_gather(const void* sent, void* received, std::size_t count, DataType type) override;
  void reduce_scatter(const void* sent, void* received, std::size_t count, DataType type, ReduceOp op) override;
  void broadcast(void* data, std::size_t count, DataType type, int root) override;
  void send(const void* data, std::size_t count, DataType type, int peer, int tag) override;
  void recv(void* data, std::size_t count, DataType type, int peer, int tag) override;
  void barrier() override;
  std::unique_ptr<Communicator> split(int color, int key) override;

 private:
  void wait(MPI_Request& request, const char* what) const;

  MPI_Comm comm_;
  const PeerWatch* watch_;
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace xmtf::dist
