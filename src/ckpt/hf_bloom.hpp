#pragma once
// The names the HF import and export had before the Model interface (BLOOM was the only
// family); they are the family-independent functions of hf_model.hpp.
#include "ckpt/hf_model.hpp"
#include "models/bloom.hpp"

namespace xmtf::ckpt {

inline void load_bloom_weights(const std::filesystem::path& file_or_folder, models::Model& model) {
  load_hf_weights(file_or_folder, model);
}
inline void export_bloom_hf(const models::Model& model, const std::filesystem::path& folder, DType dtype = DType::f32) {
  export_hf(model, folder, dtype);
}

}  // namespace xmtf::ckpt
