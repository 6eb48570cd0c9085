#include "models/bloom_config.hpp"

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"

namespace xmtf::models {

namespace {

using Json = nlohmann::json;

// The first of `keys` present in `object`, or null.
const Json* find_any(const Json& object, std::initializer_list<const char*> keys) {
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it != object.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

template <class T>
T required(const Json& object, std::initializer_list<const char*> keys, const std::string& origin) {
  const Json* value = find_any(object, keys);
  if (value == nullptr) fail("{}: missing key '{}'", origin, *keys.begin());
  if (!value->is_number()) fail("{}: key '{}' must be a number", origin, *keys.begin());
  return value->get<T>();
}

template <class T>
T optional(const Json& object, std::initializer_list<const char*> keys, T fallback) {
  const Json* value = find_any(object, keys);
  if (value == nullptr || !value->is_number()) return fallback;
  return value->get<T>();
}

}  // namespace

void BloomConfig::validate(const std::string& origin) const {
  if (vocab_size <= 0 || hidden_size <= 0 || n_layer <= 0 || n_head <= 0) {
    fail("{}: vocab_size, hidden_size, n_layer and n_head must be positive", origin);
  }
  if (hidden_size % n_head != 0) {
    fail("{}: hidden_size {} is not divisible by n_head {}", origin, hidden_size, n_head);
  }
}

BloomConfig parse_bloom_config(const std::string& json_text, const std::string& origin) {
  Json object;
  try {
    object = Json::parse(json_text);
  } catch (const Json::parse_error& e) {
    fail("{}: not valid JSON: {}", origin, e.what());
  }
  if (!object.is_object()) fail("{}: expected a JSON object", origin);
  if (auto it = object.find("model_type"); it != object.end() && it->is_string() && *it != "bloom") {
    fail("{}: model_type is '{}', expected 'bloom'", origin, it->get<std::string>());
  }
  if (auto it = object.find("apply_residual_connection_post_layernorm");
      it != object.end() && it->is_boolean() && it->get<bool>()) {
    fail("{}: apply_residual_connection_post_layernorm = true is not supported", origin);
  }
  BloomConfig config;
  config.vocab_size = required<std::int64_t>(object, {"vocab_size"}, origin);
  config.hidden_size = required<std::int64_t>(object, {"hidden_size", "n_embed"}, origin);
  config.n_layer = required<std::int64_t>(object, {"n_layer", "num_hidden_layers"}, origin);
  config.n_head = required<std::int64_t>(object, {"n_head", "num_attention_heads"}, origin);
  config.layer_norm_epsilon = optional<double>(object, {"layer_norm_epsilon"}, 1e-5);
  config.initializer_range = optional<double>(object, {"initializer_range"}, 0.02);
  config.seq_length = optional<std::int64_t>(object, {"seq_length"}, 2048);
  config.bos_token_id = optional<std::int32_t>(object, {"bos_token_id"}, 1);
  config.eos_token_id = optional<std::int32_t>(object, {"eos_token_id"}, 2);
  config.pad_token_id = optional<std::int32_t>(object, {"pad_token_id"}, 3);
  config.unk_token_id = optional<std::int32_t>(object, {"unk_token_id"}, 0);
  config.validate(origin);
  return config;
}

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
