#pragma once
// Incremental BLOOM forward with a key/value cache: the one model-touching piece of rank
// classification and generation (everything else in src/eval goes through the interfaces of
// scorer.hpp). It reads the weights of a models::BloomModel by their HF names and runs the same
// maths as its forward (the model's backend for every dense kernel, fp32, ALiBi), but
//   - rows are packed without padding: row r brings T_r new tokens, all rows' tokens go through
//     the linear layers as one [sum T_r, hidden] matrix;
//   - each row attends to the positions already seen: a shared read-only prefix (an input whose
//     choices or samples continue it) and then its own cache, which the new tokens extend;
//   - only the wanted positions go through the final LayerNorm and the LM head.
// The attention over the cache is computed here with BLAS on host memory (the cpu and reference
// backends); a device backend would take it as one more kernel of nn::Backend.
#include <cstdint>
#include <span>
#include <vector>

#include "models/bloom.hpp"
#include "models/model.hpp"

namespace xmtf::eval {

// Keys and values of the positions one sequence has seen, per layer [length, hidden] (head h
// at columns h * head_dim; the layout of BLOOM's fused QKV output minus the interleaving).
struct KvCache {
  std::int64_t length = 0;
  std::vector<std::vector<float>> keys, values;
  void clear() { length = 0; }
};

// New tokens continuing a sequence: its earlier positions are `prefix` (may be null) followed
// by `own` (required; the new tokens' keys and values are appended to it).
struct DecodeRow {
  const KvCache* prefix = nullptr;
  KvCache* own = nullptr;
  std::span<const std::int32_t> tokens;
};

class BloomDecoder {
 public:
  // Throws xmtf::Error for a model of another family (this decoder is BLOOM's).
  explicit BloomDecoder(const models::Model& model);

  const models::BloomConfig& config() const { return model_.config(); }

  // Runs every row's new tokens (rows with none are allowed) and writes the logits of the
  // wanted positions into the first wanted.size() * vocab floats of logits (grown when smaller,
  // never shrunk: it is a reused buffer). Positions are counted over the packed
  // tokens: row 0's tokens first, then row 1's, ...
  void extend(std::span<const DecodeRow> rows, std::span<const std::int64_t> wanted, std::vector<float>& logits);

 private:
  struct LayerWeights {
    const float *ln_in_w, *ln_in_b, *qkv_w, *qkv_b, *dense_w, *dense_b;
    const float *ln_post_w, *ln_post_b, *fc_w, *fc_b, *proj_w, *proj_b;
  };
  void attend(std::span<const DecodeRow> rows, std::int64_t layer);

  const models::BloomModel& model_;
  const nn::Backend& backend_;
  std::vector<LayerWeights> layers_;
  const float *wte_, *ln_emb_w_, *ln_emb_b_, *ln_f_w_, *ln_f_b_;
  std::vector<float> slopes_;
  // Scratch, grown as needed.
  std::vector<float> x_, h_, qkv_, context_, attn_out_, fc_, fc_gelu_, mean_, rstd_, scores_, wanted_hidden_;
};

}  // namespace xmtf::eval
