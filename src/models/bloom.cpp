#include "models/bloom.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/text.hpp"
#include "nn/memory.hpp"

namespace xmtf::models {

using nn::AttentionMask;

ParameterLayout bloom_parameter_layout(const BloomConfig& config, TensorParallel tensor_parallel) {
  if (config.n_head % tensor_parallel.size != 0) {
    fail("{}: n_head {} does not split over {} tensor-parallel ranks (attention heads are not divided)",
         config.origin.empty() ? "BLOOM config" : config.origin, config.n_head, tensor_parallel.size);
  }
  constexpr int kReplicated = -1, kRows = 0, kColumns = 1;
  constexpr std::int64_t kVocabularyMultiple = 128;  // Megatron's make-vocab-size-divisible-by
  const std::int64_t c = config.hidden_size;
  const std::int64_t ffn = config.ffn_hidden_size();
  ParameterLayout layout(tensor_parallel);
  layout.add("word_embeddings.weight", {config.vocab_size, c}, true, kRows, kVocabularyMultiple);
  layout.add("word_embeddings_layernorm.weight", {c}, false, kReplicated);
  layout.add("word_embeddings_layernorm.bias", {c}, false, kReplicated);
  for (std::int64_t l = 0; l < config.n_layer; ++l) {
    const std::string p = fmt::format("h.{}.", l);
    layout.add(p + "input_layernorm.weight", {c}, false, kReplicated);
    layout.add(p + "input_layernorm.bias", {c}, false, kReplicated);
    layout.add(p + "self_attention.query_key_value.weight", {3 * c, c}, true, kRows);
    layout.add(p + "self_attention.query_key_value.bias", {3 * c}, false, kRows);
    layout.add(p + "self_attention.dense.weight", {c, c}, true, kColumns);
    layout.add(p + "self_attention.dense.bias", {c}, false, kReplicated);
    layout.add(p + "post_attention_layernorm.weight", {c}, false, kReplicated);
    layout.add(p + "post_attention_layernorm.bias", {c}, false, kReplicated);
    layout.add(p + "mlp.dense_h_to_4h.weight", {ffn, c}, true, kRows);
    layout.add(p + "mlp.dense_h_to_4h.bias", {ffn}, false, kRows);
    layout.add(p + "mlp.dense_4h_to_h.weight", {c, ffn}, true, kColumns);
    layout.add(p + "mlp.dense_4h_to_h.bias", {c}, false, kReplicated);
  }
  layout.add("ln_f.weight", {c}, false, kReplicated);
  layout.add("ln_f.bias", {c}, false, kReplicated);
  return layout;
}

namespace {

// The check before the weights are allocated (and before the layout's offsets are computed).
const BloomConfig& checked_fits_in_memory(const BloomConfig& config) {
  config.validate(config.origin.empty() ? "BLOOM config" : config.origin);
  const double weight_bytes = 4.0 * static_cast<double>(config.n_parameters());
  const double memory = static_cast<double>(nn::host_memory_bytes());
  if (weight_bytes > memory) {
    fail("{}: {}: {} of fp32 weights, more than the {} of memory here", config.origin.empty() ? "BLOOM config" : config.origin,
         config.size_text(), format_bytes(weight_bytes), format_bytes(memory));
  }
  return config;
}

AttentionMask attention_mask_of(const Batch& batch) {
  AttentionMask mask;
  if (!batch.segment_ids.empty()) mask.segment_ids = batch.segment_ids.data();
  if (!batch.is_input.empty()) mask.is_input = batch.is_input.data();
  mask.prefix_lm = batch.prefix_lm;
  return mask;
}

void check_batch(const Batch& batch, const BloomConfig& config) {
  const auto n = static_cast<std::size_t>(batch.batch_size * batch.seq_len);
  if (batch.input_ids.size() != n) fail("batch: {} input ids for {} positions", batch.input_ids.size(), n);
  if (!batch.segment_ids.empty() && batch.segment_ids.size() != n) fail("batch: segment_ids size mismatch");
  if (!batch.is_input.empty() && batch.is_input.size() != n) fail("batch: is_input size mismatch");
  for (std::int32_t id : batch.input_ids) {
    if (id < 0 || id >= config.vocab_size) fail("batch: token id {} outside the vocabulary [0, {})", id, config.vocab_size);
  }
}

// The loss rows' targets and weights (all positions, or those listed in rows).
void loss_rows(const Batch& batch, const Activations& a, std::vector<std::int32_t>& targets, std::vector<float>& weights) {
  if (!a.loss_rows_only) {
    targets = batch.target_ids;
    weights = batch.loss_weights;
    return;
  }
  targets.resize(a.logit_rows.size());
  weights.resize(a.logit_rows.size());
  for (std::size_t r = 0; r < a.logit_rows.size(); ++r) {
    targets[r] = batch.target_ids[a.logit_rows[r]];
    weights[r] = batch.loss_weights[a.logit_rows[r]];
  }
}

}  // namespace

BloomModel::BloomModel(BloomConfig config, const nn::Backend& backend)
    : config_(checked_fits_in_memory(config)),
      backend_(backend),
      layout_(bloom_parameter_layout(config_)),
      params_(layout_.total_floats(), 0.0f),
      slopes_(nn::alibi_slopes(config_.n_head)) {
  auto offset = [&](const std::string& name) { return layout_.spec(name).offset; };
  for (std::int64_t l = 0; l < config_.n_layer; ++l) {
    const std::string p = fmt::format("h.{}.", l);
    blocks_.push_back({offset(p + "input_layernorm.weight"), offset(p + "input_layernorm.bias"),
                       offset(p + "self_attention.query_key_value.weight"), offset(p + "self_attention.query_key_value.bias"),
                       offset(p + "self_attention.dense.weight"), offset(p + "self_attention.dense.bias"),
                       offset(p + "post_attention_layernorm.weight"), offset(p + "post_attention_layernorm.bias"),
                       offset(p + "mlp.dense_h_to_4h.weight"), offset(p + "mlp.dense_h_to_4h.bias"),
                       offset(p + "mlp.dense_4h_to_h.weight"), offset(p + "mlp.dense_4h_to_h.bias")});
  }
  wte_ = offset("word_embeddings.weight");
  emb_ln_w_ = offset("word_embeddings_layernorm.weight");
  emb_ln_b_ = offset("word_embeddings_layernorm.bias");
  ln_f_w_ = offset("ln_f.weight");
  ln_f_b_ = offset("ln_f.bias");
  vocab_rows_ = layout_.spec("word_embeddings.weight").held_size();
}

void BloomModel::init_random(std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(config_.initializer_range));
  std::fill(params_.begin(), params_.end(), 0.0f);
  for (const TensorSpec& spec : layout_.tensors()) {
    float* data = params_.data() + spec.offset;
    const bool is_norm = spec.name.find("layernorm") != std::string::npos || spec.name.rfind("ln_f.", 0) == 0;
    const bool is_bias = spec.name.size() > 5 && spec.name.ends_with(".bias");
    const std::int64_t held = spec.held_numel();  // the padding rows stay zero
    if (is_norm && !is_bias) {
      std::fill(data, data + held, 1.0f);
    } else if (!is_bias && !is_norm) {
      for (std::int64_t i = 0; i < held; ++i) data[i] = normal(generator);
    }
  }
}

