#pragma once
// The safetensors format, read and written by us: 8-byte little-endian header length N, N bytes
// of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {str: str}}, then the raw little-endian tensor bytes (offsets relative to the
// end of the header). Reading memory-maps the file; tensors are converted to fp32 on request.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace xmtf::ckpt {

enum class DType { f32, f16, bf16, f64, i32, i64, u8 };

const char* dtype_name(DType dtype);  // "F32", "BF16", ...
DType parse_dtype(const std::string& name, const std::string& context);
std::size_t dtype_size(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets into the data section
  std::uint64_t end = 0;
  std::int64_t numel() const;
};

// A memory-mapped safetensors file. Validates the header (offsets inside the file, sizes that
// match dtype x shape) and throws xmtf::Error naming the file and tensor otherwise.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const;
  std::span<const std::uint8_t> bytes(const std::string& name) const;

  // Converts any floating dtype (F32/F16/BF16/F64) into out (numel floats).
  void read_f32(const std::string& name, std::span<float> out) const;
  // out.size() elements from element `first` on (row-major order), converted likewise.
  void read_f32(const std::string& name, std::span<float> out, std::uint64_t first) const;
  std::vector<float> read_f32(const std::string& name) const;
  std::vector<std::int32_t> read_i32(const std::string& name) const;  // from I32 or I64

 private:
  void parse_header();

  std::filesystem::path path_;
  const std::uint8_t* map_ = nullptr;
  std::size_t map_size_ = 0;
  const std::uint8_t* data_ = nullptr;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors, then writes one file atomically (temp, fsync, rename). Floating tensors
// given as fp32 are stored in `dtype` (F32, F16 or BF16, round to nearest even). F32 and I32
// data are NOT copied: the caller's buffers must stay alive and unchanged until write(), so a
// multi-GB checkpoint streams from the training buffers without a second copy in memory.
class SafetensorsWriter {
 public:
  void add_f32(const std::string& name, std::vector<std::int64_t> shape, std::span<const float> data,
               DType stored_as = DType::f32);
  void add_i32(const std::string& name, std::vector<std::int64_t> shape,
               std::span<const std::int32_t> data);
  void add_raw(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
               std::span<const std::uint8_t> bytes);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  std::uint64_t data_bytes() const { return data_size_; }
  // Writes the file; returns its total size in bytes.
  std::uint64_t write(const std::filesystem::path& path) const;

 private:
  struct Entry {
    TensorInfo info;
    std::span<const std::uint8_t> bytes;  // into owned or the caller's buffer
    std::vector<std::uint8_t> owned;
  };
  void add_entry(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                 std::span<const std::uint8_t> bytes, std::vector<std::uint8_t> owned);

  std::vector<std::unique_ptr<Entry>> entries_;
  std::uint64_t data_size_ = 0;
  std::map<std::string, std::string> metadata_;
};

std::uint16_t f32_to_bf16(float value);
std::uint16_t f32_to_f16(float value);
float bf16_to_f32(std::uint16_t bits);
float f16_to_f32(std::uint16_t bits);

// A (possibly sharded) set of safetensors files seen as one tensor namespace: a single file, a
// folder holding model.safetensors, or a folder with model.safetensors.index.json whose
// weight_map names the shard of each tensor.
class SafetensorsCollection {
 public:
  explicit SafetensorsCollection(const std::filesystem::path& file_or_folder);
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  const SafetensorsFile& file_of(const std::string& name) const;

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::size_t> file_index_;
};

}  // namespace xmtf::ckpt
