#include "ckpt/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "models/json_input.hpp"

namespace xmtf::ckpt {

using Json = nlohmann::json;

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

DType parse_dtype(const std::string& name, const std::string& context) {
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::i64, DType::u8}) {
    if (name == dtype_name(d)) return d;
  }
  fail("{}: unsupported dtype '{}' (supported: F32 F16 BF16 F64 I32 I64 U8)", context, name);
}

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: return 2;
    case DType::f64: case DType::i64: return 8;
    case DType::u8: return 1;
  }
  return 0;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::uint16_t f32_to_bf16(float value) {
  std::uint32_t bits = std::bit_cast<std::uint32_t>(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest even
  return static_cast<std::uint16_t>(bits >> 16);
}

float bf16_to_f32(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

std::uint16_t f32_to_f16(float value) {
  return std::bit_cast<std::uint16_t>(static_cast<_Float16>(value));
}

float f16_to_f32(std::uint16_t bits) {
  return static_cast<float>(std::bit_cast<_Float16>(bits));
}

SafetensorsFile::SafetensorsFile(const fs::path& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path.string(), errno_text(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail("{}: cannot stat: {}", path.string(), errno_text(errno));
  }
  map_size_ = static_cast<std::size_t>(st.st_size);
  if (map_size_ < 8) {
    ::close(fd);
    fail("{}: {} bytes is too short for a safetensors file", path.string(), map_size_);
  }
  void* mapped = ::mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (mapped == MAP_FAILED) fail("{}: mmap failed: {}", path.string(), errno_text(errno));
  map_ = static_cast<const std::uint8_t*>(mapped);
  try {
    parse_header();
  } catch (...) {
    ::munmap(mapped, map_size_);
    map_ = nullptr;
    throw;
  }
}

void SafetensorsFile::parse_header() {
  const fs::path& path = path_;

  std::uint64_t header_size = 0;
  std::memcpy(&header_size, map_, 8);  // little-endian host (x86-64, aarch64)
  if (header_size > map_size_ - 8) {
    fail("{}: header length {} exceeds the file size {} (truncated or not safetensors)",
         path.string(), header_size, map_size_);
  }
  data_ = map_ + 8 + header_size;
  const std::uint64_t data_size = map_size_ - 8 - header_size;
  const Json header = models::parse_json_strict(
      std::string_view(reinterpret_cast<const char*>(map_ + 8), header_size), path.string() + ": header");
  if (!header.is_object()) fail("{}: header is not a JSON object", path.string());
  try {
    for (auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        for (auto& [key, text] : value.items()) metadata_[key] = text.is_string() ? text.get<std::string>() : text.dump();
        continue;
      }
      const std::string where = fmt::format("{}: tensor '{}'", path.string(), name);
      TensorInfo info;
      info.name = name;
      info.dtype = parse_dtype(value.at("dtype").get<std::string>(), where);
      // Every dimension, and their product in bytes, must fit the file: a hostile shape must
      // not overflow the size check below.
      std::uint64_t bytes = dtype_size(info.dtype);
      for (const Json& dim : value.at("shape")) {
        const std::int64_t extent = models::json_integer(dim, where + " shape", 0, static_cast<std::int64_t>(data_size));
        info.shape.push_back(extent);
        bytes = extent == 0 || bytes <= data_size / static_cast<std::uint64_t>(extent) ? bytes * static_cast<std::uint64_t>(extent)
                                                                                      : data_size + 1;
      }
      const auto offsets = value.at("data_offsets").get<std::vector<std::uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size) {
        fail("{}: tensor '{}' has data_offsets outside the data section ({} bytes)", path.string(), name, data_size);
      }
      info.begin = offsets[0];
      info.end = offsets[1];
      if (bytes != info.end - info.begin) {
        fail("{}: tensor '{}' has {} bytes but {} x shape needs {}", path.string(), name,
             info.end - info.begin, dtype_name(info.dtype), bytes > data_size ? "more than the file" : std::to_string(bytes));
      }
      tensors_.emplace(name, std::move(info));
    }
  } catch (const Json::exception& e) {
    fail("{}: malformed header: {}", path.string(), e.what());
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(const_cast<std::uint8_t*>(map_), map_size_);
  map_ = nullptr;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) fail("{}: no tensor named '{}'", path_.string(), name);
  return it->second;
}

