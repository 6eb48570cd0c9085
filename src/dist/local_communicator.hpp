#pragma once
// The group of one rank: every collective is a copy (or nothing). Single-process runs and the
// library's own tests use it, so nothing below the executables needs MPI_Init.
#include "dist/communicator.hpp"

namespace xmtf::dist {

class LocalCommunicator : public Communicator {
 public:
  // The typed forms of the base class stay visible beside the overrides.
  using Communicator::all_gather;
  using Communicator::all_reduce;
  using Communicator::all_reduce_async;
  using Communicator::broadcast;
  using Communicator::recv;
  using Communicator::reduce_scatter;
  using Communicator::send;

  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::unique_ptr<Request> all_reduce_async(void* data, std::size_t count, DataType type, ReduceOp op) override;
  void all_gather(const void* sent, void* received, std::size_t count, DataType type) override;
  void reduce_scatter(const void* sent, void* received, std::size_t count, DataType type, ReduceOp op) override;
  void broadcast(void* data, std::size_t count, DataType type, int root) override;
  void send(const void* data, std::size_t count, DataType type, int peer, int tag) override;
  void recv(void* data, std::size_t count, DataType type, int peer, int tag) override;
  void barrier() override {}
  std::unique_ptr<Communicator> split(int color, int key) override;
};

}  // namespace xmtf::dist
