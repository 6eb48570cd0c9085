#pragma once
// Backends: where the engine's tensors live and which kernels compute on them (ggml's backend
// interface; llm.c's identical kernel signatures on CPU and GPU). Models allocate their
// activations through a backend and call every kernel through it, never a kernel directly:
//
//   cpu        kernels.hpp: OpenBLAS sgemm for the matrix products (the default)
//   reference  reference_kernels.hpp: plain loops in double, the oracle the others are tested
//              against (tests/unit/nn/test_backends.cpp, ggml's test-backend-ops)
//   cuda       (the GPU issue) device buffers, cuBLAS and fused kernels behind the same calls
//
// Kernel contracts (shapes, accumulation, layouts) are those of kernels.hpp. Pointers are into
// the backend's memory (host memory for cpu and reference).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "nn/kernels.hpp"

namespace xmtf::nn {

// An allocation made by a backend, zero-filled, move-only. On host backends data() is a host
// pointer and the element accessors may be used; a device backend's memory is reached only
// through its kernels and copies.
class Buffer {
 public:
  Buffer() = default;
  Buffer(float* data, std::size_t size, void (*release)(float*)) : data_(data), size_(size), release_(release) {}
  ~Buffer() { reset(); }
  Buffer(Buffer&& other) noexcept { *this = std::move(other); }
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  float& operator[](std::size_t i) { return data_[i]; }
  float operator[](std::size_t i) const { return data_[i]; }
  float* begin() { return data_; }
  float* end() { return data_ + size_; }
  const float* begin() const { return data_; }
  const float* end() const { return data_ + size_; }

 private:
  void reset();
  float* data_ = nullptr;
  std::size_t size_ = 0;
  void (*release_)(float*) = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // count floats, zero-filled.
  virtual Buffer allocate(std::size_t count) const = 0;
  // Sets every element of buffer[0, count) to zero.
  virtual void fill_zero(float* data, std::size_t count) const = 0;
  // Threads one rank's kernels may use (the cores it has to itself).
  virtual void set_threads(int threads) const = 0;

  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                 const float* bias, std::int64_t n_rows, std::int64_t channels, float eps) const = 0;
  virtual void layernorm_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                                  const float* weight, const float* mean, const float* rstd, std::int64_t n_rows,
                                  std::int64_t channels) const = 0;
  virtual void linear_forward(float* out, const float* inp, const float* weight, const float* bias, std::int64_t n_rows,
                              std::int64_t in_channels, std::int64_t out_channels) const = 0;
  virtual void linear_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                               const float* weight, std::int64_t n_rows, std::int64_t in_channels,
                               std::int64_t out_channels) const = 0;
  virtual void gelu_forward(float* out, const float* inp, std::int64_t n) const = 0;
  virtual void gelu_backward(float* d_inp, const float* inp, const float* d_out, std::int64_t n) const = 0;
  virtual void add_forward(float* out, const float* a, const float* b, std::int64_t n) const = 0;
  virtual void embedding_forward(float* out, const std::int32_t* ids, const float* table, std::int64_t n_rows,
                                 std::int64_t channels) const = 0;
  virtual void embedding_backward(float* d_table, const float* d_out, const std::int32_t* ids, std::int64_t n_rows,
                                  std::int64_t channels) const = 0;
  virtual void attention_forward(float* out, float* probs, const float* qkv, const float* slopes,
                                 const AttentionMask& mask, std::int64_t batch, std::int64_t seq_len,
                                 std::int64_t n_heads, std::int64_t head_dim) const = 0;
  virtual void attention_backward(float* d_qkv, const float* d_out, const float* qkv, const float* probs,
                                  std::int64_t batch, std::int64_t seq_len, std::int64_t n_heads,
                                  std::int64_t head_dim, float* scratch) const = 0;
  virtual void cross_entropy_row_max(float* row_max, const float* logits, const float* weights, std::int64_t n_rows,
                                     std::int64_t vocab) const = 0;
  virtual void cross_entropy_target_logit(float* target_logit, const float* logits, const std::int32_t* targets,
                                          const float* weights, std::int64_t n_rows, std::int64_t vocab,
                                          std::int64_t vocab_begin) const = 0;
  virtual void cross_entropy_exp_sum(double* exp_sum, float* logits, const float* row_max, const float* weights,
                                     std::int64_t n_rows, std::int64_t vocab) const = 0;
  virtual double cross_entropy_finish(float* logits, const double* exp_sum, const float* row_max,
                                      const float* target_logit, const std::int32_t* targets, const float* weights,
                                      std::int64_t n_rows, std::int64_t vocab, std::int64_t vocab_begin) const = 0;
  virtual void token_log_probs(double* log_probs, const float* logits, const std::int32_t* targets, std::int64_t n_rows,
                               std::int64_t vocab) const = 0;
  virtual void adamw_update(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                            const AdamWStep& step) const = 0;
  virtual double sum_of_squares(const float* x, std::int64_t n) const = 0;
  virtual void scale(float* x, std::int64_t n, float factor) const = 0;
};

// The process-wide backends. backend_named() throws xmtf::Error listing the names for an
// unknown one.
const Backend& cpu_backend();
const Backend& reference_backend();
const Backend& backend_named(std::string_view name);

}  // namespace xmtf::nn
