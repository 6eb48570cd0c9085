#include "dist/mpi_communicator.hpp"

#include <climits>

#include "core/error.hpp"

namespace xmtf::dist {

namespace {

MPI_Datatype mpi_type(DataType type) {
  switch (type) {
    case DataType::f32: return MPI_FLOAT;
    case DataType::f64: return MPI_DOUBLE;
    case DataType::i32: return MPI_INT32_T;
    case DataType::i64: return MPI_INT64_T;
    case DataType::u8: return MPI_UINT8_T;
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  return MPI_OP_NULL;
}

int mpi_count(std::size_t count) {
  if (count > static_cast<std::size_t>(INT_MAX)) fail("MPI message of {} elements: more than MPI's int count allows", count);
  return static_cast<int>(count);
}

class MpiRequest : public Request {
 public:
  MpiRequest(MPI_Request request, const PeerWatch* watch) : request_(request), watch_(watch) {}
  ~MpiRequest() override { wait(); }
  void wait() override {
    if (request_ == MPI_REQUEST_NULL) return;
    static const PeerWatch nothing;
    wait_for(request_, watch_ ? *watch_ : nothing, "an all-reduce");
    request_ = MPI_REQUEST_NULL;
  }

 private:
  MPI_Request request_;
  const PeerWatch* watch_;
};

}  // namespace

MpiCommunicator::MpiCommunicator(MPI_Comm comm, const PeerWatch* watch) : comm_(comm), watch_(watch) {
  MPI_Comm_rank(comm_, &rank_);
  MPI_Comm_size(comm_, &size_);
}

MpiCommunicator::~MpiCommunicator() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_WORLD && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiCommunicator::wait(MPI_Request& request, const char* what) const {
  static const PeerWatch nothing;
  wait_for(request, watch_ ? *watch_ : nothing, what);
}

std::unique_ptr<Request> MpiCommunicator::all_reduce_async(void* data, std::size_t count, DataType type, ReduceOp op) {
  MPI_Request request = MPI_REQUEST_NULL;
  if (count > 0) MPI_Iallreduce(MPI_IN_PLACE, data, mpi_count(count), mpi_type(type), mpi_op(op), comm_, &request);
  return std::make_unique<MpiRequest>(request, watch_);
}

void MpiCommunicator::all_gather(const void* sent, void* received, std::size_t count, DataType type) {
  MPI_Request request;
  MPI_Iallgather(sent, mpi_count(count), mpi_type(type), received, mpi_count(count), mpi_type(type), comm_, &request);
  wait(request, "an all-gather");
}

void MpiCommunicator::reduce_scatter(const void* sent, void* received, std::size_t count, DataType type, ReduceOp op) {
  MPI_Request request;
  MPI_Ireduce_scatter_block(sent, received, mpi_count(count), mpi_type(type), mpi_op(op), comm_, &request);
  wait(request, "a reduce-scatter");
}

void MpiCommunicator::broadcast(void* data, std::size_t count, DataType type, int root) {
  MPI_Request request;
  MPI_Ibcast(data, mpi_count(count), mpi_type(type), root, comm_, &request);
  wait(request, "a broadcast");
}

void MpiCommunicator::send(const void* data, std::size_t count, DataType type, int peer, int tag) {
  MPI_Request request;
  MPI_Isend(data, mpi_count(count), mpi_type(type), peer, tag, comm_, &request);
  wait(request, "a send");
}

void MpiCommunicator::recv(void* data, std::size_t count, DataType type, int peer, int tag) {
  MPI_Request request;
  MPI_Irecv(data, mpi_count(count), mpi_type(type), peer, tag, comm_, &request);
  wait(request, "a receive");
}

void MpiCommunicator::barrier() {
  MPI_Request request;
  MPI_Ibarrier(comm_, &request);
  wait(request, "a barrier");
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color, int key) {
  MPI_Comm group = MPI_COMM_NULL;
  MPI_Comm_split(comm_, color < 0 ? MPI_UNDEFINED : color, key, &group);
  if (group == MPI_COMM_NULL) return nullptr;
  return std::make_unique<MpiCommunicator>(group, watch_);
}

}  // namespace xmtf::dist
