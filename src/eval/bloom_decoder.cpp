#include "eval/bloom_decoder.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "nn/kernels.hpp"

namespace xmtf::eval {
namespace {

void grow(std::vector<float>& buffer, std::int64_t n) {
  if (static_cast<std::int64_t>(buffer.size()) < n) buffer.resize(static_cast<std::size_t>(n));
}

// Row-wise softmax of scores [T, L] in place, row t seeing the keys j <= visible_end + t.
void causal_alibi_softmax(float* scores, std::int64_t n_queries, std::int64_t n_keys, std::int64_t first_query_position,
                          float slope) {
  for (std::int64_t t = 0; t < n_queries; ++t) {
    float* row = scores + t * n_keys;
    const std::int64_t position = first_query_position + t;
    const std::int64_t visible = std::min(n_keys, position + 1);
    float max_score = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < visible; ++j) {
      row[j] += slope * static_cast<float>(j - position);
      max_score = std::max(max_score, row[j]);
    }
    float sum = 0.0f;
    for (std::int64_t j = 0; j < visible; ++j) {
      row[j] = std::exp(row[j] - max_score);
      sum += row[j];
    }
    const float inv_sum = 1.0f / sum;
    for (std::int64_t j = 0; j < visible; ++j) row[j] *= inv_sum;
    std::fill(row + visible, row + n_keys, 0.0f);
  }
}

}  // namespace

namespace {

const models::BloomModel& bloom_of(const models::Model& model) {
  const auto* bloom = dynamic_cast<const models::BloomModel*>(&model);
  if (!bloom) fail("the KV-cache decoder of xmtf-eval runs BLOOM models; this one is '{}'", model.config().family());
  if (model.backend().name() != "cpu" && model.backend().name() != "reference")
    fail("the KV-cache decoder needs a host backend (cpu or reference), not '{}'", model.backend().name());
  return *bloom;
}

}  // namespace

BloomDecoder::BloomDecoder(const models::Model& model)
    : model_(bloom_of(model)), backend_(model.backend()), slopes_(nn::alibi_slopes(model_.config().n_head)) {
  const auto& layout = model_.layout();
  const float* base = model_.params().data();
  auto get = [&](const std::string& name) { return base + layout.spec(name).offset; };
  wte_ = get("word_embeddings.weight");
  ln_emb_w_ = get("word_embeddings_layernorm.weight");
  ln_emb_b_ = get("word_embeddings_layernorm.bias");
  ln_f_w_ = get("ln_f.weight");
  ln_f_b_ = get("ln_f.bias");
  for (std::int64_t l = 0; l < model_.config().n_layer; ++l) {
    const std::string p = fmt::format("h.{}.", l);
    layers_.push_back({get(p + "input_layernorm.weight"), get(p + "input_layernorm.bias"),
                       get(p + "self_attention.query_key_value.weight"), get(p + "self_attention.query_key_value.bias"),
                       get(p + "self_attention.dense.weight"), get(p + "self_attention.dense.bias"),
                       get(p + "post_attention_layernorm.weight"), get(p + "post_attention_layernorm.bias"),
                       get(p + "mlp.dense_h_to_4h.weight"), get(p + "mlp.dense_h_to_4h.bias"),
                       get(p + "mlp.dense_4h_to_h.weight"), get(p + "mlp.dense_4h_to_h.bias")});
  }
}

void BloomDecoder::attend(std::span<const DecodeRow> rows, std::int64_t layer) {
  const auto& config = model_.config();
  const std::int64_t c = config.hidden_size;
  const std::int64_t hd = config.head_dim();
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  std::int64_t offset = 0;
  for (const DecodeRow& row : rows) {
    const auto n_new = static_cast<std::int64_t>(row.tokens.size());
    if (n_new == 0) continue;
    const std::int64_t n_prefix = row.prefix ? row.prefix->length : 0;
    const std::int64_t n_own = row.own->length + n_new;  // keys of the new tokens already appended
    const std::int64_t n_keys = n_prefix + n_own;
    grow(scores_, n_new * n_keys);
    const float* own_k = row.own->keys[layer].data();
    const float* own_v = row.own->values[layer].data();
    for (std::int64_t h = 0; h < config.n_head; ++h) {
      const float* q = qkv_.data() + offset * 3 * c + h * 3 * hd;
      float* s = scores_.data();
      if (n_prefix > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_new, n_prefix, hd, scale, q, 3 * c,
                    row.prefix->keys[layer].data() + h * hd, c, 0.0f, s, n_keys);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n_new, n_own, hd, scale, q, 3 * c, own_k + h * hd, c, 0.0f,
                  s + n_prefix, n_keys);
      causal_alibi_softmax(s, n_new, n_keys, n_prefix + row.own->length, slopes_[h]);
      float* out = context_.data() + offset * c + h * hd;
      float beta = 0.0f;
      if (n_prefix > 0) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_new, hd, n_prefix, 1.0f, s, n_keys,
                    row.prefix->values[layer].data() + h * hd, c, 0.0f, out, c);
        beta = 1.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n_new, hd, n_own, 1.0f, s + n_prefix, n_keys, own_v + h * hd, c,
                  beta, out, c);
    }
    offset += n_new;
  }
}

