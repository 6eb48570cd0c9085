#include "models/bloom_config.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/json_input.hpp"

namespace xmtf::models {

namespace {

using Json = nlohmann::json;

// The first of `keys` present (and not null) in `object`, with the key found.
std::pair<const char*, const Json*> find_any(const Json& object, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it != object.end() && !it->is_null()) return {key, &*it};
  }
  return {*keys.begin(), nullptr};
}

std::int64_t required_integer(const Json& object, std::initializer_list<const char*> keys, std::int64_t max,
                              const std::string& origin) {
  auto [key, value] = find_any(object, keys);
  if (value == nullptr) fail("{}: missing key '{}'", origin, key);
  return json_integer(*value, fmt::format("{}: '{}'", origin, key), 1, max);
}

std::int64_t optional_integer(const Json& object, const char* key, std::int64_t fallback, std::int64_t min,
                              std::int64_t max, const std::string& origin) {
  auto [found, value] = find_any(object, {key});
  return value == nullptr ? fallback : json_integer(*value, fmt::format("{}: '{}'", origin, found), min, max);
}

double optional_number(const Json& object, const char* key, double fallback, const std::string& origin) {
  auto [found, value] = find_any(object, {key});
  if (value == nullptr) return fallback;
  if (!value->is_number()) fail("{}: '{}' must be a number, not {}", origin, found, value->dump());
  return value->get<double>();
}

}  // namespace

void BloomConfig::validate(const std::string& origin) const {
  auto check_range = [&](const char* key, std::int64_t value, std::int64_t max) {
    if (value < 1 || value > max) fail("{}: '{}' is {}; it must be in [1, {}]", origin, key, value, max);
  };
  check_range("vocab_size", vocab_size, kMaxVocabSize);
  check_range("hidden_size", hidden_size, kMaxHiddenSize);
  check_range("n_layer", n_layer, kMaxLayers);
  check_range("n_head", n_head, hidden_size);
  if (hidden_size % n_head != 0) {
    fail("{}: hidden_size {} is not divisible by n_head {}", origin, hidden_size, n_head);
  }
  if (!std::isfinite(layer_norm_epsilon) || layer_norm_epsilon <= 0) {
    fail("{}: 'layer_norm_epsilon' is {}; it must be a positive number", origin, layer_norm_epsilon);
  }
  if (!std::isfinite(initializer_range) || initializer_range < 0) {
    fail("{}: 'initializer_range' is {}; it must be a number >= 0", origin, initializer_range);
  }
  for (auto [key, id] : {std::pair{"bos_token_id", bos_token_id}, {"eos_token_id", eos_token_id},
                         {"pad_token_id", pad_token_id}, {"unk_token_id", unk_token_id}}) {
    if (id < 0 || id >= vocab_size) fail("{}: '{}' is {}, outside the vocabulary [0, {})", origin, key, id, vocab_size);
  }
}

std::int64_t BloomConfig::n_parameters() const {
  const std::int64_t c = hidden_size;
  const std::int64_t per_block = 4 * c + (3 * c * c + 3 * c) + (c * c + c) + (4 * c * c + 4 * c) + (4 * c * c + c);
  return vocab_size * c + 2 * c + n_layer * per_block + 2 * c;
}

std::string BloomConfig::size_text() const {
  const double embedding = static_cast<double>(vocab_size) * static_cast<double>(hidden_size);
  const double blocks = static_cast<double>(n_parameters()) - embedding;
  if (embedding >= blocks) {
    return fmt::format("vocab_size {} x hidden_size {} word embeddings: {} parameters in all", vocab_size,
                       hidden_size, n_parameters());
  }
  return fmt::format("n_layer {} blocks of 12 x hidden_size {}^2: {} parameters in all", n_layer, hidden_size,
                     n_parameters());
}

