#pragma once
// BLOOM weights in HuggingFace's layout: import from model.safetensors or a sharded checkpoint
// (names with or without the "transformer." prefix, F32/F16/BF16 on disk), export to a folder
// that transformers loads unchanged as BloomForCausalLM (model.safetensors + config.json).
#include <filesystem>
#include <vector>

#include "ckpt/safetensors.hpp"
#include "models/bloom.hpp"

namespace xmtf::ckpt {

// Copies every parameter of `model` from the checkpoint at file_or_folder (converted to fp32).
// A training checkpoint folder (step-N/) is first checked against its recorded sha256.
// Throws xmtf::Error naming the tensor on a missing tensor or a shape mismatch, or the file on a
// checksum mismatch, and every weight is checked to be finite (a NaN or an infinity is refused).
void load_bloom_weights(const std::filesystem::path& file_or_folder, models::BloomModel& model);

// Writes folder/model.safetensors (tensor names "transformer.<name>", the tied lm_head omitted as
// transformers itself saves it, metadata format=pt) and folder/config.json. The export is
// complete or absent: both files are written into "<folder>.tmp.<pid>.<n>/", which then replaces
// `folder` by renames (other files of an existing folder, e.g. a tokenizer.json, are kept).
void export_bloom_hf(const models::BloomModel& model, const std::filesystem::path& folder,
                     DType dtype = DType::f32);

// Both files of an export are there (with the renames above, that means it is complete).
bool hf_export_complete(const std::filesystem::path& folder);

// Removes what a killed export left: "<folder>.tmp.*" beside it, "*.tmp.*" inside it.
std::vector<std::filesystem::path> remove_export_temporaries(const std::filesystem::path& folder);

}  // namespace xmtf::ckpt
