#include "ckpt/hf_bloom.hpp"

#include <fmt/ranges.h>

#include <cmath>

#include "ckpt/temporaries.hpp"
#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::ckpt {

namespace {

// Weights are data too: a NaN or an infinity would only surface later as a NaN loss or score.
void check_finite(std::span<const float> values, const std::string& file, const std::string& tensor) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) fail("{}: tensor '{}' holds {} at element {}: refusing non-finite weights", file, tensor, values[i], i);
  }
}

// The files an export consists of; anything else in an existing export folder (a tokenizer.json
// put beside the weights) is carried over into the new one.
bool is_export_file(const std::string& name) {
  return name == "model.safetensors" || name == "config.json" || name == "model.safetensors.index.json";
}

// Replaces `folder` by the complete `staged` folder: a reader (or a rerun after a kill) sees the
// old export or the new one, or none, never a mix.
void publish_folder(const fs::path& staged, const fs::path& folder) {
  fs::path previous;
  if (fs::exists(folder)) {
    for (const auto& entry : fs::directory_iterator(folder)) {
      const std::string name = entry.path().filename().string();
      if (is_export_file(name) || is_temporary_name(name) || fs::exists(staged / name)) continue;
      std::error_code ec;
      fs::create_hard_link(entry.path(), staged / name, ec);
      if (ec) fs::copy(entry.path(), staged / name, fs::copy_options::recursive);
    }
    fsync_directory(staged);
    previous = temp_path_beside(folder);
    fs::rename(folder, previous);
  }
  fs::rename(staged, folder);
  fsync_directory(folder.parent_path());
  if (!previous.empty()) fs::remove_all(previous);
}

}  // namespace

void load_bloom_weights(const fs::path& file_or_folder, models::BloomModel& model) {
  // A training checkpoint records the sha256 of its files: corrupt weights must not be used,
  // whoever loads them (evaluation, or a trainer starting from them).
  if (is_training_checkpoint(file_or_folder)) verify_checkpoint_files(file_or_folder, {"model.safetensors", "config.json"});
  SafetensorsCollection checkpoint(file_or_folder);
  std::size_t loaded = 0;
  for (const models::TensorSpec& spec : model.layout().tensors()) {
    std::string name = spec.name;
    if (!checkpoint.contains(name)) name = "transformer." + spec.name;
    if (!checkpoint.contains(name)) {
      fail("{}: tensor '{}' (or 'transformer.{}') is missing", file_or_folder.string(), spec.name, spec.name);
    }
    const SafetensorsFile& file = checkpoint.file_of(name);
    const TensorInfo& info = file.info(name);
    if (info.shape != spec.shape) {
      fail("{}: tensor '{}' has shape [{}], the config needs [{}]", file.path().string(), name,
           fmt::join(info.shape, ","), fmt::join(spec.shape, ","));
    }
    const std::span<float> values = model.layout().view(model.params(), spec.name);
    file.read_f32(name, values);
    check_finite(values, file.path().string(), name);
    ++loaded;
  }
  log::info("loaded {} tensors ({} parameters) from {}", loaded, model.n_parameters(), file_or_folder.string());
}

void export_bloom_hf(const models::BloomModel& model, const fs::path& folder, DType dtype) {
  if (folder.has_parent_path()) fs::create_directories(folder.parent_path());
  const fs::path staged = temp_path_beside(folder);
  fs::create_directories(staged);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const models::TensorSpec& spec : model.layout().tensors()) {
    writer.add_f32("transformer." + spec.name, spec.shape, model.layout().view(model.params(), spec.name), dtype);
  }
  const std::uint64_t bytes = writer.write(staged / "model.safetensors");
  write_file_atomic(staged / "config.json", models::bloom_config_to_json(model.config()));
  fsync_directory(staged);
  publish_folder(staged, folder);
  log::info("exported {} ({}) to {}", format_bytes(bytes), dtype_name(dtype), folder.string());
}

bool hf_export_complete(const fs::path& folder) {
  return fs::is_regular_file(folder / "model.safetensors") && fs::is_regular_file(folder / "config.json");
}

std::vector<fs::path> remove_export_temporaries(const fs::path& folder) {
  std::vector<fs::path> removed = remove_temporaries(folder.has_parent_path() ? folder.parent_path() : fs::path("."),
                                                     folder.filename().string());
  for (fs::path& path : remove_temporaries(folder)) removed.push_back(std::move(path));
  return removed;
}

}  // namespace xmtf::ckpt
