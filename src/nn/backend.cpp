#include "nn/backend.hpp"

#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "core/error.hpp"
#include "nn/reference_kernels.hpp"

namespace xmtf::nn {

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    release_ = std::exchange(other.release_, nullptr);
  }
  return *this;
}

void Buffer::reset() {
  if (data_ != nullptr && release_ != nullptr) release_(data_);
  data_ = nullptr;
  size_ = 0;
}

namespace {

// Host memory, 64-byte aligned (a cache line; the widest SIMD loads).
float* allocate_host(std::size_t count) {
  if (count == 0) return nullptr;
  void* memory = std::aligned_alloc(64, (count * sizeof(float) + 63) / 64 * 64);
  if (memory == nullptr) throw std::bad_alloc();
  std::memset(memory, 0, count * sizeof(float));
  return static_cast<float*>(memory);
}

void release_host(float* data) { std::free(data); }

// A host backend whose kernels are the functions of namespace K (nn or nn::reference): one
// template instead of two copies of the forwarding code.
template <class K>
class HostBackend : public Backend {
 public:
  explicit HostBackend(const char* name) : name_(name) {}
  std::string_view name() const override { return name_; }
  Buffer allocate(std::size_t count) const override { return Buffer(allocate_host(count), count, release_host); }
  void fill_zero(float* data, std::size_t count) const override { std::memset(data, 0, count * sizeof(float)); }
  void set_threads(int threads) const override { K::set_threads(threads); }

  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                         std::int64_t n, std::int64_t c, float eps) const override {
    K::layernorm_forward(out, mean, rstd, inp, weight, bias, n, c, eps);
  }
  void layernorm_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                          const float* weight, const float* mean, const float* rstd, std::int64_t n,
                          std::int64_t c) const override {
    K::layernorm_backward(d_inp, d_weight, d_bias, d_out, inp, weight, mean, rstd, n, c);
  }
  void linear_forward(float* out, const float* inp, const float* weight, const float* bias, std::int64_t n,
                      std::int64_t in, std::int64_t out_channels) const override {
    K::linear_forward(out, inp, weight, bias, n, in, out_channels);
  }
  void linear_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                       const float* weight, std::int64_t n, std::int64_t in, std::int64_t out_channels) const override {
    K::linear_backward(d_inp, d_weight, d_bias, d_out, inp, weight, n, in, out_channels);
  }
  void gelu_forward(float* out, const float* inp, std::int64_t n) const override { K::gelu_forward(out, inp, n); }
  void gelu_backward(float* d_inp, const float* inp, const float* d_out, std::int64_t n) const override {
    K::gelu_backward(d_inp, inp, d_out, n);
  }
  void add_forward(float* out, const float* a, const float* b, std::int64_t n) const override { K::add_forward(out, a, b, n); }
  void embedding_forward(float* out, const std::int32_t* ids, const float* table, std::int64_t n,
                         std::int64_t c) const override {
    K::embedding_forward(out, ids, table, n, c);
  }
  void embedding_backward(float* d_table, const float* d_out, const std::int32_t* ids, std::int64_t n,
                          std::int64_t c) const override {
    K::embedding_backward(d_table, d_out, ids, n, c);
  }
  void attention_forward(float* out, float* probs, const float* qkv, const float* slopes, const AttentionMask& mask,
                         std::int64_t b, std::int64_t t, std::int64_t h, std::int64_t hd) const override {
    K::attention_forward(out, probs, qkv, slopes, mask, b, t, h, hd);
  }
  void attention_backward(float* d_qkv, const float* d_out, const float* qkv, const float* probs, std::int64_t b,
                          std::int64_t t, std::int64_t h, std::int64_t hd, float* scratch) const override {
    K::attention_backward(d_qkv, d_out, qkv, probs, b, t, h, hd, scratch);
  }
  void cross_entropy_row_max(float* row_max, const float* logits, const float* weights, std::int64_t n,
                             std::int64_t vocab) const override {
    K::cross_entropy_row_max(row_max, logits, weights, n, vocab);
  }
  void cross_entropy_target_logit(float* target_logit, const float* logits, const std::int32_t* targets,
                                  const float* weights, std::int64_t n, std::int64_t vocab,
                                  std::int64_t vocab_begin) const override {
    K::cross_entropy_target_logit(target_logit, logits, targets, weights, n, vocab, vocab_begin);
  }
  void cross_entropy_exp_sum(double* exp_sum, float* logits, const float* row_max, const float* weights, std::int64_t n,
                             std::int64_t vocab) const override {
    K::cross_entropy_exp_sum(exp_sum, logits, row_max, weights, n, vocab);
  }
  double cross_entropy_finish(float* logits, const double* exp_sum, const float* row_max, const float* target_logit,
                              const std::int32_t* targets, const float* weights, std::int64_t n, std::int64_t vocab,
                              std::int64_t vocab_begin) const override {
    return K::cross_entropy_finish(logits, exp_sum, row_max, target_logit, targets, weights, n, vocab, vocab_begin);
  }
  void token_log_probs(double* log_probs, const float* logits, const std::int32_t* targets, std::int64_t n,
                       std::int64_t vocab) const override {
    K::token_log_probs(log_probs, logits, targets, n, vocab);
  }
  void adamw_update(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                    const AdamWStep& step) const override {
    K::adamw_update(params, grads, exp_avg, exp_avg_sq, n, step);
  }
  double sum_of_squares(const float* x, std::int64_t n) const override { return K::sum_of_squares(x, n); }
  void scale(float* x, std::int64_t n, float factor) const override { K::scale(x, n, factor); }

 private:
  const char* name_;
};

