#include "ckpt/hf_bloom.hpp"

#include <fmt/ranges.h>

#include "ckpt/training_checkpoint.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::ckpt {

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
    file.read_f32(name, model.layout().view(model.params(), spec.name));
    ++loaded;
  }
  log::info("loaded {} tensors ({} parameters) from {}", loaded, model.n_parameters(), file_or_folder.string());
}

void export_bloom_hf(const models::BloomModel& model, const fs::path& folder, DType dtype) {
  fs::create_directories(folder);
  SafetensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const models::TensorSpec& spec : model.layout().tensors()) {
    writer.add_f32("transformer." + spec.name, spec.shape, model.layout().view(model.params(), spec.name), dtype);
  }
  const std::uint64_t bytes = writer.write(folder / "model.safetensors");
  write_file_atomic(folder / "config.json", models::bloom_config_to_json(model.config()));
  log::info("exported {} ({}) to {}", format_bytes(bytes), dtype_name(dtype), folder.string());
}

}  // namespace xmtf::ckpt
