#pragma once
// BLOOM weights in HuggingFace's layout: import from model.safetensors or a sharded checkpoint
// (names with or without the "transformer." prefix, F32/F16/BF16 on disk), export to a folder
// that transformers loads unchanged as BloomForCausalLM (model.safetensors + config.json).
#include <filesystem>

#include "ckpt/safetensors.hpp"
#include "models/bloom.hpp"

namespace xmtf::ckpt {

// Copies every parameter of `model` from the checkpoint at file_or_folder (converted to fp32).
// A training checkpoint folder (step-N/) is first checked against its recorded sha256.
// Throws xmtf::Error naming the tensor on a missing tensor or a shape mismatch, or the file on a
// checksum mismatch.
void load_bloom_weights(const std::filesystem::path& file_or_folder, models::BloomModel& model);

// Writes folder/model.safetensors (tensor names "transformer.<name>", the tied lm_head omitted as
// transformers itself saves it, metadata format=pt) and folder/config.json, each atomically.
void export_bloom_hf(const models::BloomModel& model, const std::filesystem::path& folder,
                     DType dtype = DType::f32);

}  // namespace xmtf::ckpt
