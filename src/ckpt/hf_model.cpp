#include "ckpt/hf_model.hpp"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "ckpt/sharded_io.hpp"
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

void load_hf_weights(const fs::path& file_or_folder, models::Model& model) {
  // A training checkpoint records the sha256 of its files: corrupt weights must not be used,
  // whoever loads them (evaluation, or a trainer starting from them).
  if (is_training_checkpoint(file_or_folder)) verify_checkpoint_files(file_or_folder, {"model.safetensors", "config.json"});
  SafetensorsCollection checkpoint(file_or_folder);
  std::size_t loaded = 0;
  for (const models::TensorSpec& spec : model.layout().tensors()) {
    const std::vector<std::string> names = model.hf_import_names(spec);
    const auto found = std::find_if(names.begin(), names.end(), [&](const std::string& n) { return checkpoint.contains(n); });
    if (found == names.end()) {
      std::string alternatives;
      for (std::size_t i = 1; i < names.size(); ++i) alternatives += fmt::format(" (or '{}')", names[i]);
      fail("{}: tensor '{}'{} is missing", file_or_folder.string(), names.front(), alternatives);
    }
    const SafetensorsFile& file = checkpoint.file_of(*found);
    const std::span<float> values = model.layout().view(model.params(), spec.name);
    read_slice(file, *found, spec, values);
    check_finite(values, file.path().string(), *found);
    ++loaded;
  }
  log::info("loaded {} tensors ({} parameters) from {}", loaded, model.n_parameters(), file_or_folder.string());
}

void export_hf(const models::Model& model, const fs::path& folder, DType dtype) {
  if (folder.has_parent_path()) fs::create_directories(folder.parent_path());
  const fs::path staged = temp_path_beside(folder);
  fs::create_directories(staged);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const models::TensorSpec& spec : model.layout().tensors()) {
    writer.add_f32(model.hf_name(spec), spec.global_shape, whole_tensor(spec, model.layout().view(model.params(), spec.name)),
                   dtype);
  }
  const std::uint64_t bytes = writer.write(staged / "model.safetensors");
  write_file_atomic(staged / "config.json", model.config().to_json());
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
