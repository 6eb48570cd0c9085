#include "models/bloom.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/text.hpp"
#include "nn/memory.hpp"

namespace xmtf::models {

using nn::AttentionMask;

ParameterLayout bloom_parameter_layout(const BloomConfig& config) {
  const std::int64_t c = config.hidden_size;
  const std::int64_t ffn = config.ffn_hidden_size();
  ParameterLayout layout;
  layout.add("word_embeddings.weight", {config.vocab_size, c}, true);
  layout.add("word_embeddings_layernorm.weight", {c}, false);
  layout.add("word_embeddings_layernorm.bias", {c}, false);
  for (std::int64_t l = 0; l < config.n_layer; ++l) {
    const std::string p = fmt::format("h.{}.", l);
    layout.add(p + "input_layernorm.weight", {c}, false);
    layout.add(p + "input_layernorm.bias", {c}, false);
    layout.add(p + "self_attention.query_key_value.weight", {3 * c, c}, true);
    layout.add(p + "self_attention.query_key_value.bias", {3 * c}, false);
    layout.add(p + "self_attention.dense.weight", {c, c}, true);
    layout.add(p + "self_attention.dense.bias", {c}, false);
    layout.add(p + "post_attention_layernorm.weight", {c}, false);
    layout.add(p + "post_attention_layernorm.bias", {c}, false);
    layout.add(p + "mlp.dense_h_to_4h.weight", {ffn, c}, true);
    layout.add(p + "mlp.dense_h_to_4h.bias", {ffn}, false);
    layout.add(p + "mlp.dense_4h_to_h.weight", {c, ffn}, true);
    layout.add(p + "mlp.dense_4h_to_h.bias", {c}, false);
  }
  layout.add("ln_f.weight", {c}, false);
  layout.add("ln_f.bias", {c}, false);
  return layout;
}

struct BloomModel::LayerViews {
  float *ln_in_w, *ln_in_b, *qkv_w, *qkv_b, *dense_w, *dense_b;
  float *ln_post_w, *ln_post_b, *fc_w, *fc_b, *proj_w, *proj_b;
};

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

}  // namespace

BloomModel::BloomModel(BloomConfig config)
    : config_(checked_fits_in_memory(config)),
      layout_(bloom_parameter_layout(config_)),
      params_(layout_.total_floats(), 0.0f),
      slopes_(nn::alibi_slopes(config_.n_head)) {}

double bloom_activation_bytes(const BloomConfig& config, std::int64_t batch, std::int64_t seq_len) {
  const double n = static_cast<double>(batch) * static_cast<double>(seq_len);
  const double c = static_cast<double>(config.hidden_size);
  const double ffn = static_cast<double>(config.ffn_hidden_size());
  // Per layer: ln_in, qkv (3), context, after_attention, ln_post, output (c each); fc, fc_gelu;
  // the attention probabilities. Then embedded, embedded_ln, ln_f, the backward scratch
  // (d_stream, d_hidden, d_qkv: 5 c, d_fc, d_fc_gelu: 2 ffn) and the logits.
  const double per_layer = n * (8 * c + 2 * ffn) + static_cast<double>(batch) * static_cast<double>(config.n_head) *
                                                        static_cast<double>(seq_len) * static_cast<double>(seq_len);
  const double floats = static_cast<double>(config.n_layer) * per_layer + n * (3 * c + 5 * c + 2 * ffn) +
                        n * static_cast<double>(config.vocab_size) + static_cast<double>(seq_len) * static_cast<double>(seq_len);
  return 4.0 * floats;
}

std::int64_t BloomModel::n_parameters() const {
  std::int64_t total = 0;
  for (const TensorSpec& spec : layout_.tensors()) total += spec.numel;
  return total;
}

float* BloomModel::at(float* base, const char* name) const {
  return base + layout_.spec(name).offset;
}

BloomModel::LayerViews BloomModel::layer_views(float* base, std::int64_t layer) const {
  const std::string p = fmt::format("h.{}.", layer);
  auto get = [&](const char* suffix) { return base + layout_.spec(p + suffix).offset; };
  return LayerViews{get("input_layernorm.weight"),
                    get("input_layernorm.bias"),
                    get("self_attention.query_key_value.weight"),
                    get("self_attention.query_key_value.bias"),
                    get("self_attention.dense.weight"),
                    get("self_attention.dense.bias"),
                    get("post_attention_layernorm.weight"),
                    get("post_attention_layernorm.bias"),
                    get("mlp.dense_h_to_4h.weight"),
                    get("mlp.dense_h_to_4h.bias"),
                    get("mlp.dense_4h_to_h.weight"),
                    get("mlp.dense_4h_to_h.bias")};
}