std::span<const std::uint8_t> SafetensorsFile::bytes(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {data_ + t.begin, static_cast<std::size_t>(t.end - t.begin)};
}

void SafetensorsFile::read_f32(const std::string& name, std::span<float> out) const {
  const TensorInfo& t = info(name);
  const auto n = static_cast<std::size_t>(t.numel());
  if (out.size() != n) fail("{}: tensor '{}' has {} elements, expected {}", path_.string(), name, n, out.size());
  read_f32(name, out, 0);
}

void SafetensorsFile::read_f32(const std::string& name, std::span<float> out, std::uint64_t first) const {
  const TensorInfo& t = info(name);
  const auto n = out.size();
  if (first + n > static_cast<std::uint64_t>(t.numel()))
    fail("{}: tensor '{}' has {} elements, elements [{}, {}) asked for", path_.string(), name, t.numel(), first, first + n);
  const std::uint8_t* src = data_ + t.begin + first * dtype_size(t.dtype);
  for (std::size_t i = 0; i < n; ++i) {
    switch (t.dtype) {
      case DType::f32: { float v; std::memcpy(&v, src + 4 * i, 4); out[i] = v; break; }
      case DType::f64: { double v; std::memcpy(&v, src + 8 * i, 8); out[i] = static_cast<float>(v); break; }
      case DType::bf16: { std::uint16_t v; std::memcpy(&v, src + 2 * i, 2); out[i] = bf16_to_f32(v); break; }
      case DType::f16: { std::uint16_t v; std::memcpy(&v, src + 2 * i, 2); out[i] = f16_to_f32(v); break; }
      default: fail("{}: tensor '{}' is {}, not a floating type", path_.string(), name, dtype_name(t.dtype));
    }
  }
}

std::vector<float> SafetensorsFile::read_f32(const std::string& name) const {
  std::vector<float> out(static_cast<std::size_t>(info(name).numel()));
  read_f32(name, out);
  return out;
}

std::vector<std::int32_t> SafetensorsFile::read_i32(const std::string& name) const {
  const TensorInfo& t = info(name);
  std::vector<std::int32_t> out(static_cast<std::size_t>(t.numel()));
  const std::uint8_t* src = data_ + t.begin;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (t.dtype == DType::i32) {
      std::memcpy(&out[i], src + 4 * i, 4);
    } else if (t.dtype == DType::i64) {
      std::int64_t v;
      std::memcpy(&v, src + 8 * i, 8);
      out[i] = static_cast<std::int32_t>(v);
    } else {
      fail("{}: tensor '{}' is {}, not I32/I64", path_.string(), name, dtype_name(t.dtype));
    }
  }
  return out;
}

void SafetensorsWriter::add_entry(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                                  std::span<const std::uint8_t> bytes, std::vector<std::uint8_t> owned) {
  auto entry = std::make_unique<Entry>();
  entry->info.name = name;
  entry->info.dtype = dtype;
  entry->info.shape = std::move(shape);
  if (static_cast<std::uint64_t>(entry->info.numel()) * dtype_size(dtype) != bytes.size()) {
    fail("safetensors writer: tensor '{}' shape and byte count disagree", name);
  }
  entry->owned = std::move(owned);
  entry->bytes = entry->owned.empty() ? bytes : std::span<const std::uint8_t>(entry->owned);
  entry->info.begin = data_size_;
  data_size_ += bytes.size();
  entry->info.end = data_size_;
  entries_.push_back(std::move(entry));
}

void SafetensorsWriter::add_raw(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                                std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
  const std::span<const std::uint8_t> view(copy);
  add_entry(name, dtype, std::move(shape), view, std::move(copy));
}

