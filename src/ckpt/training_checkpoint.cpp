#include "ckpt/training_checkpoint.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <regex>

#include "ckpt/safetensors.hpp"
#include "ckpt/sharded_io.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "models/json_input.hpp"

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
    const std::span<const float> values = layout.view(buffer, spec.name);
    // A checkpoint is what a rerun resumes from: a NaN saved is a run lost.
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!std::isfinite(values[i])) fail("checkpoint: '{}{}' holds {} at element {}: not saved", prefix, spec.name, values[i], i);
    }
    writer.add_f32(prefix + spec.name, spec.global_shape, whole_tensor(spec, values));
  }
}

void read_buffer(const SafetensorsFile& file, const models::ParameterLayout& layout,
                 std::vector<float>& buffer, const std::string& prefix) {
  buffer.assign(layout.total_floats(), 0.0f);
  for (const models::TensorSpec& spec : layout.tensors()) {
    const std::string name = prefix + spec.name;
    if (!file.contains(name)) fail("{}: tensor '{}' is missing (checkpoint of another model?)", file.path().string(), name);
    if (file.info(name).shape != spec.global_shape) {
      fail("{}: tensor '{}' has shape [{}] but this model needs [{}]", file.path().string(), name,
           fmt::join(file.info(name).shape, ","), fmt::join(spec.global_shape, ","));
    }
    read_slice(file, name, spec, layout.view(buffer, spec.name));
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

namespace {
Json read_state(const fs::path& folder) {
  const fs::path state_path = folder / "state.json";
  if (!fs::exists(state_path)) fail("{}: not a checkpoint (no state.json)", folder.string());
  Json object;
  try {
    object = models::parse_json_strict(read_file(state_path), state_path.string());
  } catch (const Error& e) {
    fail("{} (the checkpoint is corrupt)", e.what());
  }
  if (!object.is_object() || object.value("format", "") != "xmtf-training-checkpoint") fail("{}: not an xmtf training checkpoint", state_path.string());
  return object;
}

void verify_files(const fs::path& folder, const Json& state, const std::vector<std::string>& files) {
  for (const std::string& file : files) {
    const fs::path path = folder / file;
    if (!fs::exists(path)) fail("{}: missing", path.string());
    const Json& sums = state.contains("sha256") && state["sha256"].is_object() ? state["sha256"] : Json::object();
    const std::string expected = sums.contains(file) && sums[file].is_string() ? sums[file].get<std::string>() : "";
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

namespace {

// step-NNNNNNNN folders under root (not step-N.tmp), newest first.
std::vector<std::pair<std::int64_t, fs::path>> step_folders(const fs::path& root) {
  static const std::regex pattern("step-([0-9]{8,18})");
  std::vector<std::pair<std::int64_t, fs::path>> folders;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && std::regex_match(name, match, pattern)) folders.emplace_back(std::stoll(match[1]), entry.path());
  }
  std::sort(folders.begin(), folders.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  return folders;
}

// Without `latest` (lost, or a copy that left it out): the newest step folder whose files all
// verify. Refuses when there are step folders but none is complete: starting over from random
// weights beside them would silently throw a run away.
std::optional<fs::path> newest_complete_checkpoint(const fs::path& root) {
  const auto folders = step_folders(root);
  if (folders.empty()) return std::nullopt;
  std::string newest_problem;
  for (const auto& [step, folder] : folders) {
    try {
      verify_checkpoint_files(folder, {"model.safetensors", "optimizer.safetensors", "config.json"});
      log::warn("{}: no `latest` file, but {} step folder(s): using {}, the newest complete checkpoint", root.string(),
                folders.size(), folder.filename().string());
      return folder;
    } catch (const Error& e) {
      log::warn("{}: not a complete checkpoint, skipped: {}", folder.string(), e.what());
      if (newest_problem.empty()) newest_problem = e.what();
    }
  }
  fail("{}: no `latest` file and none of its {} step folders is a complete checkpoint (newest: {}); move them "
       "away or use another checkpoint folder", root.string(), folders.size(), newest_problem);
}

}  // namespace

std::optional<fs::path> latest_checkpoint(const fs::path& root) {
  const fs::path pointer = root / "latest";
  if (!fs::exists(pointer)) return newest_complete_checkpoint(root);
  const std::string name(trim(read_file(pointer)));
  const fs::path folder = root / name;
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == ".." || !fs::is_directory(folder)) {
    fail("{}: points to '{}', which is not a checkpoint folder", pointer.string(), name);
  }
  return folder;
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
  state.step = models::json_integer(object.contains("step") ? object["step"] : Json(), (folder / "state.json").string() + ": 'step'", 0, INT64_MAX);
  if (!object.contains("trainer") || !object["trainer"].is_object()) fail("{}: no trainer state", (folder / "state.json").string());
  state.config_json = read_file(folder / "config.json");
  state.trainer_json = object.at("trainer").dump();
  log::info("loaded checkpoint {} (step {})", folder.string(), state.step);
  return state;
}

}  // namespace xmtf::ckpt