void BloomModel::init_random(std::uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(config_.initializer_range));
  std::fill(params_.begin(), params_.end(), 0.0f);
  for (const TensorSpec& spec : layout_.tensors()) {
    float* data = params_.data() + spec.offset;
    const bool is_norm = spec.name.find("layernorm") != std::string::npos ||
                         spec.name.rfind("ln_f.", 0) == 0;
    const bool is_bias = spec.name.size() > 5 && spec.name.ends_with(".bias");
    if (is_norm && !is_bias) {
      std::fill(data, data + spec.numel, 1.0f);
    } else if (!is_bias && !is_norm) {
      for (std::int64_t i = 0; i < spec.numel; ++i) data[i] = normal(generator);
    }
  }
}

void BloomModel::zero_grads() {
  if (grads_.size() != params_.size()) grads_.assign(params_.size(), 0.0f);
  std::fill(grads_.begin(), grads_.end(), 0.0f);
}

void BloomModel::ensure_activations(BloomActivations& a, std::int64_t batch,
                                    std::int64_t seq_len) const {
  if (a.batch_size == batch && a.seq_len == seq_len && !a.layers.empty()) return;
  const std::int64_t n = batch * seq_len;
  const std::int64_t c = config_.hidden_size;
  const std::int64_t ffn = config_.ffn_hidden_size();
  a.batch_size = batch;
  a.seq_len = seq_len;
  a.embedded.assign(n * c, 0.0f);
  a.embedded_ln.assign(n * c, 0.0f);
  a.embedded_mean.assign(n, 0.0f);
  a.embedded_rstd.assign(n, 0.0f);
  a.layers.assign(config_.n_layer, {});
  for (auto& layer : a.layers) {
    layer.ln_in.assign(n * c, 0.0f);
    layer.ln_in_mean.assign(n, 0.0f);
    layer.ln_in_rstd.assign(n, 0.0f);
    layer.qkv.assign(n * 3 * c, 0.0f);
    layer.probs.assign(batch * config_.n_head * seq_len * seq_len, 0.0f);
    layer.context.assign(n * c, 0.0f);
    layer.after_attention.assign(n * c, 0.0f);
    layer.ln_post.assign(n * c, 0.0f);
    layer.ln_post_mean.assign(n, 0.0f);
    layer.ln_post_rstd.assign(n, 0.0f);
    layer.fc.assign(n * ffn, 0.0f);
    layer.fc_gelu.assign(n * ffn, 0.0f);
    layer.output.assign(n * c, 0.0f);
  }
  a.ln_f.assign(n * c, 0.0f);
  a.ln_f_mean.assign(n, 0.0f);
  a.ln_f_rstd.assign(n, 0.0f);
  a.logits.assign(n * config_.vocab_size, 0.0f);
  a.d_stream.assign(n * c, 0.0f);
  a.d_hidden.assign(n * c, 0.0f);
  a.d_qkv.assign(n * 3 * c, 0.0f);
  a.d_fc.assign(n * ffn, 0.0f);
  a.d_fc_gelu.assign(n * ffn, 0.0f);
  a.d_scores.assign(seq_len * seq_len, 0.0f);
}

namespace {

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

}  // namespace

