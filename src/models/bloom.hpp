#pragma once
// BLOOM (HuggingFace BloomForCausalLM) on CPU in fp32: forward and explicit backward, no autograd.
//
//   x = LN_emb(wte[ids]);  for each block: x = x + dense(attn(LN_in(x)));  x = x + mlp(LN_post(x))
//   logits = LN_f(x) wte^T   (LM head tied to the word embeddings)
//
// Parameters and gradients are flat buffers described by a ParameterLayout with HF names
// ("word_embeddings.weight", "h.3.self_attention.query_key_value.weight", ...).
#include <cstdint>
#include <random>
#include <vector>

#include "models/bloom_config.hpp"
#include "models/parameters.hpp"
#include "nn/kernels.hpp"

namespace xmtf::models {

ParameterLayout bloom_parameter_layout(const BloomConfig& config);

// Bytes of the activations forward + backward hold for a micro-batch of this shape (the
// attention probabilities grow with seq_len^2, the logits with the vocabulary): what callers
// check against memory before running a batch.
double bloom_activation_bytes(const BloomConfig& config, std::int64_t batch, std::int64_t seq_len);

// One batch of token rows: ids, and for the loss the next-token targets and per-token weights
// (0 = no loss). segment_ids / is_input drive the attention mask (see nn::AttentionMask); when
// segment_ids is empty every row is one causal sequence.
struct Batch {
  std::int64_t batch_size = 0;
  std::int64_t seq_len = 0;
  std::vector<std::int32_t> input_ids;    // [batch, seq]
  std::vector<std::int32_t> target_ids;   // [batch, seq]
  std::vector<float> loss_weights;        // [batch, seq]
  std::vector<std::int32_t> segment_ids;  // [batch, seq] or empty
  std::vector<std::uint8_t> is_input;     // [batch, seq] or empty
  bool prefix_lm = false;
};

// Activations saved by forward for backward, sized for (batch, seq_len).
struct BloomActivations {
  std::int64_t batch_size = 0;
  std::int64_t seq_len = 0;
  std::vector<float> embedded, embedded_ln, embedded_mean, embedded_rstd;
  struct Layer {
    std::vector<float> ln_in, ln_in_mean, ln_in_rstd;
    std::vector<float> qkv, probs, context, after_attention;
    std::vector<float> ln_post, ln_post_mean, ln_post_rstd;
    std::vector<float> fc, fc_gelu, output;
  };
  std::vector<Layer> layers;
  std::vector<float> ln_f, ln_f_mean, ln_f_rstd;
  // [n_logit_rows, vocab]; d_logits after loss_and_backward. All positions, or (loss-only
  // forward) only the positions with a nonzero loss weight, listed in logit_rows.
  std::vector<float> logits;
  bool loss_rows_only = false;
  std::vector<std::int64_t> logit_rows;
  std::vector<float> ln_f_rows;  // ln_f of logit_rows, [n_logit_rows, hidden]
  // Backward scratch.
  std::vector<float> d_stream, d_hidden, d_qkv, d_fc, d_fc_gelu, d_scores;
};

class BloomModel {
 public:
  // Checks first that the weights fit in memory (nn::host_memory_bytes()), naming the config
  // keys that make them too big; gradients are allocated by the first zero_grads(), so a model
  // that only scores never holds them.
  explicit BloomModel(BloomConfig config);

  const BloomConfig& config() const { return config_; }
  const ParameterLayout& layout() const { return layout_; }
  std::vector<float>& params() { return params_; }
  const std::vector<float>& params() const { return params_; }
  std::vector<float>& grads() { return grads_; }
  std::int64_t n_parameters() const;  // without alignment padding

  // HF's _init_weights: N(0, initializer_range) for linear and embedding weights, zero biases,
  // LayerNorm weight 1 and bias 0.
  void init_random(std::uint64_t seed);

  // Logits of every position into activations.logits, or with loss_rows_only only those of the
  // positions whose loss weight is nonzero (in MTF most positions are inputs: this skips most
  // of the LM-head GEMMs, the largest of BLOOM's with its 250k vocabulary).
  void forward(const Batch& batch, BloomActivations& activations, bool loss_rows_only = false) const;
  // Weighted cross entropy of the last forward's logits, and its gradient ACCUMULATED into
  // grads() (call zero_grads() once per optimizer step). Returns the loss.
  double loss_and_backward(const Batch& batch, BloomActivations& activations);
  void zero_grads();
  double activation_bytes(std::int64_t batch, std::int64_t seq_len) const {
    return bloom_activation_bytes(config_, batch, seq_len);
  }
  // Forward (loss positions only) and the weighted loss, no gradients (validation).
  double evaluate_loss(const Batch& batch, BloomActivations& activations) const;

 private:
  struct LayerViews;
  LayerViews layer_views(float* base, std::int64_t layer) const;
  float* at(float* base, const char* name) const;
  void ensure_activations(BloomActivations& activations, std::int64_t batch,
                          std::int64_t seq_len) const;

  BloomConfig config_;
  ParameterLayout layout_;
  std::vector<float> params_;
  std::vector<float> grads_;
  std::vector<float> slopes_;
};

}  // namespace xmtf::models
