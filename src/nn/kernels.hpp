#pragma once
// CPU fp32 kernels of a decoder-only transformer, llm.c style: every layer is a pair
// `<layer>_forward(out, inputs..., shapes...)` / `<layer>_backward(d_inputs..., d_out, ...)`.
// Backward functions ACCUMULATE (+=) into parameter gradients and input gradients, so callers
// zero gradient buffers once per step and layers can share a residual gradient stream.
// Shapes are explicit: n_tokens = batch * seq_len rows, row-major, last dimension contiguous.
// Matrices follow torch.nn.Linear: weight [out_features, in_features], y = x W^T + b.
#include <cstdint>
#include <vector>

namespace xmtf::nn {

// out[n, channels] = LayerNorm(inp) * weight + bias; saves mean[n] and rstd[n] for backward.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp,
                       const float* weight, const float* bias, std::int64_t n_rows,
                       std::int64_t channels, float eps);
void layernorm_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out,
                        const float* inp, const float* weight, const float* mean,
                        const float* rstd, std::int64_t n_rows, std::int64_t channels);

// out[n, out_ch] = inp[n, in_ch] W[out_ch, in_ch]^T + bias (bias may be null). OpenBLAS sgemm.
void linear_forward(float* out, const float* inp, const float* weight, const float* bias,
                    std::int64_t n_rows, std::int64_t in_channels, std::int64_t out_channels);
// d_inp += d_out W; d_weight += d_out^T inp; d_bias += column sums of d_out. d_inp may be null
// (first layer), d_bias may be null.
void linear_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out,
                     const float* inp, const float* weight, std::int64_t n_rows,
                     std::int64_t in_channels, std::int64_t out_channels);

// BLOOM's GeLU, the tanh approximation with HF's constants.
void gelu_forward(float* out, const float* inp, std::int64_t n);
void gelu_backward(float* d_inp, const float* inp, const float* d_out, std::int64_t n);

// out = a + b (elementwise).
void add_forward(float* out, const float* a, const float* b, std::int64_t n);

// out[n, channels] = table[ids[n], :]; backward scatters d_out rows into d_table.
void embedding_forward(float* out, const std::int32_t* ids, const float* table,
                       std::int64_t n_rows, std::int64_t channels);
void embedding_backward(float* d_table, const float* d_out, const std::int32_t* ids,
                        std::int64_t n_rows, std::int64_t channels);

// ALiBi slopes exactly as BLOOM (HF build_alibi_tensor), for any head count.
std::vector<float> alibi_slopes(std::int64_t n_heads);

// Which key positions a query may see. Tokens of segment 0 are padding: they see nothing and
// nobody sees them. Otherwise key j is visible to query i iff both are in the same segment and
// j <= i (causal), or, with prefix_lm, key j is an input token (bidirectional over the input).
struct AttentionMask {
  const std::int32_t* segment_ids = nullptr;  // [batch, seq_len]; null: one segment, causal
  const std::uint8_t* is_input = nullptr;     // [batch, seq_len]; used only with prefix_lm
  bool prefix_lm = false;
};

// Fused-QKV ALiBi self-attention, BLOOM layout: qkv[batch, seq, n_heads, 3, head_dim] (the
// output of query_key_value), out[batch, seq, n_heads * head_dim]. scores = q.k / sqrt(hd) +
// slope_h * (j - i), masked, softmax in fp32. probs[batch, n_heads, seq, seq] saved for backward.
// A query that sees no key (padding) gets an all-zero output.
void attention_forward(float* out, float* probs, const float* qkv, const float* slopes,
                       const AttentionMask& mask, std::int64_t batch, std::int64_t seq_len,
                       std::int64_t n_heads, std::int64_t head_dim);
// d_qkv += gradient; scratch needs seq_len * seq_len floats.
void attention_backward(float* d_qkv, const float* d_out, const float* qkv, const float* probs,
                        std::int64_t batch, std::int64_t seq_len, std::int64_t n_heads,
                        std::int64_t head_dim, float* scratch);

// Cross entropy with per-token weights, loss = sum_t weight[t] * -log softmax(logits[t])[target[t]],
// in four phases over a block of the vocabulary: [vocab_begin, vocab_begin + vocab) of the
// logits' columns (the whole vocabulary on one rank). A vocabulary-parallel version inserts an
// all-reduce after phases 1 (max), 2 (sum) and 3 (sum) and never gathers the logits (Megatron's
// cross_entropy.py). Rows with weight 0 are skipped (their gradient row is 0).
//   1. row_max[r]      = max over the block of logits[r]
//   2. target_logit[r] = logits[r][target[r] - vocab_begin] when the target is in the block, else 0
//   3. exp_sum[r]      = sum of exp(logits[r] - row_max[r]), the exps left IN PLACE in logits (double sum)
//   4. d_logits (in place over the exps) = weight * (softmax - onehot); returns the loss (double)
void cross_entropy_row_max(float* row_max, const float* logits, const float* weights, std::int64_t n_rows,
                           std::int64_t vocab);
void cross_entropy_target_logit(float* target_logit, const float* logits, const std::int32_t* targets,
                                const float* weights, std::int64_t n_rows, std::int64_t vocab, std::int64_t vocab_begin);
void cross_entropy_exp_sum(double* exp_sum, float* logits, const float* row_max, const float* weights,
                           std::int64_t n_rows, std::int64_t vocab);
double cross_entropy_finish(float* logits, const double* exp_sum, const float* row_max, const float* target_logit,
                            const std::int32_t* targets, const float* weights, std::int64_t n_rows, std::int64_t vocab,
                            std::int64_t vocab_begin);
// The four phases on one rank: overwrites logits[n, vocab] with d loss / d logits and returns the loss.
double cross_entropy_forward_backward(float* logits, const std::int32_t* targets,
                                      const float* weights, std::int64_t n_rows,
                                      std::int64_t vocab);
// Forward only: per-token log p(target) into log_probs[n] (for scoring); logits untouched.
void token_log_probs(double* log_probs, const float* logits, const std::int32_t* targets,
                     std::int64_t n_rows, std::int64_t vocab);

// AdamW on one tensor, in torch.optim.AdamW's order: p *= decay (1 - lr * weight_decay, or 1);
// m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr / bc1 * m / (sqrt(v) / bc2_sqrt + eps).
struct AdamWStep {
  float lr, beta1, beta2, eps, decay, bias_correction1, bias_correction2_sqrt;
};
void adamw_update(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                  const AdamWStep& step);
// Sum of squares accumulated in double (for the global gradient norm), and x *= factor.
double sum_of_squares(const float* x, std::int64_t n);
void scale(float* x, std::int64_t n, float factor);

}  // namespace xmtf::nn
