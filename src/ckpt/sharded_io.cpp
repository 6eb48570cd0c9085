#include "ckpt/sharded_io.hpp"

#include <fmt/ranges.h>

#include "core/error.hpp"

namespace xmtf::ckpt {

void read_slice(const SafetensorsFile& file, const std::string& name, const models::TensorSpec& spec,
                std::span<float> local) {
  const TensorInfo& info = file.info(name);
  if (info.shape != spec.global_shape) {
    fail("{}: tensor '{}' has shape [{}], the config needs [{}]", file.path().string(), name, fmt::join(info.shape, ","),
         fmt::join(spec.global_shape, ","));
  }
  if (local.size() != static_cast<std::size_t>(spec.numel)) fail("read_slice: '{}': buffer of {} floats for {}", name, local.size(), spec.numel);
  if (spec.split_dim < 0) {
    file.read_f32(name, local);
    return;
  }
  // Row-major: [outer, split extent, inner]; the slice is a run of `held` along the split
  // dimension inside every outer index.
  std::int64_t outer = 1, inner = 1;
  for (int d = 0; d < spec.split_dim; ++d) outer *= spec.global_shape[d];
  for (std::size_t d = spec.split_dim + 1; d < spec.global_shape.size(); ++d) inner *= spec.global_shape[d];
  const std::int64_t extent = spec.global_shape[spec.split_dim];
  const std::int64_t held = spec.held_size();
  if (held == 0) return;  // a rank holding only vocabulary padding
  for (std::int64_t o = 0; o < outer; ++o) {
    const auto first = static_cast<std::uint64_t>((o * extent + spec.slice_begin) * inner);
    file.read_f32(name, local.subspan(static_cast<std::size_t>(o * spec.slice_size * inner), static_cast<std::size_t>(held * inner)), first);
  }
}

std::span<const float> whole_tensor(const models::TensorSpec& spec, std::span<const float> local) {
  const bool contiguous = spec.split_dim <= 0 || spec.held_size() == spec.slice_size;
  if (!spec.holds_whole_tensor() || !contiguous) {
    fail("'{}': this rank holds [{}, {}) of dimension {} only; writing tensor-parallel slices is not supported yet",
         spec.name, spec.slice_begin, spec.slice_begin + spec.slice_size, spec.split_dim);
  }
  return local.first(static_cast<std::size_t>(spec.held_numel()));
}

}  // namespace xmtf::ckpt
