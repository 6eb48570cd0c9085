#include "models/parameters.hpp"

#include "core/error.hpp"

namespace xmtf::models {

void ParameterLayout::add(std::string name, std::vector<std::int64_t> shape, bool weight_decay) {
  if (contains(name)) fail("parameter '{}' declared twice", name);
  std::int64_t numel = 1;
  for (std::int64_t dim : shape) numel *= dim;
  constexpr std::int64_t kAlignFloats = 16;
  const std::int64_t offset = (total_floats_ + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
  index_.emplace(name, tensors_.size());
  tensors_.push_back(TensorSpec{std::move(name), std::move(shape), offset, numel, weight_decay});
  total_floats_ = offset + numel;
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

std::span<const float> ParameterLayout::view(const std::vector<float>& buffer,
                                             const std::string& name) const {
  const TensorSpec& s = spec(name);
  return {buffer.data() + s.offset, static_cast<std::size_t>(s.numel)};
}

}  // namespace xmtf::models
