#include "dist/local_communicator.hpp"

#include <cstring>

#include "core/error.hpp"

namespace xmtf::dist {

namespace {
class DoneRequest : public Request {
 public:
  void wait() override {}
};
}  // namespace

std::unique_ptr<Request> LocalCommunicator::all_reduce_async(void*, std::size_t, DataType, ReduceOp) {
  return std::make_unique<DoneRequest>();
}

void LocalCommunicator::all_gather(const void* sent, void* received, std::size_t count, DataType type) {
  if (sent != received) std::memmove(received, sent, count * data_type_size(type));
}

void LocalCommunicator::reduce_scatter(const void* sent, void* received, std::size_t count, DataType type, ReduceOp) {
  if (sent != received) std::memmove(received, sent, count * data_type_size(type));
}

void LocalCommunicator::broadcast(void*, std::size_t, DataType, int root) {
  if (root != 0) fail("broadcast from rank {} in a group of one", root);
}

void LocalCommunicator::send(const void*, std::size_t, DataType, int peer, int) {
  fail("send to rank {} in a group of one rank", peer);
}

void LocalCommunicator::recv(void*, std::size_t, DataType, int peer, int) {
  fail("receive from rank {} in a group of one rank", peer);
}

std::unique_ptr<Communicator> LocalCommunicator::split(int color, int) {
  if (color < 0) return nullptr;
  return std::make_unique<LocalCommunicator>();
}

}  // namespace xmtf::dist
