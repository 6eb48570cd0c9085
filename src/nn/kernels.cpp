#include "nn/kernels.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace xmtf::nn {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, std::int64_t n_rows,
                       std::int64_t channels, float eps) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    const float* x = inp + row * channels;
    float* y = out + row * channels;
    double sum = 0.0;
    for (std::int64_t c = 0; c < channels; ++c) sum += x[c];
    const float m = static_cast<float>(sum / channels);
    double sum_sq = 0.0;
    for (std::int64_t c = 0; c < channels; ++c) {
      const float centered = x[c] - m;
      sum_sq += static_cast<double>(centered) * centered;
    }
    const float s = 1.0f / std::sqrt(static_cast<float>(sum_sq / channels) + eps);
    for (std::int64_t c = 0; c < channels; ++c) y[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[row] = m;
    rstd[row] = s;
  }
}

void layernorm_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out,
                        const float* inp, const float* weight, const float* mean,
                        const float* rstd, std::int64_t n_rows, std::int64_t channels) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    const float* x = inp + row * channels;
    const float* dy = d_out + row * channels;
    float* dx = d_inp + row * channels;
    const float m = mean[row];
    const float s = rstd[row];
    // d_norm = dy * weight; dx = s * (d_norm - mean(d_norm) - norm * mean(d_norm * norm)).
    double d_norm_mean = 0.0;
    double d_norm_norm_mean = 0.0;
    for (std::int64_t c = 0; c < channels; ++c) {
      const float norm = (x[c] - m) * s;
      const float d_norm = dy[c] * weight[c];
      d_norm_mean += d_norm;
      d_norm_norm_mean += static_cast<double>(d_norm) * norm;
    }
    const float a = static_cast<float>(d_norm_mean / channels);
    const float b = static_cast<float>(d_norm_norm_mean / channels);
    for (std::int64_t c = 0; c < channels; ++c) {
      const float norm = (x[c] - m) * s;
      const float d_norm = dy[c] * weight[c];
      d_bias[c] += dy[c];
      d_weight[c] += norm * dy[c];
      dx[c] += s * (d_norm - a - norm * b);
    }
  }
}

void linear_forward(float* out, const float* inp, const float* weight, const float* bias,
                    std::int64_t n_rows, std::int64_t in_channels, std::int64_t out_channels) {
  float beta = 0.0f;
  if (bias != nullptr) {
    for (std::int64_t row = 0; row < n_rows; ++row) {
      std::copy(bias, bias + out_channels, out + row * out_channels);
    }
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_rows, out_channels, in_channels, 1.0f,
              inp, in_channels, weight, in_channels, beta, out, out_channels);
}

void linear_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out,
                     const float* inp, const float* weight, std::int64_t n_rows,
                     std::int64_t in_channels, std::int64_t out_channels) {
  if (d_inp != nullptr) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_rows, in_channels, out_channels,
                1.0f, d_out, out_channels, weight, in_channels, 1.0f, d_inp, in_channels);
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_channels, in_channels, n_rows, 1.0f,
              d_out, out_channels, inp, in_channels, 1.0f, d_weight, in_channels);
  if (d_bias != nullptr) {
    for (std::int64_t row = 0; row < n_rows; ++row) {
      const float* dy = d_out + row * out_channels;
      for (std::int64_t c = 0; c < out_channels; ++c) d_bias[c] += dy[c];
    }
  }
}

namespace {
// HF modeling_bloom's constants (bloom_gelu_forward / bloom_gelu_back).
constexpr float kGeluScale = 0.79788456f;
constexpr float kGeluCubic = 0.044715f;
constexpr float kGeluCubicDerivative = 0.1070322243f;

// tanh through one exp: 5x faster than std::tanh here, absolute error ~1e-7, exact limits.
inline float tanh_via_exp(float x) { return 1.0f - 2.0f / (std::exp(2.0f * x) + 1.0f); }
}  // namespace

