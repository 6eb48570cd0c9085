#include "models/model.hpp"

#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/bloom.hpp"
#include "models/json_input.hpp"

namespace xmtf::models {

void Model::forward(const Batch& batch, Activations& activations, bool loss_rows_only) const {
  prepare(batch, activations);
  embed_forward(batch, activations);
  for (std::int64_t l = 0; l < n_blocks(); ++l) block_forward(l, batch, activations);
  head_forward(batch, activations, loss_rows_only);
}

double Model::loss_and_backward(const Batch& batch, Activations& activations) {
  const double loss = head_loss_backward(batch, activations);
  for (std::int64_t l = n_blocks() - 1; l >= 0; --l) block_backward(l, batch, activations);
  embed_backward(batch, activations);
  return loss;
}

double Model::evaluate_loss(const Batch& batch, Activations& activations) const {
  forward(batch, activations, /*loss_rows_only=*/true);
  return head_loss(batch, activations);
}

std::unique_ptr<ModelConfig> load_model_config(const fs::path& config_json) {
  const std::string text = read_file(config_json);
  const nlohmann::json object = parse_json_strict(text, config_json.string());
  const std::string type = object.is_object() && object.contains("model_type") && object["model_type"].is_string()
                               ? object["model_type"].get<std::string>()
                               : "bloom";
  if (type == "bloom") return std::make_unique<BloomConfig>(parse_bloom_config(text, config_json.string()));
  fail("{}: model_type '{}' is not supported by this engine (bloom)", config_json.string(), type);
}

std::unique_ptr<Model> create_model(const ModelConfig& config, const nn::Backend& backend) {
  if (const auto* bloom = dynamic_cast<const BloomConfig*>(&config)) return std::make_unique<BloomModel>(*bloom, backend);
  fail("{}: no model for family '{}'", config.origin, config.family());
}

}  // namespace xmtf::models