BloomConfig parse_bloom_config(const std::string& json_text, const std::string& origin) {
  const Json object = parse_json_strict(json_text, origin);
  if (!object.is_object()) fail("{}: expected a JSON object", origin);
  if (auto it = object.find("model_type"); it != object.end() && it->is_string() && *it != "bloom") {
    fail("{}: model_type is '{}', expected 'bloom'", origin, it->get<std::string>());
  }
  if (auto it = object.find("apply_residual_connection_post_layernorm");
      it != object.end() && it->is_boolean() && it->get<bool>()) {
    fail("{}: apply_residual_connection_post_layernorm = true is not supported", origin);
  }
  BloomConfig config;
  config.vocab_size = required_integer(object, {"vocab_size"}, kMaxVocabSize, origin);
  config.hidden_size = required_integer(object, {"hidden_size", "n_embed"}, kMaxHiddenSize, origin);
  config.n_layer = required_integer(object, {"n_layer", "num_hidden_layers"}, kMaxLayers, origin);
  config.n_head = required_integer(object, {"n_head", "num_attention_heads"}, kMaxHiddenSize, origin);
  config.layer_norm_epsilon = optional_number(object, "layer_norm_epsilon", 1e-5, origin);
  config.initializer_range = optional_number(object, "initializer_range", 0.02, origin);
  config.seq_length = optional_integer(object, "seq_length", 2048, 1, INT64_MAX, origin);
  config.bos_token_id = static_cast<std::int32_t>(optional_integer(object, "bos_token_id", 1, 0, INT32_MAX, origin));
  config.eos_token_id = static_cast<std::int32_t>(optional_integer(object, "eos_token_id", 2, 0, INT32_MAX, origin));
  config.pad_token_id = static_cast<std::int32_t>(optional_integer(object, "pad_token_id", 3, 0, INT32_MAX, origin));
  config.unk_token_id = static_cast<std::int32_t>(optional_integer(object, "unk_token_id", 0, 0, INT32_MAX, origin));
  config.validate(origin);
  config.origin = origin;
  return config;
}

double BloomConfig::activation_bytes(std::int64_t batch, std::int64_t seq_len) const {
  const double n = static_cast<double>(batch) * static_cast<double>(seq_len);
  const double c = static_cast<double>(hidden_size);
  const double ffn = static_cast<double>(ffn_hidden_size());
  const double t = static_cast<double>(seq_len);
  // Per layer: ln_in, qkv (3), context, after_attention, ln_post, output (c each); fc, fc_gelu;
  // the attention probabilities. Then embedded, embedded_ln, ln_f, the backward scratch
  // (d_stream, d_hidden, d_qkv: 5 c, d_fc, d_fc_gelu: 2 ffn), the logits and the score scratch.
  const double per_layer = n * (8 * c + 2 * ffn) + static_cast<double>(batch) * static_cast<double>(n_head) * t * t;
  const double floats = static_cast<double>(n_layer) * per_layer + n * (3 * c + 5 * c + 2 * ffn) +
                        n * static_cast<double>(vocab_size) + t * t;
  return 4.0 * floats;
}

std::string BloomConfig::to_json() const { return bloom_config_to_json(*this); }

BloomConfig load_bloom_config(const fs::path& path) {
  return parse_bloom_config(read_file(path), path.string());
}

std::string bloom_config_to_json(const BloomConfig& config) {
  Json object = {
      {"architectures", {"BloomForCausalLM"}},
      {"model_type", "bloom"},
      {"vocab_size", config.vocab_size},
      {"hidden_size", config.hidden_size},
      {"n_layer", config.n_layer},
      {"n_head", config.n_head},
      {"layer_norm_epsilon", config.layer_norm_epsilon},
      {"initializer_range", config.initializer_range},
      {"apply_residual_connection_post_layernorm", false},
      {"attention_dropout", 0.0},
      {"hidden_dropout", 0.0},
      {"attention_softmax_in_fp32", true},
      {"masked_softmax_fusion", true},
      {"pretraining_tp", 1},
      {"slow_but_exact", false},
      {"seq_length", config.seq_length},
      {"bos_token_id", config.bos_token_id},
      {"eos_token_id", config.eos_token_id},
      {"pad_token_id", config.pad_token_id},
      {"unk_token_id", config.unk_token_id},
      {"use_cache", true},
      {"torch_dtype", "float32"},
      {"transformers_version", "4.20.0"},
  };
  return object.dump(2) + "\n";
}

}  // namespace xmtf::models
