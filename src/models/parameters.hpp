#pragma once
// Named views into one flat fp32 buffer (llm.c style). Every parameter tensor of a model has a
// name (HuggingFace's, without the "transformer." prefix), a shape and an offset; gradients,
// Adam moments and checkpoints use the same layout, so zeroing, all-reducing, clipping and
// writing are single loops over one allocation. A later tensor/pipeline-parallel layout is a
// different list of (name, local shape, global slice) over the same mechanism.
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace xmtf::models {

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t offset = 0;  // in floats, into the flat buffer
  std::int64_t numel = 0;
  bool weight_decay = true;  // false for biases and LayerNorm parameters
};

class ParameterLayout {
 public:
  // Appends a tensor after the last one (offsets 16-float aligned for SIMD).
  void add(std::string name, std::vector<std::int64_t> shape, bool weight_decay);

  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  std::int64_t total_floats() const { return total_floats_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws xmtf::Error naming the tensor when absent.
  const TensorSpec& spec(const std::string& name) const;

  std::span<float> view(std::vector<float>& buffer, const std::string& name) const;
  std::span<const float> view(const std::vector<float>& buffer, const std::string& name) const;

 private:
  std::vector<TensorSpec> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::int64_t total_floats_ = 0;
};

}  // namespace xmtf::models
