#pragma once
// The `reference` backend's kernels: the same signatures and contracts as kernels.hpp, written
// as plain loops to be obviously correct (no BLAS, no tricks, double accumulation everywhere).
// They are the oracle the optimised backends are tested against, kernel by kernel (cpu now,
// cuda later), and a whole model runs on them too (slowly) to check the engine end to end.
#include "nn/kernels.hpp"

namespace xmtf::nn::reference {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       std::int64_t n_rows, std::int64_t channels, float eps);
void layernorm_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                        const float* weight, const float* mean, const float* rstd, std::int64_t n_rows,
                        std::int64_t channels);
void linear_forward(float* out, const float* inp, const float* weight, const float* bias, std::int64_t n_rows,
                    std::int64_t in_channels, std::int64_t out_channels);
void linear_backward(float* d_inp, float* d_weight, float* d_bias, const float* d_out, const float* inp,
                     const float* weight, std::int64_t n_rows, std::int64_t in_channels, std::int64_t out_channels);
void gelu_forward(float* out, const float* inp, std::int64_t n);
void gelu_backward(float* d_inp, const float* inp, const float* d_out, std::int64_t n);
void add_forward(float* out, const float* a, const float* b, std::int64_t n);
void embedding_forward(float* out, const std::int32_t* ids, const float* table, std::int64_t n_rows, std::int64_t channels);
void embedding_backward(float* d_table, const float* d_out, const std::int32_t* ids, std::int64_t n_rows,
                        std::int64_t channels);
void attention_forward(float* out, float* probs, const float* qkv, const float* slopes, const AttentionMask& mask,
                       std::int64_t batch, std::int64_t seq_len, std::int64_t n_heads, std::int64_t head_dim);
void attention_backward(float* d_qkv, const float* d_out, const float* qkv, const float* probs, std::int64_t batch,
                        std::int64_t seq_len, std::int64_t n_heads, std::int64_t head_dim, float* scratch);
void cross_entropy_row_max(float* row_max, const float* logits, const float* weights, std::int64_t n_rows,
                           std::int64_t vocab);
void cross_entropy_target_logit(float* target_logit, const float* logits, const std::int32_t* targets,
                                const float* weights, std::int64_t n_rows, std::int64_t vocab, std::int64_t vocab_begin);
void cross_entropy_exp_sum(double* exp_sum, float* logits, const float* row_max, const float* weights,
                           std::int64_t n_rows, std::int64_t vocab);
double cross_entropy_finish(float* logits, const double* exp_sum, const float* row_max, const float* target_logit,
                            const std::int32_t* targets, const float* weights, std::int64_t n_rows, std::int64_t vocab,
                            std::int64_t vocab_begin);
void token_log_probs(double* log_probs, const float* logits, const std::int32_t* targets, std::int64_t n_rows,
                     std::int64_t vocab);
void adamw_update(float* params, const float* grads, float* exp_avg, float* exp_avg_sq, std::int64_t n,
                  const AdamWStep& step);
double sum_of_squares(const float* x, std::int64_t n);
void scale(float* x, std::int64_t n, float factor);

}  // namespace xmtf::nn::reference
