#pragma once
// Named views into one flat fp32 buffer (llm.c style). Every parameter tensor of a model has a
// name (HuggingFace's, without the "transformer." prefix), a GLOBAL shape (as in HF files) and,
// on this rank, a slice of it (Megatron's sharded state dict; DeepSpeed's universal checkpoint):
//
//   split_dim -1   replicated: every tensor-parallel rank holds the whole tensor
//   split_dim 0/1  the extent along that dimension, padded up to a multiple of pad_multiple x TP
//                  when asked (the vocabulary), is cut into TP equal slices; rank r holds
//                  [r * slice, (r + 1) * slice). Slice positions past the global extent are
//                  padding: zero, never read from or written to a file, never computed on.
//
// Gradients and Adam moments use the same layout, so zeroing, all-reducing, clipping and
// checkpointing are single loops over one allocation; files are read and written by global
// name and slice, so any layout loads any checkpoint (with a grid of 1: the whole tensors).
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace xmtf::models {

// This rank's place among the tensor-parallel ranks.
struct TensorParallel {
  int rank = 0;
  int size = 1;
};

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> global_shape;
  int split_dim = -1;            // -1: replicated
  std::int64_t slice_begin = 0;  // along split_dim, global coordinates
  std::int64_t slice_size = 0;   // the local extent along split_dim (padding included)
  std::vector<std::int64_t> shape;  // local: global_shape with slice_size at split_dim
  std::int64_t offset = 0;       // in floats, into the flat buffer
  std::int64_t numel = 0;        // local, padding included
  bool weight_decay = true;      // false for biases and LayerNorm parameters

  // Rows (split_dim 0) or columns (1) of the slice that exist in the global tensor.
  std::int64_t held_size() const;
  // This rank holds every element of the global tensor (a grid of 1: padding aside, the local
  // tensor starts with the global one, so it is written and read as one block).
  bool holds_whole_tensor() const {
    return split_dim < 0 || (slice_begin == 0 && held_size() == global_shape[split_dim]);
  }
  // Elements of the global tensor held here.
  std::int64_t held_numel() const;
};

class ParameterLayout {
 public:
  explicit ParameterLayout(TensorParallel tensor_parallel = {}) : tensor_parallel_(tensor_parallel) {}

  // Appends a tensor after the last one (offsets 16-float aligned for SIMD). Throws
  // xmtf::Error when the split extent is not divisible by the tensor-parallel size.
  void add(std::string name, std::vector<std::int64_t> global_shape, bool weight_decay, int split_dim = -1,
           std::int64_t pad_multiple = 1);

  const TensorParallel& tensor_parallel() const { return tensor_parallel_; }
  const std::vector<TensorSpec>& tensors() const { return tensors_; }
  std::int64_t total_floats() const { return total_floats_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // Throws xmtf::Error naming the tensor when absent.
  const TensorSpec& spec(const std::string& name) const;

  // The local tensor (padding included).
  std::span<float> view(std::vector<float>& buffer, const std::string& name) const;
  std::span<const float> view(const std::vector<float>& buffer, const std::string& name) const;

 private:
  TensorParallel tensor_parallel_;
  std::vector<TensorSpec> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::int64_t total_floats_ = 0;
};

}  // namespace xmtf::models
