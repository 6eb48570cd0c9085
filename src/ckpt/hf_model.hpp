#pragma once
// A model's weights in HuggingFace's layout, for any family of the Model interface: import from
// model.safetensors or a sharded checkpoint (the family's accepted names, F32/F16/BF16 on
// disk), export to a folder that transformers loads unchanged (model.safetensors + config.json).
// Tensors are read and written by global name and this rank's slice (sharded_io.hpp).
#include <filesystem>
#include <vector>

#include "ckpt/safetensors.hpp"
#include "models/model.hpp"

namespace xmtf::ckpt {

// Copies every parameter of `model` from the checkpoint at file_or_folder (converted to fp32).
// A training checkpoint folder (step-N/) is first checked against its recorded sha256.
// Throws xmtf::Error naming the tensor on a missing tensor or a shape mismatch, or the file on a
// checksum mismatch, and every weight is checked to be finite (a NaN or an infinity is refused).
void load_hf_weights(const std::filesystem::path& file_or_folder, models::Model& model);

// Writes folder/model.safetensors (the family's HF names; for BLOOM the tied lm_head omitted as
// transformers itself saves it; metadata format=pt) and folder/config.json. The export is
// complete or absent: both files are written into "<folder>.tmp.<pid>.<n>/", which then replaces
// `folder` by renames (other files of an existing folder, e.g. a tokenizer.json, are kept).
void export_hf(const models::Model& model, const std::filesystem::path& folder, DType dtype = DType::f32);

// Both files of an export are there (with the renames above, that means it is complete).
bool hf_export_complete(const std::filesystem::path& folder);

// Removes what a killed export left: "<folder>.tmp.*" beside it, "*.tmp.*" inside it.
std::vector<std::filesystem::path> remove_export_temporaries(const std::filesystem::path& folder);

}  // namespace xmtf::ckpt