void BloomModel::zero_grads() {
  if (grads_.size() != params_.size()) grads_.assign(params_.size(), 0.0f);
  backend_.fill_zero(grads_.data(), grads_.size());
}

BloomActivations& BloomModel::bloom(Activations& activations) const {
  auto* a = dynamic_cast<BloomActivations*>(&activations);
  if (a == nullptr) fail("BLOOM: these activations were made by another model family");
  return *a;
}

void BloomModel::prepare(const Batch& batch, Activations& activations) const {
  check_batch(batch, config_);
  BloomActivations& a = bloom(activations);
  const std::int64_t b = batch.batch_size, t = batch.seq_len;
  if (a.batch_size == b && a.seq_len == t && a.layers.size() == static_cast<std::size_t>(config_.n_layer) &&
      !a.embedded.empty()) {
    return;
  }
  const auto n = static_cast<std::size_t>(b * t);
  const auto c = static_cast<std::size_t>(config_.hidden_size);
  const auto ffn = static_cast<std::size_t>(config_.ffn_hidden_size());
  auto allocate = [&](std::size_t count) { return backend_.allocate(count); };
  a.batch_size = b;
  a.seq_len = t;
  a.embedded = allocate(n * c);
  a.embedded_ln = allocate(n * c);
  a.embedded_mean = allocate(n);
  a.embedded_rstd = allocate(n);
  a.layers.clear();
  a.layers.resize(static_cast<std::size_t>(config_.n_layer));
  for (auto& layer : a.layers) {
    layer.ln_in = allocate(n * c);
    layer.ln_in_mean = allocate(n);
    layer.ln_in_rstd = allocate(n);
    layer.qkv = allocate(n * 3 * c);
    layer.probs = allocate(static_cast<std::size_t>(b * config_.n_head * t * t));
    layer.context = allocate(n * c);
    layer.after_attention = allocate(n * c);
    layer.ln_post = allocate(n * c);
    layer.ln_post_mean = allocate(n);
    layer.ln_post_rstd = allocate(n);
    layer.fc = allocate(n * ffn);
    layer.fc_gelu = allocate(n * ffn);
    layer.output = allocate(n * c);
  }
  a.ln_f = allocate(n * c);
  a.ln_f_mean = allocate(n);
  a.ln_f_rstd = allocate(n);
  a.ln_f_rows = allocate(n * c);
  a.logits = allocate(n * static_cast<std::size_t>(vocab_rows_));
  a.d_stream = allocate(n * c);
  a.d_hidden = allocate(n * c);
  a.d_qkv = allocate(n * 3 * c);
  a.d_fc = allocate(n * ffn);
  a.d_fc_gelu = allocate(n * ffn);
  a.d_scores = allocate(static_cast<std::size_t>(t * t));
  a.d_rows = allocate(n * c);
}