void gelu_forward(float* out, const float* inp, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    out[i] = x * 0.5f * (1.0f + tanh_via_exp(kGeluScale * x * (1.0f + kGeluCubic * x * x)));
  }
}

void gelu_backward(float* d_inp, const float* inp, const float* d_out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float t = tanh_via_exp(kGeluScale * x * (1.0f + kGeluCubic * x * x));
    const float derivative =
        0.5f * x * ((1.0f - t * t) * (kGeluScale + kGeluCubicDerivative * x * x)) +
        0.5f * (1.0f + t);
    d_inp[i] += derivative * d_out[i];
  }
}

void add_forward(float* out, const float* a, const float* b, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void embedding_forward(float* out, const std::int32_t* ids, const float* table,
                       std::int64_t n_rows, std::int64_t channels) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    const float* source = table + static_cast<std::int64_t>(ids[row]) * channels;
    std::copy(source, source + channels, out + row * channels);
  }
}

void embedding_backward(float* d_table, const float* d_out, const std::int32_t* ids,
                        std::int64_t n_rows, std::int64_t channels) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    float* target = d_table + static_cast<std::int64_t>(ids[row]) * channels;
    const float* dy = d_out + row * channels;
    for (std::int64_t c = 0; c < channels; ++c) target[c] += dy[c];
  }
}

std::vector<float> alibi_slopes(std::int64_t n_heads) {
  // HF build_alibi_tensor: geometric slopes for the closest power of two, then every other slope
  // of the next power of two for the remaining heads. Like torch, the base is rounded to fp32
  // and raised to integer powers in fp32.
  const std::int64_t closest = std::int64_t{1} << static_cast<int>(std::floor(std::log2(n_heads)));
  const auto base = static_cast<float>(std::pow(2.0, -std::pow(2.0, -(std::log2(closest) - 3))));
  std::vector<float> slopes;
  for (std::int64_t power = 1; power <= closest; ++power) {
    slopes.push_back(std::pow(base, static_cast<float>(power)));
  }
  if (closest != n_heads) {
    const auto extra_base =
        static_cast<float>(std::pow(2.0, -std::pow(2.0, -(std::log2(2 * closest) - 3))));
    const std::int64_t remaining = std::min(closest, n_heads - closest);
    for (std::int64_t power = 1; power <= 2 * remaining; power += 2) {
      slopes.push_back(std::pow(extra_base, static_cast<float>(power)));
    }
  }
  return slopes;
}

namespace {

bool key_visible(const AttentionMask& mask, std::int64_t row_offset, std::int64_t query,
                 std::int64_t key) {
  if (mask.segment_ids == nullptr) return key <= query;
  const std::int32_t segment = mask.segment_ids[row_offset + query];
  if (segment == 0 || mask.segment_ids[row_offset + key] != segment) return false;
  if (key <= query) return true;
  return mask.prefix_lm && mask.is_input != nullptr && mask.is_input[row_offset + key] != 0;
}

}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, const float* slopes,
                       const AttentionMask& mask, std::int64_t batch, std::int64_t seq_len,
                       std::int64_t n_heads, std::int64_t head_dim) {
  const std::int64_t channels = n_heads * head_dim;
  const std::int64_t qkv_stride = 3 * channels;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t h = 0; h < n_heads; ++h) {
      const float* q = qkv + b * seq_len * qkv_stride + h * 3 * head_dim;
      const float* k = q + head_dim;
      const float* v = q + 2 * head_dim;
      float* p = probs + (b * n_heads + h) * seq_len * seq_len;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq_len, seq_len, head_dim, scale, q,
                  qkv_stride, k, qkv_stride, 0.0f, p, seq_len);
      for (std::int64_t i = 0; i < seq_len; ++i) {
        float* row = p + i * seq_len;
        float max_score = -std::numeric_limits<float>::infinity();
        for (std::int64_t j = 0; j < seq_len; ++j) {
          if (key_visible(mask, b * seq_len, i, j)) {
            row[j] += slopes[h] * static_cast<float>(j - i);
            max_score = std::max(max_score, row[j]);
          } else {
            row[j] = -std::numeric_limits<float>::infinity();
          }
        }
        if (max_score == -std::numeric_limits<float>::infinity()) {
          std::fill(row, row + seq_len, 0.0f);
          continue;
        }
        float sum = 0.0f;
        for (std::int64_t j = 0; j < seq_len; ++j) {
          row[j] = std::exp(row[j] - max_score);
          sum += row[j];
        }
        const float inv_sum = 1.0f / sum;
        for (std::int64_t j = 0; j < seq_len; ++j) row[j] *= inv_sum;
      }
      float* o = out + b * seq_len * channels + h * head_dim;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq_len, head_dim, seq_len, 1.0f, p,
                  seq_len, v, qkv_stride, 0.0f, o, channels);
    }
  }
}

