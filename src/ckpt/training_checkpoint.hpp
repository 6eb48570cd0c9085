#pragma once
// Training checkpoints: <root>/step-NNNNNNNN/ holding
//   model.safetensors      parameters (fp32, HF tensor names: also loadable as weights)
//   optimizer.safetensors  exp_avg.<name>, exp_avg_sq.<name>
//   config.json            the model config
//   state.json             step, trainer state (schedule, data position, RNG seed, ...), and
//                          the sha256 of every file above
// Written into step-N.tmp/, every file fsync'd, the folder renamed to step-N and fsync'd, then
// <root>/latest (the folder name) replaced atomically. Tensors are stored by name, so a later
// layout (tensor/pipeline parallel) loads the slices it needs from the same files.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "models/parameters.hpp"

namespace xmtf::ckpt {

struct TrainingState {
  std::int64_t step = 0;
  std::string config_json;   // model config.json text
  std::string trainer_json;  // opaque to ckpt: the trainer's own state
};

// Buffers in the flat layout of `layout`. Saving refuses a non-finite value in any of them.
struct TrainingBuffers {
  std::vector<float>* params = nullptr;
  std::vector<float>* exp_avg = nullptr;
  std::vector<float>* exp_avg_sq = nullptr;
};

// Returns the final folder.
std::filesystem::path save_training_checkpoint(const std::filesystem::path& root,
                                               const models::ParameterLayout& layout,
                                               const TrainingBuffers& buffers,
                                               const TrainingState& state);

// The folder `latest` points to, or nothing when root holds no checkpoint yet. Without
// `latest` but with step-N/ folders: the newest whose files all verify, with a warning; an
// error when none does (never "no checkpoint": that would restart from random weights).
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& root);

// Verifies checksums and shapes, then fills the buffers. Throws xmtf::Error naming the file and
// what is wrong (corrupt file, checksum mismatch, missing tensor, different model shape).
TrainingState load_training_checkpoint(const std::filesystem::path& folder,
                                       const models::ParameterLayout& layout,
                                       const TrainingBuffers& buffers);

// Checks `files` of a checkpoint folder against the sha256 its state.json records. Throws
// xmtf::Error naming the file (missing, corrupt state.json, checksum mismatch). Readers of a
// checkpoint's weights alone (load_bloom_weights) call it for model.safetensors and config.json.
void verify_checkpoint_files(const std::filesystem::path& folder, const std::vector<std::string>& files);

// True when the folder is a training checkpoint (it has state.json), not a HuggingFace folder.
bool is_training_checkpoint(const std::filesystem::path& folder);

std::string checkpoint_folder_name(std::int64_t step);  // "step-00000042"

}  // namespace xmtf::ckpt