void SafetensorsWriter::add_f32(const std::string& name, std::vector<std::int64_t> shape,
                                std::span<const float> data, DType stored_as) {
  if (stored_as == DType::f32) {
    add_entry(name, DType::f32, std::move(shape),
              {reinterpret_cast<const std::uint8_t*>(data.data()), data.size() * 4}, {});
    return;
  }
  if (stored_as != DType::bf16 && stored_as != DType::f16) {
    fail("safetensors writer: cannot store '{}' as {}", name, dtype_name(stored_as));
  }
  std::vector<std::uint8_t> bytes(data.size() * 2);
  for (std::size_t i = 0; i < data.size(); ++i) {
    const std::uint16_t v = stored_as == DType::bf16 ? f32_to_bf16(data[i]) : f32_to_f16(data[i]);
    std::memcpy(bytes.data() + 2 * i, &v, 2);
  }
  const std::span<const std::uint8_t> view(bytes);
  add_entry(name, stored_as, std::move(shape), view, std::move(bytes));
}

void SafetensorsWriter::add_i32(const std::string& name, std::vector<std::int64_t> shape,
                                std::span<const std::int32_t> data) {
  add_entry(name, DType::i32, std::move(shape),
            {reinterpret_cast<const std::uint8_t*>(data.data()), data.size() * 4}, {});
}

std::uint64_t SafetensorsWriter::write(const fs::path& path) const {
  Json header = Json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  for (const auto& entry : entries_) {
    const TensorInfo& t = entry->info;
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string text = header.dump();
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // data section 8-byte aligned
  const std::uint64_t header_size = text.size();
  AtomicFile file(path);
  file.write(std::string_view(reinterpret_cast<const char*>(&header_size), 8));
  file.write(text);
  for (const auto& entry : entries_) {
    file.write(std::string_view(reinterpret_cast<const char*>(entry->bytes.data()), entry->bytes.size()));
  }
  const std::uint64_t total = file.bytes_written();
  file.commit();
  return total;
}

SafetensorsCollection::SafetensorsCollection(const fs::path& file_or_folder) {
  std::vector<fs::path> paths;
  std::map<std::string, std::string> weight_map;
  if (fs::is_directory(file_or_folder)) {
    const fs::path index = file_or_folder / "model.safetensors.index.json";
    const fs::path single = file_or_folder / "model.safetensors";
    if (fs::exists(single)) {
      paths.push_back(single);
    } else if (fs::exists(index)) {
      const Json object = models::parse_json_strict(read_file(index), index.string());
      try {
        weight_map = object.at("weight_map").get<std::map<std::string, std::string>>();
      } catch (const Json::exception& e) {
        fail("{}: not a valid safetensors index: {}", index.string(), e.what());
      }
      std::map<std::string, bool> seen;
      for (const auto& [name, file] : weight_map) {
        // The index may come from the hub: its file names are data, never paths.
        if (file.empty() || file == "." || file == ".." || file.find_first_of("/\\") != std::string::npos)
          fail("{}: tensor '{}' is mapped to '{}', which is not a file name in this folder", index.string(), name, file);
        if (!seen[file]) paths.push_back(file_or_folder / file);
        seen[file] = true;
      }
    } else {
      fail("{}: neither model.safetensors nor model.safetensors.index.json found", file_or_folder.string());
    }
  } else {
    paths.push_back(file_or_folder);
  }
  for (const fs::path& path : paths) {
    files_.push_back(std::make_unique<SafetensorsFile>(path));
    for (const auto& [name, info] : files_.back()->tensors()) {
      if (!file_index_.emplace(name, files_.size() - 1).second) {
        fail("{}: tensor '{}' appears in two shards", path.string(), name);
      }
    }
  }
  for (const auto& [name, file] : weight_map) {
    if (!file_index_.count(name)) fail("{}: index names tensor '{}' that {} lacks", file_or_folder.string(), name, file);
  }
}

std::vector<std::string> SafetensorsCollection::names() const {
  std::vector<std::string> out;
  for (const auto& [name, index] : file_index_) out.push_back(name);
  return out;
}

bool SafetensorsCollection::contains(const std::string& name) const { return file_index_.count(name) != 0; }

const SafetensorsFile& SafetensorsCollection::file_of(const std::string& name) const {
  auto it = file_index_.find(name);
  if (it == file_index_.end()) fail("no tensor named '{}' in the checkpoint", name);
  return *files_[it->second];
}

}  // namespace xmtf::ckpt