void BloomDecoder::extend(std::span<const DecodeRow> rows, std::span<const std::int64_t> wanted, std::vector<float>& logits) {
  const auto& config = model_.config();
  const std::int64_t c = config.hidden_size;
  const std::int64_t ffn = config.ffn_hidden_size();
  const std::int64_t hd = config.head_dim();
  const auto eps = static_cast<float>(config.layer_norm_epsilon);
  std::vector<std::int32_t> ids;
  for (const DecodeRow& row : rows) {
    if (!row.own) fail("BloomDecoder::extend: a row without its own cache");
    for (std::int32_t id : row.tokens) {
      if (id < 0 || id >= config.vocab_size) fail("token id {} outside the model's vocabulary [0, {})", id, config.vocab_size);
      ids.push_back(id);
    }
  }
  const auto n = static_cast<std::int64_t>(ids.size());
  for (std::int64_t position : wanted)
    if (position < 0 || position >= n) fail("BloomDecoder::extend: wanted position {} of {} tokens", position, n);
  const auto logit_floats = static_cast<std::size_t>(static_cast<std::int64_t>(wanted.size()) * config.vocab_size);
  if (logits.size() < logit_floats) logits.resize(logit_floats);  // grown only: no zero-filling on every call
  if (n == 0) return;
  for (auto* buffer : {&x_, &h_, &context_, &attn_out_}) grow(*buffer, n * c);
  grow(qkv_, n * 3 * c);
  grow(fc_, n * ffn);
  grow(fc_gelu_, n * ffn);
  grow(mean_, n);
  grow(rstd_, n);

  backend_.embedding_forward(h_.data(), ids.data(), wte_, n, c);
  backend_.layernorm_forward(x_.data(), mean_.data(), rstd_.data(), h_.data(), ln_emb_w_, ln_emb_b_, n, c, eps);
  for (std::int64_t l = 0; l < config.n_layer; ++l) {
    const LayerWeights& w = layers_[static_cast<std::size_t>(l)];
    backend_.layernorm_forward(h_.data(), mean_.data(), rstd_.data(), x_.data(), w.ln_in_w, w.ln_in_b, n, c, eps);
    backend_.linear_forward(qkv_.data(), h_.data(), w.qkv_w, w.qkv_b, n, c, 3 * c);
    // Append the new keys and values ([head, 3, head_dim] per token in qkv) to each row's cache.
    std::int64_t offset = 0;
    for (const DecodeRow& row : rows) {
      const auto n_new = static_cast<std::int64_t>(row.tokens.size());
      KvCache& own = *row.own;
      if (own.keys.size() != static_cast<std::size_t>(config.n_layer)) {
        own.keys.resize(static_cast<std::size_t>(config.n_layer));
        own.values.resize(static_cast<std::size_t>(config.n_layer));
      }
      auto& keys = own.keys[static_cast<std::size_t>(l)];
      auto& values = own.values[static_cast<std::size_t>(l)];
      keys.resize(static_cast<std::size_t>((own.length + n_new) * c));
      values.resize(keys.size());
      for (std::int64_t t = 0; t < n_new; ++t) {
        const float* token_qkv = qkv_.data() + (offset + t) * 3 * c;
        float* k = keys.data() + (own.length + t) * c;
        float* v = values.data() + (own.length + t) * c;
        for (std::int64_t h = 0; h < config.n_head; ++h) {
          std::copy_n(token_qkv + h * 3 * hd + hd, hd, k + h * hd);
          std::copy_n(token_qkv + h * 3 * hd + 2 * hd, hd, v + h * hd);
        }
      }
      offset += n_new;
    }
    attend(rows, l);
    backend_.linear_forward(attn_out_.data(), context_.data(), w.dense_w, w.dense_b, n, c, c);
    backend_.add_forward(x_.data(), x_.data(), attn_out_.data(), n * c);
    backend_.layernorm_forward(h_.data(), mean_.data(), rstd_.data(), x_.data(), w.ln_post_w, w.ln_post_b, n, c, eps);
    backend_.linear_forward(fc_.data(), h_.data(), w.fc_w, w.fc_b, n, c, ffn);
    backend_.gelu_forward(fc_gelu_.data(), fc_.data(), n * ffn);
    backend_.linear_forward(attn_out_.data(), fc_gelu_.data(), w.proj_w, w.proj_b, n, ffn, c);
    backend_.add_forward(x_.data(), x_.data(), attn_out_.data(), n * c);
  }
  for (const DecodeRow& row : rows) row.own->length += static_cast<std::int64_t>(row.tokens.size());

  const auto m = static_cast<std::int64_t>(wanted.size());
  if (m == 0) return;
  grow(wanted_hidden_, m * c);
  for (std::int64_t r = 0; r < m; ++r) std::copy_n(x_.data() + wanted[r] * c, c, h_.data() + r * c);
  backend_.layernorm_forward(wanted_hidden_.data(), mean_.data(), rstd_.data(), h_.data(), ln_f_w_, ln_f_b_, m, c, eps);
  backend_.linear_forward(logits.data(), wanted_hidden_.data(), wte_, nullptr, m, c, config.vocab_size);
}

}  // namespace xmtf::eval