void attention_backward(float* d_qkv, const float* d_out, const float* qkv, const float* probs,
                        std::int64_t batch, std::int64_t seq_len, std::int64_t n_heads,
                        std::int64_t head_dim, float* scratch) {
  const std::int64_t channels = n_heads * head_dim;
  const std::int64_t qkv_stride = 3 * channels;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t h = 0; h < n_heads; ++h) {
      const std::int64_t head_offset = b * seq_len * qkv_stride + h * 3 * head_dim;
      const float* q = qkv + head_offset;
      const float* k = q + head_dim;
      const float* v = q + 2 * head_dim;
      float* d_q = d_qkv + head_offset;
      float* d_k = d_q + head_dim;
      float* d_v = d_q + 2 * head_dim;
      const float* p = probs + (b * n_heads + h) * seq_len * seq_len;
      const float* d_o = d_out + b * seq_len * channels + h * head_dim;
      float* d_p = scratch;
      // d_v += p^T d_o ; d_p = d_o v^T
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq_len, head_dim, seq_len, 1.0f, p,
                  seq_len, d_o, channels, 1.0f, d_v, qkv_stride);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq_len, seq_len, head_dim, 1.0f, d_o,
                  channels, v, qkv_stride, 0.0f, d_p, seq_len);
      // softmax backward in place: d_score = p * (d_p - sum_j p d_p). Masked keys have p = 0.
      for (std::int64_t i = 0; i < seq_len; ++i) {
        const float* p_row = p + i * seq_len;
        float* d_row = d_p + i * seq_len;
        float dot = 0.0f;
        for (std::int64_t j = 0; j < seq_len; ++j) dot += p_row[j] * d_row[j];
        for (std::int64_t j = 0; j < seq_len; ++j) d_row[j] = p_row[j] * (d_row[j] - dot);
      }
      // d_q += scale * d_score k ; d_k += scale * d_score^T q
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq_len, head_dim, seq_len, scale,
                  d_p, seq_len, k, qkv_stride, 1.0f, d_q, qkv_stride);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq_len, head_dim, seq_len, scale, d_p,
                  seq_len, q, qkv_stride, 1.0f, d_k, qkv_stride);
    }
  }
}

void cross_entropy_row_max(float* row_max, const float* logits, const float* weights, std::int64_t n_rows,
                           std::int64_t vocab) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    const float* z = logits + row * vocab;
    float max_logit = -std::numeric_limits<float>::infinity();
    if (weights[row] != 0.0f) {
      for (std::int64_t v = 0; v < vocab; ++v) max_logit = std::max(max_logit, z[v]);
    }
    row_max[row] = max_logit;
  }
}

void cross_entropy_target_logit(float* target_logit, const float* logits, const std::int32_t* targets,
                                const float* weights, std::int64_t n_rows, std::int64_t vocab, std::int64_t vocab_begin) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    const std::int64_t column = static_cast<std::int64_t>(targets[row]) - vocab_begin;
    const bool here = weights[row] != 0.0f && column >= 0 && column < vocab;
    target_logit[row] = here ? logits[row * vocab + column] : 0.0f;
  }
}

