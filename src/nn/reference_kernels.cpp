#include "nn/reference_kernels.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace xmtf::nn::reference {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       std::int64_t n_rows, std::int64_t channels, float eps) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const float* x = inp + r * channels;
    double m = 0;
    for (std::int64_t c = 0; c < channels; ++c) m += x[c];
    m /= static_cast<double>(channels);
    double variance = 0;
    for (std::int64_t c = 0; c < channels; ++c) variance += (x[c] - m) * (x[c] - m);
    variance /= static_cast<double>(channels);
    const double s = 1.0 / std::sqrt(variance + eps);
    for (std::int64_t c = 0; c < channels; ++c) out[r * channels + c] = static_cast<float>((x[c] - m) * s * weight[c] + bias[c]);
    mean[r] = static_cast<float>(m);
    rstd[r] = static_cast<float>(s);
  }
}

void layernorm_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                        const float* weight, const float* mean, const float* rstd, std::int64_t n_rows,
                        std::int64_t channels) {
  // y = norm * w + b, norm = (x - mean) * rstd:
  // dx = rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)), dnorm = dy * w.
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const float* x = inp + r * channels;
    const float* dy = d_out + r * channels;
    double mean_dnorm = 0, mean_dnorm_norm = 0;
    for (std::int64_t c = 0; c < channels; ++c) {
      const double norm = (x[c] - static_cast<double>(mean[r])) * rstd[r];
      mean_dnorm += static_cast<double>(dy[c]) * weight[c];
      mean_dnorm_norm += static_cast<double>(dy[c]) * weight[c] * norm;
    }
    mean_dnorm /= static_cast<double>(channels);
    mean_dnorm_norm /= static_cast<double>(channels);
    for (std::int64_t c = 0; c < channels; ++c) {
      const double norm = (x[c] - static_cast<double>(mean[r])) * rstd[r];
      d_bias[c] += dy[c];
      d_weight[c] += static_cast<float>(norm * dy[c]);
      d_inp[r * channels + c] +=
          static_cast<float>(rstd[r] * (static_cast<double>(dy[c]) * weight[c] - mean_dnorm - norm * mean_dnorm_norm));
    }
  }
}

void linear_forward(float* out, const float* inp, const float* weight, const float* bias, std::int64_t n_rows,
                    std::int64_t in_channels, std::int64_t out_channels) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    for (std::int64_t o = 0; o < out_channels; ++o) {
      double sum = bias != nullptr ? bias[o] : 0.0;
      for (std::int64_t i = 0; i < in_channels; ++i) sum += static_cast<double>(inp[r * in_channels + i]) * weight[o * in_channels + i];
      out[r * out_channels + o] = static_cast<float>(sum);
    }
  }
}

void linear_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                     const float* weight, std::int64_t n_rows, std::int64_t in_channels, std::int64_t out_channels) {
  if (d_inp != nullptr) {
    for (std::int64_t r = 0; r < n_rows; ++r) {
      for (std::int64_t i = 0; i < in_channels; ++i) {
        double sum = 0;
        for (std::int64_t o = 0; o < out_channels; ++o) sum += static_cast<double>(d_out[r * out_channels + o]) * weight[o * in_channels + i];
        d_inp[r * in_channels + i] += static_cast<float>(sum);
      }
    }
  }
  for (std::int64_t o = 0; o < out_channels; ++o) {
    for (std::int64_t i = 0; i < in_channels; ++i) {
      double sum = 0;
      for (std::int64_t r = 0; r < n_rows; ++r) sum += static_cast<double>(d_out[r * out_channels + o]) * inp[r * in_channels + i];
      d_weight[o * in_channels + i] += static_cast<float>(sum);
    }
    if (d_bias != nullptr) {
      double sum = 0;
      for (std::int64_t r = 0; r < n_rows; ++r) sum += d_out[r * out_channels + o];
      d_bias[o] += static_cast<float>(sum);
    }
  }
}

namespace {
// BLOOM's GeLU (HF bloom_gelu_forward): 0.5 x (1 + tanh(0.79788456 x (1 + 0.044715 x^2))).
double gelu(double x) { return 0.5 * x * (1.0 + std::tanh(0.79788456 * x * (1.0 + 0.044715 * x * x))); }
double gelu_derivative(double x) {
  const double t = std::tanh(0.79788456 * x * (1.0 + 0.044715 * x * x));
  return 0.5 * x * (1.0 - t * t) * (0.79788456 + 0.1070322243 * x * x) + 0.5 * (1.0 + t);
}
}  // namespace

void gelu_forward(float* out, const float* inp, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(gelu(inp[i]));
}

void gelu_backward(float* d_inp, const float* inp, const float* d_out, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) d_inp[i] += static_cast<float>(gelu_derivative(inp[i]) * d_out[i]);
}

