#pragma once
// The model interface: what the trainer, the scorer and the checkpoint code see of a model
// family (BLOOM now, mT5 next), never the family itself.
//
// Forward and backward are built from pieces, so that a pipeline stage can run a range of
// blocks and pass activations on (Megatron's schedules call the same pieces):
//
//   prepare(batch)                       check the batch, size the activations
//   embed_forward                        ids -> stream(0)
//   block_forward(l), l = 0 .. n-1       stream(l) -> stream(l + 1)
//   head_forward                         stream(n) -> logits (all positions or loss rows only)
//   head_loss_backward                   loss; d logits; stream_gradient = d stream(n)
//   block_backward(l), l = n-1 .. 0      stream_gradient: d stream(l + 1) -> d stream(l)
//   embed_backward                       d stream(0) -> embedding gradients
//
// A stage [l0, l1) receives stream(l0) (stream() gives where to put it), runs its blocks and
// sends stream(l1); backward receives the stream gradient and sends it on after block l0.
// Gradients ACCUMULATE into grads() (zero_grads() once per optimizer step). Every kernel runs
// on the model's backend.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "models/batch.hpp"
#include "models/parameters.hpp"
#include "nn/backend.hpp"

namespace xmtf::models {

// What a family's config.json says, before any weight exists: enough to check sizes against
// memory, to pack data (special ids) and to write the config back.
struct ModelConfig {
  std::int64_t vocab_size = 0;
  std::int32_t bos_token_id = 1;
  std::int32_t eos_token_id = 2;
  std::int32_t pad_token_id = 3;
  std::int32_t unk_token_id = 0;
  std::string origin;  // where it was read from, for messages ("" when built in code)

  virtual ~ModelConfig() = default;
  virtual std::string family() const = 0;  // HF model_type: "bloom"
  virtual std::int64_t n_parameters() const = 0;  // of the global model, without padding
  // Which keys make the model as big as it is, for messages about memory.
  virtual std::string size_text() const = 0;
  // Bytes of the activations forward + backward hold for a micro-batch of this shape.
  virtual double activation_bytes(std::int64_t batch, std::int64_t seq_len) const = 0;
  // A config.json transformers loads.
  virtual std::string to_json() const = 0;
  virtual std::unique_ptr<ModelConfig> clone() const = 0;
};

// What forward saves for backward. The logits are common to every family: [n_logit_rows,
// vocab] after head_forward (all positions, or with loss_rows_only only those with a nonzero
// loss weight, listed in logit_rows), d logits after head_loss_backward.
struct Activations {
  virtual ~Activations() = default;
  std::int64_t batch_size = 0;
  std::int64_t seq_len = 0;
  nn::Buffer logits;
  bool loss_rows_only = false;
  std::vector<std::int64_t> logit_rows;
};

class Model {
 public:
  virtual ~Model() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const ParameterLayout& layout() const = 0;
  virtual const nn::Backend& backend() const = 0;
  virtual std::vector<float>& params() = 0;
  virtual const std::vector<float>& params() const = 0;
  virtual std::vector<float>& grads() = 0;  // empty until the first zero_grads()
  virtual void zero_grads() = 0;
  // The family's initialisation (HF _init_weights), seeded.
  virtual void init_random(std::uint64_t seed) = 0;
  // A parameter's name in HF files of this family (export), and the names accepted on import.
  virtual std::string hf_name(const TensorSpec& spec) const = 0;
  virtual std::vector<std::string> hf_import_names(const TensorSpec& spec) const = 0;
  virtual std::unique_ptr<Activations> make_activations() const = 0;

  // The pieces (see the top of this file).
  virtual std::int64_t n_blocks() const = 0;
  virtual void prepare(const Batch& batch, Activations& activations) const = 0;
  virtual void embed_forward(const Batch& batch, Activations& activations) const = 0;
  virtual void block_forward(std::int64_t block, const Batch& batch, Activations& activations) const = 0;
  virtual void head_forward(const Batch& batch, Activations& activations, bool loss_rows_only) const = 0;
  virtual double head_loss_backward(const Batch& batch, Activations& activations) = 0;
  // The weighted loss of the last head_forward, no gradients (validation); logits are consumed.
  virtual double head_loss(const Batch& batch, Activations& activations) const = 0;
  virtual void block_backward(std::int64_t block, const Batch& batch, Activations& activations) = 0;
  virtual void embed_backward(const Batch& batch, Activations& activations) = 0;
  // The residual stream entering block l (l = n_blocks(): entering the head), [batch * seq, hidden].
  virtual std::span<float> stream(Activations& activations, std::int64_t block) const = 0;
  // The gradient flowing back through the stream (d stream(l) after block_backward(l)).
  virtual std::span<float> stream_gradient(Activations& activations) const = 0;

  // The whole model, from the pieces.
  void forward(const Batch& batch, Activations& activations, bool loss_rows_only = false) const;
  double loss_and_backward(const Batch& batch, Activations& activations);  // after forward
  double evaluate_loss(const Batch& batch, Activations& activations) const;  // forward + loss
  std::int64_t n_parameters() const { return config().n_parameters(); }
  double activation_bytes(std::int64_t batch, std::int64_t seq_len) const {
    return config().activation_bytes(batch, seq_len);
  }
};

// Reads a config.json of a supported family (by its model_type; none means BLOOM, as older
// BLOOM files have it). Throws xmtf::Error naming the file and key.
std::unique_ptr<ModelConfig> load_model_config(const std::filesystem::path& config_json);
// The model of a config on a backend (its weights zero until init_random or a load). Checks
// first that the weights fit in memory, naming the keys that make them too big.
std::unique_ptr<Model> create_model(const ModelConfig& config, const nn::Backend& backend = nn::cpu_backend());

}  // namespace xmtf::models
