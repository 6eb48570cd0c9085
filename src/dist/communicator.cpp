#include "dist/communicator.hpp"

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