std::span<float> BloomModel::stream(Activations& activations, std::int64_t block) const {
  BloomActivations& a = bloom(activations);
  if (block < 0 || block > config_.n_layer) fail("BLOOM: no block {} (n_layer {})", block, config_.n_layer);
  nn::Buffer& buffer = block == 0 ? a.embedded_ln : a.layers[static_cast<std::size_t>(block - 1)].output;
  return {buffer.data(), buffer.size()};
}

std::span<float> BloomModel::stream_gradient(Activations& activations) const {
  BloomActivations& a = bloom(activations);
  return {a.d_stream.data(), a.d_stream.size()};
}

void BloomModel::embed_forward(const Batch& batch, Activations& activations) const {
  BloomActivations& a = bloom(activations);
  const std::int64_t n = batch.batch_size * batch.seq_len, c = config_.hidden_size;
  backend_.embedding_forward(a.embedded.data(), batch.input_ids.data(), weight(wte_), n, c);
  backend_.layernorm_forward(a.embedded_ln.data(), a.embedded_mean.data(), a.embedded_rstd.data(), a.embedded.data(),
                             weight(emb_ln_w_), weight(emb_ln_b_), n, c, static_cast<float>(config_.layer_norm_epsilon));
}

void BloomModel::block_forward(std::int64_t l, const Batch& batch, Activations& activations) const {
  BloomActivations& a = bloom(activations);
  const std::int64_t b = batch.batch_size, t = batch.seq_len, n = b * t;
  const std::int64_t c = config_.hidden_size, ffn = config_.ffn_hidden_size();
  const auto eps = static_cast<float>(config_.layer_norm_epsilon);
  const BlockOffsets& w = blocks_[static_cast<std::size_t>(l)];
  auto& act = a.layers[static_cast<std::size_t>(l)];
  const float* x = stream(a, l).data();
  backend_.layernorm_forward(act.ln_in.data(), act.ln_in_mean.data(), act.ln_in_rstd.data(), x, weight(w.ln_in_w),
                             weight(w.ln_in_b), n, c, eps);
  backend_.linear_forward(act.qkv.data(), act.ln_in.data(), weight(w.qkv_w), weight(w.qkv_b), n, c, 3 * c);
  backend_.attention_forward(act.context.data(), act.probs.data(), act.qkv.data(), slopes_.data(), attention_mask_of(batch), b,
                             t, config_.n_head, config_.head_dim());
  backend_.linear_forward(act.after_attention.data(), act.context.data(), weight(w.dense_w), weight(w.dense_b), n, c, c);
  backend_.add_forward(act.after_attention.data(), act.after_attention.data(), x, n * c);
  backend_.layernorm_forward(act.ln_post.data(), act.ln_post_mean.data(), act.ln_post_rstd.data(), act.after_attention.data(),
                             weight(w.ln_post_w), weight(w.ln_post_b), n, c, eps);
  backend_.linear_forward(act.fc.data(), act.ln_post.data(), weight(w.fc_w), weight(w.fc_b), n, c, ffn);
  backend_.gelu_forward(act.fc_gelu.data(), act.fc.data(), n * ffn);
  backend_.linear_forward(act.output.data(), act.fc_gelu.data(), weight(w.proj_w), weight(w.proj_b), n, ffn, c);
  backend_.add_forward(act.output.data(), act.output.data(), act.after_attention.data(), n * c);
}