void cross_entropy_exp_sum(double* exp_sum, float* logits, const float* row_max, const float* weights,
                           std::int64_t n_rows, std::int64_t vocab) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    float* z = logits + row * vocab;
    double sum = 0.0;
    if (weights[row] != 0.0f) {
      // One exp per logit, kept in place for phase 4, summed in double.
      const float max_logit = row_max[row];
      for (std::int64_t v = 0; v < vocab; ++v) {
        z[v] = std::exp(z[v] - max_logit);
        sum += z[v];
      }
    }
    exp_sum[row] = sum;
  }
}

double cross_entropy_finish(float* logits, const double* exp_sum, const float* row_max, const float* target_logit,
                            const std::int32_t* targets, const float* weights, std::int64_t n_rows, std::int64_t vocab,
                            std::int64_t vocab_begin) {
  double loss = 0.0;
  for (std::int64_t row = 0; row < n_rows; ++row) {
    float* z = logits + row * vocab;
    const float weight = weights[row];
    if (weight == 0.0f) {
      std::fill(z, z + vocab, 0.0f);
      continue;
    }
    loss += weight * (std::log(exp_sum[row]) - static_cast<double>(target_logit[row] - row_max[row]));
    const float scale = static_cast<float>(weight / exp_sum[row]);
    for (std::int64_t v = 0; v < vocab; ++v) z[v] *= scale;
    const std::int64_t column = static_cast<std::int64_t>(targets[row]) - vocab_begin;
    if (column >= 0 && column < vocab) z[column] -= weight;
  }
  return loss;
}

double cross_entropy_forward_backward(float* logits, const std::int32_t* targets,
                                      const float* weights, std::int64_t n_rows,
                                      std::int64_t vocab) {
  std::vector<float> row_max(n_rows), target_logit(n_rows);
  std::vector<double> exp_sum(n_rows);
  cross_entropy_row_max(row_max.data(), logits, weights, n_rows, vocab);
  cross_entropy_target_logit(target_logit.data(), logits, targets, weights, n_rows, vocab, 0);
  cross_entropy_exp_sum(exp_sum.data(), logits, row_max.data(), weights, n_rows, vocab);
  return cross_entropy_finish(logits, exp_sum.data(), row_max.data(), target_logit.data(), targets, weights, n_rows,
                              vocab, 0);
}

void token_log_probs(double* log_probs, const float* logits, const std::int32_t* targets,
                     std::int64_t n_rows, std::int64_t vocab) {
  for (std::int64_t row = 0; row < n_rows; ++row) {
    const float* z = logits + row * vocab;
    float max_logit = -std::numeric_limits<float>::infinity();
    for (std::int64_t v = 0; v < vocab; ++v) max_logit = std::max(max_logit, z[v]);
    double sum = 0.0;
    for (std::int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(z[v] - max_logit));
    log_probs[row] = static_cast<double>(z[targets[row]] - max_logit) - std::log(sum);
  }
}

void adamw_update(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamWStep& s) {
  const float step_size = s.lr / s.bias_correction1;
  for (std::int64_t i = 0; i < n; ++i) {
    p[i] *= s.decay;
    m[i] = m[i] * s.beta1 + g[i] * (1.0f - s.beta1);
    v[i] = v[i] * s.beta2 + g[i] * g[i] * (1.0f - s.beta2);
    const float denom = std::sqrt(v[i]) / s.bias_correction2_sqrt + s.eps;
    p[i] -= step_size * m[i] / denom;
  }
}

double sum_of_squares(const float* x, std::int64_t n) {
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

void scale(float* x, std::int64_t n, float factor) {
  for (std::int64_t i = 0; i < n; ++i) x[i] *= factor;
}

}  // namespace xmtf::nn