// The two kernel sets as types the template takes.
struct CpuKernels {
  static void set_threads(int threads) { openblas_set_num_threads(threads); }
  static constexpr auto layernorm_forward = &nn::layernorm_forward;
  static constexpr auto layernorm_backward = &nn::layernorm_backward;
  static constexpr auto linear_forward = &nn::linear_forward;
  static constexpr auto linear_backward = &nn::linear_backward;
  static constexpr auto gelu_forward = &nn::gelu_forward;
  static constexpr auto gelu_backward = &nn::gelu_backward;
  static constexpr auto add_forward = &nn::add_forward;
  static constexpr auto embedding_forward = &nn::embedding_forward;
  static constexpr auto embedding_backward = &nn::embedding_backward;
  static constexpr auto attention_forward = &nn::attention_forward;
  static constexpr auto attention_backward = &nn::attention_backward;
  static constexpr auto cross_entropy_row_max = &nn::cross_entropy_row_max;
  static constexpr auto cross_entropy_target_logit = &nn::cross_entropy_target_logit;
  static constexpr auto cross_entropy_exp_sum = &nn::cross_entropy_exp_sum;
  static constexpr auto cross_entropy_finish = &nn::cross_entropy_finish;
  static constexpr auto token_log_probs = &nn::token_log_probs;
  static constexpr auto adamw_update = &nn::adamw_update;
  static constexpr auto sum_of_squares = &nn::sum_of_squares;
  static constexpr auto scale = &nn::scale;
};

struct ReferenceKernels {
  static void set_threads(int) {}  // plain loops: one thread
  static constexpr auto layernorm_forward = &reference::layernorm_forward;
  static constexpr auto layernorm_backward = &reference::layernorm_backward;
  static constexpr auto linear_forward = &reference::linear_forward;
  static constexpr auto linear_backward = &reference::linear_backward;
  static constexpr auto gelu_forward = &reference::gelu_forward;
  static constexpr auto gelu_backward = &reference::gelu_backward;
  static constexpr auto add_forward = &reference::add_forward;
  static constexpr auto embedding_forward = &reference::embedding_forward;
  static constexpr auto embedding_backward = &reference::embedding_backward;
  static constexpr auto attention_forward = &reference::attention_forward;
  static constexpr auto attention_backward = &reference::attention_backward;
  static constexpr auto cross_entropy_row_max = &reference::cross_entropy_row_max;
  static constexpr auto cross_entropy_target_logit = &reference::cross_entropy_target_logit;
  static constexpr auto cross_entropy_exp_sum = &reference::cross_entropy_exp_sum;
  static constexpr auto cross_entropy_finish = &reference::cross_entropy_finish;
  static constexpr auto token_log_probs = &reference::token_log_probs;
  static constexpr auto adamw_update = &reference::adamw_update;
  static constexpr auto sum_of_squares = &reference::sum_of_squares;
  static constexpr auto scale = &reference::scale;
};

}  // namespace

const Backend& cpu_backend() {
  static const HostBackend<CpuKernels> backend("cpu");
  return backend;
}

const Backend& reference_backend() {
  static const HostBackend<ReferenceKernels> backend("reference");
  return backend;
}

const Backend& backend_named(std::string_view name) {
  if (name == "cpu") return cpu_backend();
  if (name == "reference") return reference_backend();
  fail("unknown backend '{}' (cpu or reference)", name);
}

}  // namespace xmtf::nn