void add_forward(float* out, const float* a, const float* b, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void embedding_forward(float* out, const std::int32_t* ids, const float* table, std::int64_t n_rows, std::int64_t channels) {
  for (std::int64_t r = 0; r < n_rows; ++r)
    for (std::int64_t c = 0; c < channels; ++c) out[r * channels + c] = table[static_cast<std::int64_t>(ids[r]) * channels + c];
}

void embedding_backward(float* d_table, const float* d_out, const std::int32_t* ids, std::int64_t n_rows,
                        std::int64_t channels) {
  for (std::int64_t r = 0; r < n_rows; ++r)
    for (std::int64_t c = 0; c < channels; ++c) d_table[static_cast<std::int64_t>(ids[r]) * channels + c] += d_out[r * channels + c];
}

namespace {
// Key j visible to query i of row b (see nn::AttentionMask).
bool visible(const AttentionMask& mask, std::int64_t b, std::int64_t seq_len, std::int64_t i, std::int64_t j) {
  if (mask.segment_ids == nullptr) return j <= i;
  const std::int32_t* segment = mask.segment_ids + b * seq_len;
  if (segment[i] == 0 || segment[j] != segment[i]) return false;
  return j <= i || (mask.prefix_lm && mask.is_input != nullptr && mask.is_input[b * seq_len + j] != 0);
}
// Element d of head h's q (part 0), k (1) or v (2) at position t of row b, in BLOOM's fused
// layout [batch, seq, heads, 3, head_dim].
std::int64_t qkv_index(std::int64_t b, std::int64_t t, std::int64_t h, int part, std::int64_t d, std::int64_t seq_len,
                       std::int64_t n_heads, std::int64_t head_dim) {
  return (((b * seq_len + t) * n_heads + h) * 3 + part) * head_dim + d;
}
}  // namespace

void attention_forward(float* out, float* probs, const float* qkv, const float* slopes, const AttentionMask& mask,
                       std::int64_t batch, std::int64_t seq_len, std::int64_t n_heads, std::int64_t head_dim) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  std::vector<double> score(static_cast<std::size_t>(seq_len));
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t h = 0; h < n_heads; ++h)
      for (std::int64_t i = 0; i < seq_len; ++i) {
        float* p = probs + ((b * n_heads + h) * seq_len + i) * seq_len;
        double max_score = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < seq_len; ++j) {
          if (!visible(mask, b, seq_len, i, j)) continue;
          double dot = 0;
          for (std::int64_t d = 0; d < head_dim; ++d)
            dot += static_cast<double>(qkv[qkv_index(b, i, h, 0, d, seq_len, n_heads, head_dim)]) *
                   qkv[qkv_index(b, j, h, 1, d, seq_len, n_heads, head_dim)];
          score[j] = dot * scale + static_cast<double>(slopes[h]) * static_cast<double>(j - i);
          max_score = std::max(max_score, score[j]);
        }
        double sum = 0;
        for (std::int64_t j = 0; j < seq_len; ++j) sum += visible(mask, b, seq_len, i, j) ? std::exp(score[j] - max_score) : 0.0;
        for (std::int64_t j = 0; j < seq_len; ++j)
          p[j] = visible(mask, b, seq_len, i, j) ? static_cast<float>(std::exp(score[j] - max_score) / sum) : 0.0f;
        for (std::int64_t d = 0; d < head_dim; ++d) {
          double o = 0;
          for (std::int64_t j = 0; j < seq_len; ++j) o += static_cast<double>(p[j]) * qkv[qkv_index(b, j, h, 2, d, seq_len, n_heads, head_dim)];
          out[(b * seq_len + i) * n_heads * head_dim + h * head_dim + d] = static_cast<float>(o);
        }
      }
}

void attention_backward(float* d_qkv, const float* d_out, const float* qkv, const float* probs, std::int64_t batch,
                        std::int64_t seq_len, std::int64_t n_heads, std::int64_t head_dim, float*) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  std::vector<double> d_p(static_cast<std::size_t>(seq_len)), d_score(static_cast<std::size_t>(seq_len));
  for (std::int64_t b = 0; b < batch; ++b)
    for (std::int64_t h = 0; h < n_heads; ++h)
      for (std::int64_t i = 0; i < seq_len; ++i) {
        const float* p = probs + ((b * n_heads + h) * seq_len + i) * seq_len;
        const float* d_o = d_out + (b * seq_len + i) * n_heads * head_dim + h * head_dim;
        // o_i = sum_j p_ij v_j: d v_j += p_ij d o_i; d p_ij = d o_i . v_j
        double dot = 0;
        for (std::int64_t j = 0; j < seq_len; ++j) {
          double s = 0;
          for (std::int64_t d = 0; d < head_dim; ++d) {
            s += static_cast<double>(d_o[d]) * qkv[qkv_index(b, j, h, 2, d, seq_len, n_heads, head_dim)];
            d_qkv[qkv_index(b, j, h, 2, d, seq_len, n_heads, head_dim)] += static_cast<float>(static_cast<double>(p[j]) * d_o[d]);
          }
          d_p[j] = s;
          dot += static_cast<double>(p[j]) * s;
        }
        // softmax: d score_ij = p_ij (d p_ij - sum_k p_ik d p_ik); score = q.k * scale + bias.
        for (std::int64_t j = 0; j < seq_len; ++j) d_score[j] = static_cast<double>(p[j]) * (d_p[j] - dot);
        for (std::int64_t j = 0; j < seq_len; ++j) {
          if (d_score[j] == 0.0) continue;
          for (std::int64_t d = 0; d < head_dim; ++d) {
            d_qkv[qkv_index(b, i, h, 0, d, seq_len, n_heads, head_dim)] +=
                static_cast<float>(scale * d_score[j] * qkv[qkv_index(b, j, h, 1, d, seq_len, n_heads, head_dim)]);
            d_qkv[qkv_index(b, j, h, 1, d, seq_len, n_heads, head_dim)] +=
                static_cast<float>(scale * d_score[j] * qkv[qkv_index(b, i, h, 0, d, seq_len, n_heads, head_dim)]);
          }
        }
      }
}

