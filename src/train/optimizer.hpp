#pragma once
// AdamW over flat fp32 buffers (the master weights ARE the parameters: fp32 throughout), with
// the same arithmetic order as torch.optim.AdamW (decoupled decay first, then the bias-corrected
// Adam update), global-norm gradient clipping as torch.nn.utils.clip_grad_norm_, and the
// learning-rate schedules of Megatron's AnnealingLR (linear warmup, then constant / linear /
// cosine decay to min_lr).
#include <cstdint>
#include <string>
#include <vector>

#include "models/parameters.hpp"
#include "nn/backend.hpp"

namespace xmtf::train {

struct AdamWSettings {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  // Decay applies to tensors with TensorSpec::weight_decay (not to biases and LayerNorms).
  AdamW(const models::ParameterLayout& layout, AdamWSettings settings, const nn::Backend& backend = nn::cpu_backend());

  // One update with learning rate lr; advances step().
  void update(std::vector<float>& params, const std::vector<float>& grads, double lr);

  std::int64_t step() const { return step_; }
  void set_step(std::int64_t step) { step_ = step; }
  std::vector<float>& exp_avg() { return exp_avg_; }
  std::vector<float>& exp_avg_sq() { return exp_avg_sq_; }
  const AdamWSettings& settings() const { return settings_; }

 private:
  struct Range {
    std::int64_t offset;
    std::int64_t numel;
    bool weight_decay;
  };
  AdamWSettings settings_;
  const nn::Backend& backend_;
  std::vector<Range> ranges_;  // one per tensor
  std::vector<float> exp_avg_;
  std::vector<float> exp_avg_sq_;
  std::int64_t step_ = 0;
};

// L2 norm of the whole gradient buffer (accumulated in double).
double global_grad_norm(const std::vector<float>& grads, const nn::Backend& backend = nn::cpu_backend());
// Scales grads by max_norm / (norm + 1e-6) when that is below 1 (torch's rule). Returns the
// norm before clipping. max_norm <= 0 disables clipping.
double clip_grad_norm(std::vector<float>& grads, double max_norm, const nn::Backend& backend = nn::cpu_backend());

enum class DecayStyle { constant, linear, cosine };
DecayStyle parse_decay_style(const std::string& name);  // "constant" | "linear" | "cosine"

struct LrSchedule {
  double max_lr = 1e-4;
  double min_lr = 0.0;
  std::int64_t warmup_steps = 0;
  std::int64_t total_steps = 1;  // decay ends here
  DecayStyle style = DecayStyle::cosine;
  // The learning rate of optimizer step `step` (1-based): max_lr * step / warmup during warmup,
  // then decaying from max_lr to min_lr at total_steps (constant: max_lr).
  double at(std::int64_t step) const;
};

}  // namespace xmtf::train