void BloomModel::forward(const Batch& batch, BloomActivations& a, bool loss_rows_only) const {
  check_batch(batch, config_);
  const std::int64_t b = batch.batch_size;
  const std::int64_t t = batch.seq_len;
  const std::int64_t n = b * t;
  const std::int64_t c = config_.hidden_size;
  const std::int64_t ffn = config_.ffn_hidden_size();
  const auto eps = static_cast<float>(config_.layer_norm_epsilon);
  ensure_activations(a, b, t);
  float* base = const_cast<float*>(params_.data());  // read only here
  const float* wte = at(base, "word_embeddings.weight");
  const AttentionMask mask = attention_mask_of(batch);

  nn::embedding_forward(a.embedded.data(), batch.input_ids.data(), wte, n, c);
  nn::layernorm_forward(a.embedded_ln.data(), a.embedded_mean.data(), a.embedded_rstd.data(),
                        a.embedded.data(), at(base, "word_embeddings_layernorm.weight"),
                        at(base, "word_embeddings_layernorm.bias"), n, c, eps);
  const float* x = a.embedded_ln.data();
  for (std::int64_t l = 0; l < config_.n_layer; ++l) {
    const LayerViews w = layer_views(base, l);
    auto& act = a.layers[l];
    nn::layernorm_forward(act.ln_in.data(), act.ln_in_mean.data(), act.ln_in_rstd.data(), x,
                          w.ln_in_w, w.ln_in_b, n, c, eps);
    nn::linear_forward(act.qkv.data(), act.ln_in.data(), w.qkv_w, w.qkv_b, n, c, 3 * c);
    nn::attention_forward(act.context.data(), act.probs.data(), act.qkv.data(), slopes_.data(),
                          mask, b, t, config_.n_head, config_.head_dim());
    nn::linear_forward(act.after_attention.data(), act.context.data(), w.dense_w, w.dense_b, n,
                       c, c);
    nn::add_forward(act.after_attention.data(), act.after_attention.data(), x, n * c);
    nn::layernorm_forward(act.ln_post.data(), act.ln_post_mean.data(), act.ln_post_rstd.data(),
                          act.after_attention.data(), w.ln_post_w, w.ln_post_b, n, c, eps);
    nn::linear_forward(act.fc.data(), act.ln_post.data(), w.fc_w, w.fc_b, n, c, ffn);
    nn::gelu_forward(act.fc_gelu.data(), act.fc.data(), n * ffn);
    nn::linear_forward(act.output.data(), act.fc_gelu.data(), w.proj_w, w.proj_b, n, ffn, c);
    nn::add_forward(act.output.data(), act.output.data(), act.after_attention.data(), n * c);
    x = act.output.data();
  }
  nn::layernorm_forward(a.ln_f.data(), a.ln_f_mean.data(), a.ln_f_rstd.data(), x,
                        at(base, "ln_f.weight"), at(base, "ln_f.bias"), n, c, eps);
  a.loss_rows_only = loss_rows_only;
  a.logit_rows.clear();
  if (!loss_rows_only) {
    nn::linear_forward(a.logits.data(), a.ln_f.data(), wte, nullptr, n, c, config_.vocab_size);
    return;
  }
  if (batch.loss_weights.size() != static_cast<std::size_t>(n)) fail("batch: loss_weights must have {} entries", n);
  for (std::int64_t pos = 0; pos < n; ++pos) {
    if (batch.loss_weights[pos] != 0.0f) a.logit_rows.push_back(pos);
  }
  const auto m = static_cast<std::int64_t>(a.logit_rows.size());
  a.ln_f_rows.resize(m * c);
  for (std::int64_t r = 0; r < m; ++r) {
    std::copy_n(a.ln_f.data() + a.logit_rows[r] * c, c, a.ln_f_rows.data() + r * c);
  }
  if (m > 0) nn::linear_forward(a.logits.data(), a.ln_f_rows.data(), wte, nullptr, m, c, config_.vocab_size);
}

