#include "models/parameters.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace xmtf::models {

std::int64_t TensorSpec::held_size() const {
  if (split_dim < 0) return 0;
  return std::clamp<std::int64_t>(global_shape[split_dim] - slice_begin, 0, slice_size);
}

std::int64_t TensorSpec::held_numel() const {
  if (split_dim < 0) return numel;
  return numel / slice_size * held_size();
}

void ParameterLayout::add(std::string name, std::vector<std::int64_t> global_shape, bool weight_decay, int split_dim,
                          std::int64_t pad_multiple) {
  if (contains(name)) fail("parameter '{}' declared twice", name);
  if (split_dim >= static_cast<int>(global_shape.size())) fail("parameter '{}': no dimension {} to split", name, split_dim);
  TensorSpec spec;
  spec.name = std::move(name);
  spec.global_shape = global_shape;
  spec.shape = global_shape;
  spec.split_dim = split_dim;
  spec.weight_decay = weight_decay;
  if (split_dim >= 0) {
    const std::int64_t multiple = pad_multiple * tensor_parallel_.size;
    const std::int64_t extent = (global_shape[split_dim] + multiple - 1) / multiple * multiple;
    if (extent % tensor_parallel_.size != 0) {
      fail("parameter '{}': dimension {} of size {} does not split over {} tensor-parallel ranks", spec.name, split_dim,
           global_shape[split_dim], tensor_parallel_.size);
    }
    spec.slice_size = extent / tensor_parallel_.size;
    spec.slice_begin = spec.slice_size * tensor_parallel_.rank;
    spec.shape[split_dim] = spec.slice_size;
  }
  spec.numel = 1;
  for (std::int64_t dim : spec.shape) spec.numel *= dim;
  constexpr std::int64_t kAlignFloats = 16;
  spec.offset = (total_floats_ + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  total_floats_ = spec.offset + spec.numel;
  index_.emplace(spec.name, tensors_.size());
  tensors_.push_back(std::move(spec));
}

const TensorSpec& ParameterLayout::spec(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail("no parameter named '{}'", name);
  return tensors_[it->second];
}

std::span<float> ParameterLayout::view(std::vector<float>& buffer, const std::string& name) const {
  const TensorSpec& s = spec(name);
  return {buffer.data() + s.offset, static_cast<std::size_t>(s.numel)};
}

std::span<const float> ParameterLayout::view(const std::vector<float>& buffer, const std::string& name) const {
  const TensorSpec& s = spec(name);
  return {buffer.data() + s.offset, static_cast<std::size_t>(s.numel)};
}

}  // namespace xmtf::models
