#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace xmtf::train {

AdamW::AdamW(const models::ParameterLayout& layout, AdamWSettings settings)
    : settings_(settings),
      exp_avg_(layout.total_floats(), 0.0f),
      exp_avg_sq_(layout.total_floats(), 0.0f) {
  for (const models::TensorSpec& spec : layout.tensors()) {
    ranges_.push_back({spec.offset, spec.numel, spec.weight_decay});
  }
}

void AdamW::update(std::vector<float>& params, const std::vector<float>& grads, double lr) {
  if (params.size() != exp_avg_.size() || grads.size() != exp_avg_.size()) {
    fail("AdamW: buffer sizes differ from the parameter layout");
  }
  ++step_;
  const auto beta1 = static_cast<float>(settings_.beta1);
  const auto beta2 = static_cast<float>(settings_.beta2);
  const float bias_correction1 = static_cast<float>(1.0 - std::pow(settings_.beta1, step_));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(settings_.beta2, step_)));
  const float step_size = static_cast<float>(lr) / bias_correction1;
  const auto eps = static_cast<float>(settings_.eps);
  for (const Range& range : ranges_) {
    const float decay = range.weight_decay ? static_cast<float>(1.0 - lr * settings_.weight_decay) : 1.0f;
    float* p = params.data() + range.offset;
    const float* g = grads.data() + range.offset;
    float* m = exp_avg_.data() + range.offset;
    float* v = exp_avg_sq_.data() + range.offset;
    for (std::int64_t i = 0; i < range.numel; ++i) {
      p[i] *= decay;
      m[i] = m[i] * beta1 + g[i] * (1.0f - beta1);
      v[i] = v[i] * beta2 + g[i] * g[i] * (1.0f - beta2);
      const float denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps;
      p[i] -= step_size * m[i] / denom;
    }
  }
}

double global_grad_norm(const std::vector<float>& grads) {
  double sum = 0.0;
  for (float g : grads) sum += static_cast<double>(g) * g;
  return std::sqrt(sum);
}

double clip_grad_norm(std::vector<float>& grads, double max_norm) {
  const double norm = global_grad_norm(grads);
  if (max_norm > 0.0) {
    const double coefficient = max_norm / (norm + 1e-6);
    if (coefficient < 1.0) {
      const auto c = static_cast<float>(coefficient);
      for (float& g : grads) g *= c;
    }
  }
  return norm;
}

DecayStyle parse_decay_style(const std::string& name) {
  if (name == "constant") return DecayStyle::constant;
  if (name == "linear") return DecayStyle::linear;
  if (name == "cosine") return DecayStyle::cosine;
  fail("unknown lr decay style '{}' (constant, linear or cosine)", name);
}

double LrSchedule::at(std::int64_t step) const {
  if (warmup_steps > 0 && step <= warmup_steps) {
    return max_lr * static_cast<double>(step) / static_cast<double>(warmup_steps);
  }
  if (style == DecayStyle::constant || total_steps <= warmup_steps) return max_lr;
  const double ratio = std::clamp(static_cast<double>(step - warmup_steps) /
                                      static_cast<double>(total_steps - warmup_steps), 0.0, 1.0);
  const double factor = style == DecayStyle::linear
                            ? 1.0 - ratio
                            : 0.5 * (std::cos(std::numbers::pi * ratio) + 1.0);
  return min_lr + (max_lr - min_lr) * factor;
}

}  // namespace xmtf::train