void BloomModel::head_forward(const Batch& batch, Activations& activations, bool loss_rows_only) const {
  BloomActivations& a = bloom(activations);
  const std::int64_t n = batch.batch_size * batch.seq_len, c = config_.hidden_size;
  backend_.layernorm_forward(a.ln_f.data(), a.ln_f_mean.data(), a.ln_f_rstd.data(), stream(a, config_.n_layer).data(),
                             weight(ln_f_w_), weight(ln_f_b_), n, c, static_cast<float>(config_.layer_norm_epsilon));
  a.loss_rows_only = loss_rows_only;
  a.logit_rows.clear();
  if (!loss_rows_only) {
    backend_.linear_forward(a.logits.data(), a.ln_f.data(), weight(wte_), nullptr, n, c, vocab_rows_);
    return;
  }
  if (batch.loss_weights.size() != static_cast<std::size_t>(n)) fail("batch: loss_weights must have {} entries", n);
  for (std::int64_t pos = 0; pos < n; ++pos) {
    if (batch.loss_weights[pos] != 0.0f) a.logit_rows.push_back(pos);
  }
  const auto m = static_cast<std::int64_t>(a.logit_rows.size());
  for (std::int64_t r = 0; r < m; ++r) std::copy_n(a.ln_f.data() + a.logit_rows[r] * c, c, a.ln_f_rows.data() + r * c);
  if (m > 0) backend_.linear_forward(a.logits.data(), a.ln_f_rows.data(), weight(wte_), nullptr, m, c, vocab_rows_);
}

double BloomModel::cross_entropy(const Batch& batch, BloomActivations& a) const {
  const std::int64_t n = batch.batch_size * batch.seq_len;
  if (batch.target_ids.size() != static_cast<std::size_t>(n) || batch.loss_weights.size() != static_cast<std::size_t>(n)) {
    fail("batch: target_ids / loss_weights must have {} entries", n);
  }
  for (std::size_t i = 0; i < batch.target_ids.size(); ++i) {
    const std::int32_t id = batch.target_ids[i];
    if (batch.loss_weights[i] != 0.0f && (id < 0 || id >= config_.vocab_size)) {
      fail("batch: target id {} outside the vocabulary [0, {})", id, config_.vocab_size);
    }
  }
  std::vector<std::int32_t> targets;
  std::vector<float> weights;
  loss_rows(batch, a, targets, weights);
  const auto m = static_cast<std::int64_t>(targets.size());
  if (m == 0) return 0.0;
  // One vocabulary block here; a vocabulary-parallel head all-reduces row_max (max),
  // target_logit and exp_sum (sums) between the phases.
  std::vector<float> row_max(m), target_logit(m);
  std::vector<double> exp_sum(m);
  backend_.cross_entropy_row_max(row_max.data(), a.logits.data(), weights.data(), m, vocab_rows_);
  backend_.cross_entropy_target_logit(target_logit.data(), a.logits.data(), targets.data(), weights.data(), m, vocab_rows_, 0);
  backend_.cross_entropy_exp_sum(exp_sum.data(), a.logits.data(), row_max.data(), weights.data(), m, vocab_rows_);
  return backend_.cross_entropy_finish(a.logits.data(), exp_sum.data(), row_max.data(), target_logit.data(), targets.data(),
                                       weights.data(), m, vocab_rows_, 0);
}

double BloomModel::head_loss(const Batch& batch, Activations& activations) const {
  return cross_entropy(batch, bloom(activations));
}

double BloomModel::head_loss_backward(const Batch& batch, Activations& activations) {
  BloomActivations& a = bloom(activations);
  const std::int64_t n = batch.batch_size * batch.seq_len, c = config_.hidden_size;
  if (a.batch_size != batch.batch_size || a.seq_len != batch.seq_len) fail("loss_and_backward: activations are not from this batch");
  if (grads_.size() != params_.size()) zero_grads();
  const double loss = cross_entropy(batch, a);
  backend_.fill_zero(a.d_hidden.data(), a.d_hidden.size());
  // LM head (tied): logits = ln_f wte^T.
  if (!a.loss_rows_only) {
    backend_.linear_backward(a.d_hidden.data(), gradient(wte_), nullptr, a.logits.data(), a.ln_f.data(), weight(wte_), n, c,
                             vocab_rows_);
  } else if (!a.logit_rows.empty()) {
    const auto m = static_cast<std::int64_t>(a.logit_rows.size());
    backend_.fill_zero(a.d_rows.data(), static_cast<std::size_t>(m * c));
    backend_.linear_backward(a.d_rows.data(), gradient(wte_), nullptr, a.logits.data(), a.ln_f_rows.data(), weight(wte_), m,
                             c, vocab_rows_);
    for (std::int64_t r = 0; r < m; ++r) std::copy_n(a.d_rows.data() + r * c, c, a.d_hidden.data() + a.logit_rows[r] * c);
  }
  backend_.fill_zero(a.d_stream.data(), a.d_stream.size());
  backend_.layernorm_backward(a.d_stream.data(), gradient(ln_f_w_), gradient(ln_f_b_), a.d_hidden.data(),
                              stream(a, config_.n_layer).data(), weight(ln_f_w_), a.ln_f_mean.data(), a.ln_f_rstd.data(), n, c);
  return loss;
}