void cross_entropy_row_max(float* row_max, const float* logits, const float* weights, std::int64_t n_rows,
                           std::int64_t vocab) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    float m = -std::numeric_limits<float>::infinity();
    if (weights[r] != 0.0f)
      for (std::int64_t v = 0; v < vocab; ++v) m = std::max(m, logits[r * vocab + v]);
    row_max[r] = m;
  }
}

void cross_entropy_target_logit(float* target_logit, const float* logits, const std::int32_t* targets,
                                const float* weights, std::int64_t n_rows, std::int64_t vocab, std::int64_t vocab_begin) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const std::int64_t column = targets[r] - vocab_begin;
    target_logit[r] = weights[r] != 0.0f && column >= 0 && column < vocab ? logits[r * vocab + column] : 0.0f;
  }
}

void cross_entropy_exp_sum(double* exp_sum, float* logits, const float* row_max, const float* weights,
                           std::int64_t n_rows, std::int64_t vocab) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    double sum = 0;
    if (weights[r] != 0.0f) {
      for (std::int64_t v = 0; v < vocab; ++v) {
        const double e = std::exp(static_cast<double>(logits[r * vocab + v]) - row_max[r]);
        logits[r * vocab + v] = static_cast<float>(e);
        sum += e;
      }
    }
    exp_sum[r] = sum;
  }
}

double cross_entropy_finish(float* logits, const double* exp_sum, const float* row_max, const float* target_logit,
                            const std::int32_t* targets, const float* weights, std::int64_t n_rows, std::int64_t vocab,
                            std::int64_t vocab_begin) {
  double loss = 0;
  for (std::int64_t r = 0; r < n_rows; ++r) {
    const double w = weights[r];
    if (w != 0.0) loss += w * (std::log(exp_sum[r]) - (static_cast<double>(target_logit[r]) - row_max[r]));
    for (std::int64_t v = 0; v < vocab; ++v) {
      const double softmax = w != 0.0 ? logits[r * vocab + v] / exp_sum[r] : 0.0;
      const double onehot = v + vocab_begin == targets[r] ? 1.0 : 0.0;
      logits[r * vocab + v] = static_cast<float>(w * (softmax - onehot));
    }
  }
  return loss;
}

void token_log_probs(double* log_probs, const float* logits, const std::int32_t* targets, std::int64_t n_rows,
                     std::int64_t vocab) {
  for (std::int64_t r = 0; r < n_rows; ++r) {
    double m = -std::numeric_limits<double>::infinity();
    for (std::int64_t v = 0; v < vocab; ++v) m = std::max(m, static_cast<double>(logits[r * vocab + v]));
    double sum = 0;
    for (std::int64_t v = 0; v < vocab; ++v) sum += std::exp(logits[r * vocab + v] - m);
    log_probs[r] = logits[r * vocab + targets[r]] - m - std::log(sum);
  }
}

void adamw_update(float* p, const float* g, float* m, float* v, std::int64_t n, const AdamWStep& s) {
  for (std::int64_t i = 0; i < n; ++i) {
    const double decayed = static_cast<double>(p[i]) * s.decay;
    const double m_new = static_cast<double>(m[i]) * s.beta1 + static_cast<double>(g[i]) * (1.0 - s.beta1);
    const double v_new = static_cast<double>(v[i]) * s.beta2 + static_cast<double>(g[i]) * g[i] * (1.0 - s.beta2);
    m[i] = static_cast<float>(m_new);
    v[i] = static_cast<float>(v_new);
    const double m_hat = m_new / s.bias_correction1;
    const double denominator = std::sqrt(v_new) / s.bias_correction2_sqrt + s.eps;
    p[i] = static_cast<float>(decayed - static_cast<double>(s.lr) * m_hat / denominator);
  }
}

double sum_of_squares(const float* x, std::int64_t n) {
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

void scale(float* x, std::int64_t n, float factor) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<double>(x[i]) * factor);
}

}  // namespace xmtf::nn::reference
