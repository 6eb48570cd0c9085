#pragma once
// BLOOM hyper-parameters, read from a HuggingFace config.json. Accepts both the current key names
// (hidden_size, n_head, n_layer) and the old ones that bloomz-560m's file really uses (n_embed,
// num_attention_heads, num_hidden_layers).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "models/model.hpp"

namespace xmtf::models {

// Largest sizes the engine takes (checked before anything is allocated). Token ids are int32;
// the others keep every size product inside int64 and are far beyond any BLOOM (176B: hidden
// 14,336, 70 layers).
inline constexpr std::int64_t kMaxVocabSize = 2147483647;
inline constexpr std::int64_t kMaxHiddenSize = 262144;
inline constexpr std::int64_t kMaxLayers = 65536;

struct BloomConfig : ModelConfig {
  std::int64_t hidden_size = 64;
  std::int64_t n_layer = 2;
  std::int64_t n_head = 8;
  double layer_norm_epsilon = 1e-5;
  double initializer_range = 0.02;
  std::int64_t seq_length = 2048;  // informational; training sets its own seq_len

  BloomConfig() { vocab_size = 250880; }

  std::int64_t head_dim() const { return hidden_size / n_head; }
  std::int64_t ffn_hidden_size() const { return 4 * hidden_size; }
  // Throws xmtf::Error naming the key when a value is out of range or the shape is impossible
  // (hidden not divisible by heads, a special token outside the vocabulary, eps <= 0, ...).
  void validate(const std::string& origin) const;

  std::string family() const override { return "bloom"; }
  std::int64_t n_parameters() const override;
  // "vocab_size 250880 x hidden_size 1024 word embeddings: 559214592 parameters in all".
  std::string size_text() const override;
  double activation_bytes(std::int64_t batch, std::int64_t seq_len) const override;
  std::string to_json() const override;
  std::unique_ptr<ModelConfig> clone() const override { return std::make_unique<BloomConfig>(*this); }
};

// Parses config.json text; `origin` (a path) is named in error messages.
BloomConfig parse_bloom_config(const std::string& json_text, const std::string& origin);
BloomConfig load_bloom_config(const std::filesystem::path& path);
// A config.json that transformers loads as BloomForCausalLM (current key names).
std::string bloom_config_to_json(const BloomConfig& config);

}  // namespace xmtf::models