double BloomModel::loss_and_backward(const Batch& batch, BloomActivations& a) {
  const std::int64_t b = batch.batch_size;
  const std::int64_t t = batch.seq_len;
  const std::int64_t n = b * t;
  const std::int64_t c = config_.hidden_size;
  const std::int64_t ffn = config_.ffn_hidden_size();
  if (a.batch_size != b || a.seq_len != t) fail("loss_and_backward: activations are not from this batch");
  if (batch.target_ids.size() != static_cast<std::size_t>(n) ||
      batch.loss_weights.size() != static_cast<std::size_t>(n)) {
    fail("batch: target_ids / loss_weights must have {} entries", n);
  }
  for (std::size_t i = 0; i < batch.target_ids.size(); ++i) {
    const std::int32_t id = batch.target_ids[i];
    if (batch.loss_weights[i] != 0.0f && (id < 0 || id >= config_.vocab_size)) {
      fail("batch: target id {} outside the vocabulary [0, {})", id, config_.vocab_size);
    }
  }
  if (grads_.size() != params_.size()) zero_grads();
  float* p = params_.data();
  float* g = grads_.data();
  double loss = 0.0;
  std::fill(a.d_hidden.begin(), a.d_hidden.end(), 0.0f);
  if (!a.loss_rows_only) {
    loss = nn::cross_entropy_forward_backward(a.logits.data(), batch.target_ids.data(),
                                              batch.loss_weights.data(), n, config_.vocab_size);
    // LM head (tied): logits = ln_f wte^T.
    nn::linear_backward(a.d_hidden.data(), at(g, "word_embeddings.weight"), nullptr,
                        a.logits.data(), a.ln_f.data(), at(p, "word_embeddings.weight"), n, c,
                        config_.vocab_size);
  } else if (!a.logit_rows.empty()) {
    const auto m = static_cast<std::int64_t>(a.logit_rows.size());
    std::vector<std::int32_t> targets(m);
    std::vector<float> weights(m);
    for (std::int64_t r = 0; r < m; ++r) {
      targets[r] = batch.target_ids[a.logit_rows[r]];
      weights[r] = batch.loss_weights[a.logit_rows[r]];
    }
    loss = nn::cross_entropy_forward_backward(a.logits.data(), targets.data(), weights.data(), m,
                                              config_.vocab_size);
    std::vector<float> d_rows(m * c, 0.0f);
    nn::linear_backward(d_rows.data(), at(g, "word_embeddings.weight"), nullptr, a.logits.data(),
                        a.ln_f_rows.data(), at(p, "word_embeddings.weight"), m, c, config_.vocab_size);
    for (std::int64_t r = 0; r < m; ++r) {
      std::copy_n(d_rows.data() + r * c, c, a.d_hidden.data() + a.logit_rows[r] * c);
    }
  }
  const float* last = config_.n_layer > 0 ? a.layers.back().output.data() : a.embedded_ln.data();
  std::fill(a.d_stream.begin(), a.d_stream.end(), 0.0f);
  nn::layernorm_backward(a.d_stream.data(), at(g, "ln_f.weight"), at(g, "ln_f.bias"),
                         a.d_hidden.data(), last, at(p, "ln_f.weight"), a.ln_f_mean.data(),
                         a.ln_f_rstd.data(), n, c);

  // d_stream holds d(block output); each block turns it into d(block input) in place: the
  // residual passes it through and the two LayerNorm backwards add their branch.
  for (std::int64_t l = config_.n_layer - 1; l >= 0; --l) {
    const LayerViews w = layer_views(p, l);
    const LayerViews dw = layer_views(g, l);
    auto& act = a.layers[l];
    const float* x = l == 0 ? a.embedded_ln.data() : a.layers[l - 1].output.data();

    std::fill(a.d_fc_gelu.begin(), a.d_fc_gelu.end(), 0.0f);
    nn::linear_backward(a.d_fc_gelu.data(), dw.proj_w, dw.proj_b, a.d_stream.data(),
                        act.fc_gelu.data(), w.proj_w, n, ffn, c);
    std::fill(a.d_fc.begin(), a.d_fc.end(), 0.0f);
    nn::gelu_backward(a.d_fc.data(), act.fc.data(), a.d_fc_gelu.data(), n * ffn);
    std::fill(a.d_hidden.begin(), a.d_hidden.end(), 0.0f);
    nn::linear_backward(a.d_hidden.data(), dw.fc_w, dw.fc_b, a.d_fc.data(), act.ln_post.data(),
                        w.fc_w, n, c, ffn);
    nn::layernorm_backward(a.d_stream.data(), dw.ln_post_w, dw.ln_post_b, a.d_hidden.data(),
                           act.after_attention.data(), w.ln_post_w, act.ln_post_mean.data(),
                           act.ln_post_rstd.data(), n, c);

    std::fill(a.d_hidden.begin(), a.d_hidden.end(), 0.0f);
    nn::linear_backward(a.d_hidden.data(), dw.dense_w, dw.dense_b, a.d_stream.data(),
                        act.context.data(), w.dense_w, n, c, c);
    std::fill(a.d_qkv.begin(), a.d_qkv.end(), 0.0f);
    nn::attention_backward(a.d_qkv.data(), a.d_hidden.data(), act.qkv.data(), act.probs.data(),
                           b, t, config_.n_head, config_.head_dim(), a.d_scores.data());
    std::fill(a.d_hidden.begin(), a.d_hidden.end(), 0.0f);
    nn::linear_backward(a.d_hidden.data(), dw.qkv_w, dw.qkv_b, a.d_qkv.data(), act.ln_in.data(),
                        w.qkv_w, n, c, 3 * c);
    nn::layernorm_backward(a.d_stream.data(), dw.ln_in_w, dw.ln_in_b, a.d_hidden.data(), x,
                           w.ln_in_w, act.ln_in_mean.data(), act.ln_in_rstd.data(), n, c);
  }

  std::fill(a.d_hidden.begin(), a.d_hidden.end(), 0.0f);
  nn::layernorm_backward(a.d_hidden.data(), at(g, "word_embeddings_layernorm.weight"),
                         at(g, "word_embeddings_layernorm.bias"), a.d_stream.data(),
                         a.embedded.data(), at(p, "word_embeddings_layernorm.weight"),
                         a.embedded_mean.data(), a.embedded_rstd.data(), n, c);
  nn::embedding_backward(at(g, "word_embeddings.weight"), a.d_hidden.data(),
                         batch.input_ids.data(), n, c);
  return loss;
}

double BloomModel::evaluate_loss(const Batch& batch, BloomActivations& a) const {
  forward(batch, a, /*loss_rows_only=*/true);
  const auto m = static_cast<std::int64_t>(a.logit_rows.size());
  std::vector<std::int32_t> targets(m);
  std::vector<float> weights(m);
  for (std::int64_t r = 0; r < m; ++r) {
    targets[r] = batch.target_ids[a.logit_rows[r]];
    weights[r] = batch.loss_weights[a.logit_rows[r]];
  }
  return nn::cross_entropy_forward_backward(a.logits.data(), targets.data(), weights.data(), m,
                                            config_.vocab_size);
}

}  // namespace xmtf::models
