#include "train/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/error.hpp"

namespace xmtf::train {

AdamW::AdamW(const models::ParameterLayout& layout, AdamWSettings settings, const nn::Backend& backend)
    : settings_(settings),
      backend_(backend),
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
  nn::AdamWStep step;
  step.lr = static_cast<float>(lr);
  step.beta1 = static_cast<float>(settings_.beta1);
  step.beta2 = static_cast<float>(settings_.beta2);
  step.eps = static_cast<float>(settings_.eps);
  step.bias_correction1 = static_cast<float>(1.0 - std::pow(settings_.beta1, step_));
  step.bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(settings_.beta2, step_)));
  const float decay = static_cast<float>(1.0 - lr * settings_.weight_decay);
  for (const Range& range : ranges_) {
    step.decay = range.weight_decay ? decay : 1.0f;
    backend_.adamw_update(params.data() + range.offset, grads.data() + range.offset, exp_avg_.data() + range.offset,
                          exp_avg_sq_.data() + range.offset, range.numel, step);
  }
}

double global_grad_norm(const std::vector<float>& grads, const nn::Backend& backend) {
  return std::sqrt(backend.sum_of_squares(grads.data(), static_cast<std::int64_t>(grads.size())));
}

double clip_grad_norm(std::vector<float>& grads, double max_norm, const nn::Backend& backend) {
  const double norm = global_grad_norm(grads, backend);
  if (max_norm > 0.0) {
    const double coefficient = max_norm / (norm + 1e-6);
    if (coefficient < 1.0) backend.scale(grads.data(), static_cast<std::int64_t>(grads.size()), static_cast<float>(coefficient));
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
