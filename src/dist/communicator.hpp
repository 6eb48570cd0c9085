#pragma once
// Collective communication over a group of ranks, behind one interface: MPI now
// (mpi_communicator.hpp), NCCL later, and a one-rank implementation (local_communicator.hpp)
// so that single-process code paths and tests need no MPI at all. Buffers are raw memory of a
// DataType; the typed helpers below pick the DataType from the element type.
//
// Every call is collective over the group (send/recv: between two ranks of it) and blocks the
// calling rank until its part is done; waits never spin a core and give up, ending the process
// with a message, when a peer has died (see peer_watch.hpp).
#include <cstddef>
#include <functional>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace xmtf::dist {

enum class DataType { f32, f64, i32, i64, u8 };
enum class ReduceOp { sum, max, min };

std::size_t data_type_size(DataType type);

template <class T> constexpr DataType data_type_of();
template <> constexpr DataType data_type_of<float>() { return DataType::f32; }
template <> constexpr DataType data_type_of<double>() { return DataType::f64; }
template <> constexpr DataType data_type_of<std::int32_t>() { return DataType::i32; }
template <> constexpr DataType data_type_of<std::int64_t>() { return DataType::i64; }
template <> constexpr DataType data_type_of<std::uint8_t>() { return DataType::u8; }

// An operation in flight (all_reduce_async); wait() completes it. Destroying it waits too.
class Request {
 public:
  virtual ~Request() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // In place: data[i] = op over the ranks of data[i].
  virtual std::unique_ptr<Request> all_reduce_async(void* data, std::size_t count, DataType type, ReduceOp op) = 0;
  void all_reduce(void* data, std::size_t count, DataType type, ReduceOp op) { all_reduce_async(data, count, type, op)->wait(); }
  // received[r * count .. (r + 1) * count) = rank r's `sent` (count elements each).
  virtual void all_gather(const void* sent, void* received, std::size_t count, DataType type) = 0;
  // received (count elements) = op over the ranks of their sent[rank() * count .. (rank() + 1) * count).
  virtual void reduce_scatter(const void* sent, void* received, std::size_t count, DataType type, ReduceOp op) = 0;
  virtual void broadcast(void* data, std::size_t count, DataType type, int root) = 0;
  virtual void send(const void* data, std::size_t count, DataType type, int peer, int tag) = 0;
  virtual void recv(void* data, std::size_t count, DataType type, int peer, int tag) = 0;
  virtual void barrier() = 0;
  // The ranks with the same color form a new group, ordered by key (then by rank); a negative
  // color joins none and gets nullptr. Collective over this group.
  virtual std::unique_ptr<Communicator> split(int color, int key) = 0;

  // Typed forms.
  template <class T> void all_reduce(std::span<T> data, ReduceOp op = ReduceOp::sum) {
    all_reduce(data.data(), data.size(), data_type_of<T>(), op);
  }
  template <class T> std::unique_ptr<Request> all_reduce_async(std::span<T> data, ReduceOp op = ReduceOp::sum) {
    return all_reduce_async(data.data(), data.size(), data_type_of<T>(), op);
  }
  template <class T> T all_reduce(T value, ReduceOp op) {
    all_reduce(&value, 1, data_type_of<T>(), op);
    return value;
  }
  template <class T> void all_gather(std::span<const T> sent, std::span<T> received) {
    all_gather(sent.data(), received.data(), sent.size(), data_type_of<T>());
  }
  template <class T> void reduce_scatter(std::span<const T> sent, std::span<T> received, ReduceOp op = ReduceOp::sum) {
    reduce_scatter(sent.data(), received.data(), received.size(), data_type_of<T>(), op);
  }
  template <class T> void broadcast(std::span<T> data, int root) { broadcast(data.data(), data.size(), data_type_of<T>(), root); }
  template <class T> void send(std::span<const T> data, int peer, int tag = 0) {
    send(data.data(), data.size(), data_type_of<T>(), peer, tag);
  }
  template <class T> void recv(std::span<T> data, int peer, int tag = 0) {
    recv(data.data(), data.size(), data_type_of<T>(), peer, tag);
  }
};

}  // namespace xmtf::dist

namespace xmtf::dist {

// Runs work on every rank of group, then agrees: when it failed on this rank, its exception is
// rethrown here; when it failed only elsewhere, an xmtf::Error saying so is thrown (that rank
// reports its own). Every rank thus leaves together, and none waits for a failed one.
void agree_or_throw(Communicator& group, const std::function<void()>& work);

}  // namespace xmtf::dist
