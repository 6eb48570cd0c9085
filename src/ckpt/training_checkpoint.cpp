#include "ckpt/training_checkpoint.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "ckpt/safetensors.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"

namespace xmtf::ckpt {

using Json = nlohmann::json;

std::string checkpoint_folder_name(std::int64_t step) { return fmt::format("step-{:08d}", step); }

namespace {

void add_buffer(SafetensorsWriter& writer, const models::ParameterLayout& layout,
                const std::vector<float>& buffer, const std::string& prefix) {
  if (static_cast<std::int64_t>(buffer.size()) != layout.total_floats()) {
    fail("checkpoint: buffer '{}' does not match the parameter layout", prefix);
  }
  for (const models::TensorSpec& spec : layout.tensors()) {
    writer.add_f32(prefix + spec.name, spec.shape, layout.view(buffer, spec.name));
  }
}

void read_buffer(const SafetensorsFile& file, const models::ParameterLayout& layout,
                 std::vector<float>& buffer, const std::string& prefix) {
  buffer.assign(layout.total_floats(), 0.0f);
  for (const models::TensorSpec& spec : layout.tensors()) {
    const std::string name = prefix + spec.name;
    if (!file.contains(name)) fail("{}: tensor '{}' is missing (checkpoint of another model?)", file.path().string(), name);
    if (file.info(name).shape != spec.shape) {
      fail("{}: tensor '{}' has shape [{}] but this model needs [{}]", file.path().string(), name,
           fmt::join(file.info(name).shape, ","), fmt::join(spec.shape, ","));
    }
    file.read_f32(name, layout.view(buffer, spec.name));
  }
}

}  // namespace

fs::path save_training_checkpoint(const fs::path& root, const models::ParameterLayout& layout,
                                  const TrainingBuffers& buffers, const TrainingState& state) {
  const std::string name = checkpoint_folder_name(state.step);
  const fs::path final_folder = root / name;
  const fs::path temp_folder = root / (name + ".tmp");
  fs::create_directories(root);
  fs::remove_all(temp_folder);
  fs::create_directories(temp_folder);

  SafetensorsWriter model_writer;
  model_writer.set_metadata("format", "pt");
  add_buffer(model_writer, layout, *buffers.params, "");
  model_writer.write(temp_folder / "model.safetensors");
  SafetensorsWriter optimizer_writer;
  add_buffer(optimizer_writer, layout, *buffers.exp_avg, "exp_avg.");
  add_buffer(optimizer_writer, layout, *buffers.exp_avg_sq, "exp_avg_sq.");
  optimizer_writer.write(temp_folder / "optimizer.safetensors");
  write_file_atomic(temp_folder / "config.json", state.config_json);

  Json object;
  object["format"] = "xmtf-training-checkpoint";
  object["format_version"] = 1;
  object["step"] = state.step;
  object["trainer"] = Json::parse(state.trainer_json.empty() ? "{}" : state.trainer_json);
  for (const char* file : {"model.safetensors", "optimizer.safetensors", "config.json"}) {
    object["sha256"][file] = sha256_file(temp_folder / file);
  }
  write_file_atomic(temp_folder / "state.json", object.dump(2) + "\n");
  fsync_directory(temp_folder);

  if (fs::exists(final_folder)) fs::remove_all(final_folder);  // a rerun of the same step
  fs::rename(temp_folder, final_folder);
  fsync_directory(root);
  write_file_atomic(root / "latest", name + "\n");
  log::info("saved checkpoint {}", final_folder.string());
  return final_folder;
}

std::optional<fs::path> latest_checkpoint(const fs::path& root) {
  const fs::path pointer = root / "latest";
  if (!fs::exists(pointer)) return std::nullopt;
  const std::string name(trim(read_file(pointer)));
  const fs::path folder = root / name;
  if (name.empty() || !fs::is_directory(folder)) {
    fail("{}: points to '{}', which is not a checkpoint folder", pointer.string(), name);
  }
  return folder;
}

namespace {
Json read_state(const fs::path& folder) {
  const fs::path state_path = folder / "state.json";
  if (!fs::exists(state_path)) fail("{}: not a checkpoint (no state.json)", folder.string());
  Json object;
  try {
    object = Json::parse(read_file(state_path));
  } catch (const Json::parse_error& e) {
    fail("{}: corrupt: {}", state_path.string(), e.what());
  }
  if (object.value("format", "") != "xmtf-training-checkpoint") fail("{}: not an xmtf training checkpoint", state_path.string());
  return object;
}

void verify_files(const fs::path& folder, const Json& state, const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    const fs::path path = folder / file;
    if (!fs::exists(path)) fail("{}: missing", path.string());
    const std::string expected = state["sha256"].value(file, "");
    const std::string actual = sha256_file(path);
    if (actual != expected) {
      fail("{}: checksum mismatch (sha256 {} but state.json records {}): the checkpoint is corrupt", path.string(), actual, expected);
    }
  }
}
}  // namespace

bool is_training_checkpoint(const fs::path& folder) { return fs::exists(folder / "state.json"); }

void verify_checkpoint_files(const fs::path& folder, const std::vector<std::string>& files) {
  verify_files(folder, read_state(folder), files);
}

TrainingState load_training_checkpoint(const fs::path& folder, const models::ParameterLayout& layout,
                                       const TrainingBuffers& buffers) {
  const Json object = read_state(folder);
  verify_files(folder, object, {"model.safetensors", "optimizer.safetensors", "config.json"});
  read_buffer(SafetensorsFile(folder / "model.safetensors"), layout, *buffers.params, "");
  SafetensorsFile optimizer(folder / "optimizer.safetensors");
  read_buffer(optimizer, layout, *buffers.exp_avg, "exp_avg.");
  read_buffer(optimizer, layout, *buffers.exp_avg_sq, "exp_avg_sq.");
  TrainingState state;
  state.step = object.at("step").get<std::int64_t>();
  state.config_json = read_file(folder / "config.json");
  state.trainer_json = object.at("trainer").dump();
  log::info("loaded checkpoint {} (step {})", folder.string(), state.step);
  return state;
}

}  // namespace xmtf::ckpt
