#pragma once
// Parameters are read and written by global name and slice (models/parameters.hpp): a file
// holds global tensors; a rank reads the part of each that its layout holds, so any layout
// loads any checkpoint. A grid of 1 holds every tensor whole, and reads and writes exactly the
// bytes a single process always did.
#include <span>
#include <string>

#include "ckpt/safetensors.hpp"
#include "models/parameters.hpp"

namespace xmtf::ckpt {

// Fills this rank's slice `local` (spec.numel floats; padding left untouched) from the global
// tensor `name` of `file`. Throws xmtf::Error naming the file and tensor when its shape is not
// spec.global_shape.
void read_slice(const SafetensorsFile& file, const std::string& name, const models::TensorSpec& spec,
                std::span<float> local);

// The global tensor held in `local`, for writing it whole: the first held_numel() elements.
// Throws xmtf::Error when this rank holds only a slice (a tensor-parallel layout writes its
// slices plus an index: the checkpoint format of the TP/PP issue).
std::span<const float> whole_tensor(const models::TensorSpec& spec, std::span<const float> local);

}  // namespace xmtf::ckpt
