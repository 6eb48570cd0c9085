#pragma once
// BLOOM (HuggingFace BloomForCausalLM) in fp32: forward and explicit backward, no autograd, as
// the pieces of the Model interface, every kernel on the model's backend.
//
//   x = LN_emb(wte[ids]);  for each block: x = x + dense(attn(LN_in(x)));  x = x + mlp(LN_post(x))
//   logits = LN_f(x) wte^T   (LM head tied to the word embeddings)
//
// Parameters and gradients are flat buffers described by a ParameterLayout with HF names
// ("word_embeddings.weight", "h.3.self_attention.query_key_value.weight", ...), sharded for a
// tensor-parallel rank by DeepSpeed's universal-checkpoint rules (bloom_parameter_layout).
#include <cstdint>
#include <random>
#include <vector>

#include "models/batch.hpp"
#include "models/bloom_config.hpp"
#include "models/model.hpp"
#include "models/parameters.hpp"
#include "nn/backend.hpp"

namespace xmtf::models {

// BLOOM's tensors and how each splits over tensor-parallel ranks: LayerNorms and the
// row-parallel biases (self_attention.dense.bias, mlp.dense_4h_to_h.bias) replicated;
// self_attention.dense and mlp.dense_4h_to_h weights split on dim 1; query_key_value (its rows
// are [head][q, k, v][head_dim]: contiguous slices are whole heads), dense_h_to_4h (weight and
// bias) and the word embeddings split on dim 0, the vocabulary padded to a multiple of 128 x TP.
// Throws xmtf::Error when n_head is not divisible by the tensor-parallel size.
ParameterLayout bloom_parameter_layout(const BloomConfig& config, TensorParallel tensor_parallel = {});

// Bytes of the activations forward + backward hold for a micro-batch of this shape.
inline double bloom_activation_bytes(const BloomConfig& config, std::int64_t batch, std::int64_t seq_len) {
  return config.activation_bytes(batch, seq_len);
}

// Activations saved by forward for backward, sized for (batch, seq_len).
struct BloomActivations : Activations {
  nn::Buffer embedded, embedded_ln, embedded_mean, embedded_rstd;
  struct Layer {
    nn::Buffer ln_in, ln_in_mean, ln_in_rstd;
    nn::Buffer qkv, probs, context, after_attention;
    nn::Buffer ln_post, ln_post_mean, ln_post_rstd;
    nn::Buffer fc, fc_gelu, output;
  };
  std::vector<Layer> layers;
  nn::Buffer ln_f, ln_f_mean, ln_f_rstd;
  nn::Buffer ln_f_rows;  // ln_f of logit_rows, [n_logit_rows, hidden]
  // Backward scratch.
  nn::Buffer d_stream, d_hidden, d_qkv, d_fc, d_fc_gelu, d_scores, d_rows;
};

class BloomModel : public Model {
 public:
  // Checks first that the weights fit in memory (nn::host_memory_bytes()), naming the config
  // keys that make them too big; gradients are allocated by the first zero_grads(), so a model
  // that only scores never holds them. This engine computes on one tensor-parallel rank; the
  // layout of any rank is bloom_parameter_layout's.
  explicit BloomModel(BloomConfig config, const nn::Backend& backend = nn::cpu_backend());

  const BloomConfig& config() const override { return config_; }
  const ParameterLayout& layout() const override { return layout_; }
  const nn::Backend& backend() const override { return backend_; }
  std::vector<float>& params() override { return params_; }
  const std::vector<float>& params() const override { return params_; }
  std::vector<float>& grads() override { return grads_; }
  void zero_grads() override;
  // HF's _init_weights: N(0, initializer_range) for linear and embedding weights, zero biases,
  // LayerNorm weight 1 and bias 0 (padding stays zero).
  void init_random(std::uint64_t seed) override;
  std::string hf_name(const TensorSpec& spec) const override { return "transformer." + spec.name; }
  std::vector<std::string> hf_import_names(const TensorSpec& spec) const override {
    return {spec.name, "transformer." + spec.name};
  }
  std::unique_ptr<Activations> make_activations() const override { return std::make_unique<BloomActivations>(); }

  std::int64_t n_blocks() const override { return config_.n_layer; }
  void prepare(const Batch& batch, Activations& activations) const override;
  void embed_forward(const Batch& batch, Activations& activations) const override;
  void block_forward(std::int64_t block, const Batch& batch, Activations& activations) const override;
  // Logits of every position, or with loss_rows_only only those of the positions whose loss
  // weight is nonzero (in MTF most positions are inputs: this skips most of the LM-head GEMMs,
  // the largest of BLOOM's with its 250k vocabulary).
  void head_forward(const Batch& batch, Activations& activations, bool loss_rows_only) const override;
  double head_loss_backward(const Batch& batch, Activations& activations) override;
  double head_loss(const Batch& batch, Activations& activations) const override;
  void block_backward(std::int64_t block, const Batch& batch, Activations& activations) override;
  void embed_backward(const Batch& batch, Activations& activations) override;
  std::span<float> stream(Activations& activations, std::int64_t block) const override;
  std::span<float> stream_gradient(Activations& activations) const override;

 private:
  // Offsets of one block's tensors in the flat buffers.
  struct BlockOffsets {
    std::int64_t ln_in_w, ln_in_b, qkv_w, qkv_b, dense_w, dense_b;
    std::int64_t ln_post_w, ln_post_b, fc_w, fc_b, proj_w, proj_b;
  };
  BloomActivations& bloom(Activations& activations) const;
  const float* weight(std::int64_t offset) const { return params_.data() + offset; }
  float* gradient(std::int64_t offset) { return grads_.data() + offset; }
  // Weighted cross entropy of the loss rows' logits, in the backend's four phases; leaves
  // d logits in place.
  double cross_entropy(const Batch& batch, BloomActivations& a) const;

  BloomConfig config_;
  const nn::Backend& backend_;
  ParameterLayout layout_;
  std::vector<float> params_;
  std::vector<float> grads_;
  std::vector<float> slopes_;
  std::vector<BlockOffsets> blocks_;
  std::int64_t wte_, emb_ln_w_, emb_ln_b_, ln_f_w_, ln_f_b_;
  std::int64_t vocab_rows_;  // the vocabulary rows held (and computed on) here
};

}  // namespace xmtf::models