void BloomModel::block_backward(std::int64_t l, const Batch& batch, Activations& activations) {
  // d_stream holds d(block output); the block turns it into d(block input) in place: the
  // residual passes it through and the two LayerNorm backwards add their branch.
  BloomActivations& a = bloom(activations);
  const std::int64_t b = batch.batch_size, t = batch.seq_len, n = b * t;
  const std::int64_t c = config_.hidden_size, ffn = config_.ffn_hidden_size();
  const BlockOffsets& w = blocks_[static_cast<std::size_t>(l)];
  auto& act = a.layers[static_cast<std::size_t>(l)];
  const float* x = stream(a, l).data();

  backend_.fill_zero(a.d_fc_gelu.data(), a.d_fc_gelu.size());
  backend_.linear_backward(a.d_fc_gelu.data(), gradient(w.proj_w), gradient(w.proj_b), a.d_stream.data(), act.fc_gelu.data(),
                           weight(w.proj_w), n, ffn, c);
  backend_.fill_zero(a.d_fc.data(), a.d_fc.size());
  backend_.gelu_backward(a.d_fc.data(), act.fc.data(), a.d_fc_gelu.data(), n * ffn);
  backend_.fill_zero(a.d_hidden.data(), a.d_hidden.size());
  backend_.linear_backward(a.d_hidden.data(), gradient(w.fc_w), gradient(w.fc_b), a.d_fc.data(), act.ln_post.data(),
                           weight(w.fc_w), n, c, ffn);
  backend_.layernorm_backward(a.d_stream.data(), gradient(w.ln_post_w), gradient(w.ln_post_b), a.d_hidden.data(),
                              act.after_attention.data(), weight(w.ln_post_w), act.ln_post_mean.data(),
                              act.ln_post_rstd.data(), n, c);

  backend_.fill_zero(a.d_hidden.data(), a.d_hidden.size());
  backend_.linear_backward(a.d_hidden.data(), gradient(w.dense_w), gradient(w.dense_b), a.d_stream.data(), act.context.data(),
                           weight(w.dense_w), n, c, c);
  backend_.fill_zero(a.d_qkv.data(), a.d_qkv.size());
  backend_.attention_backward(a.d_qkv.data(), a.d_hidden.data(), act.qkv.data(), act.probs.data(), b, t, config_.n_head,
                              config_.head_dim(), a.d_scores.data());
  backend_.fill_zero(a.d_hidden.data(), a.d_hidden.size());
  backend_.linear_backward(a.d_hidden.data(), gradient(w.qkv_w), gradient(w.qkv_b), a.d_qkv.data(), act.ln_in.data(),
                           weight(w.qkv_w), n, c, 3 * c);
  backend_.layernorm_backward(a.d_stream.data(), gradient(w.ln_in_w), gradient(w.ln_in_b), a.d_hidden.data(), x,
                              weight(w.ln_in_w), act.ln_in_mean.data(), act.ln_in_rstd.data(), n, c);
}

void BloomModel::embed_backward(const Batch& batch, Activations& activations) {
  BloomActivations& a = bloom(activations);
  const std::int64_t n = batch.batch_size * batch.seq_len, c = config_.hidden_size;
  backend_.fill_zero(a.d_hidden.data(), a.d_hidden.size());
  backend_.layernorm_backward(a.d_hidden.data(), gradient(emb_ln_w_), gradient(emb_ln_b_), a.d_stream.data(),
                              a.embedded.data(), weight(emb_ln_w_), a.embedded_mean.data(), a.embedded_rstd.data(), n, c);
  backend_.embedding_backward(gradient(wte_), a.d_hidden.data(), batch.input_ids.data(), n, c);
}

}  // namespace xmtf::models
