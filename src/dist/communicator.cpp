#include "dist/communicator.hpp"

#include <exception>

#include "core/error.hpp"

namespace xmtf::dist {

std::size_t data_type_size(DataType type) {
  switch (type) {
    case DataType::f32: case DataType::i32: return 4;
    case DataType::f64: case DataType::i64: return 8;
    case DataType::u8: return 1;
  }
  return 0;
}

}  // namespace xmtf::dist

namespace xmtf::dist {

void agree_or_throw(Communicator& group, const std::function<void()>& work) {
  std::exception_ptr failure;
  try {
    work();
  } catch (...) {
    failure = std::current_exception();
  }
  const int failed_ranks = group.all_reduce<std::int32_t>(failure ? 1 : 0, ReduceOp::sum);
  if (failure) std::rethrow_exception(failure);
  if (failed_ranks > 0) fail("{} other rank(s) failed (see their messages); stopping this one too", failed_ranks);
}

}  // namespace xmtf::dist
