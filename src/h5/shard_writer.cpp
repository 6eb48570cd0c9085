#include "h5/shard_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <vector>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "h5/hdf5.hpp"

namespace xmtf::h5 {

namespace {

// An extendible 1-D dataset appended to in chunks.
class AppendableDataset {
 public:
  AppendableDataset(hid_t group, const char* name, hid_t file_type, hid_t memory_type, std::int64_t chunk)
      : memory_type_(memory_type), name_(name) {
    hsize_t initial = 0, unlimited = H5S_UNLIMITED, chunk_size = static_cast<hsize_t>(chunk);
    Handle space = check(H5Screate_simple(1, &initial, &unlimited), "H5Screate_simple");
    Handle properties = check(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
    check_status(H5Pset_chunk(properties.get(), 1, &chunk_size), "H5Pset_chunk");
    dataset_ = check(H5Dcreate2(group, name, file_type, space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT),
                     std::string("creating dataset ") + name);
  }

  void append(const void* data, std::int64_t count) {
    if (count == 0) return;
    hsize_t start = size_, n = static_cast<hsize_t>(count), new_size = size_ + n;
    check_status(H5Dset_extent(dataset_.get(), &new_size), "extending " + name_);
    Handle file_space = check(H5Dget_space(dataset_.get()), "H5Dget_space");
    check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr), "selecting");
    Handle memory_space = check(H5Screate_simple(1, &n, nullptr), "H5Screate_simple");
    check_status(H5Dwrite(dataset_.get(), memory_type_, memory_space.get(), file_space.get(), H5P_DEFAULT, data),
                 "writing " + name_);
    size_ = new_size;
  }
  void close() { dataset_.reset(); }

 private:
  Handle dataset_;
  hid_t memory_type_;
  std::string name_;
  hsize_t size_ = 0;
};

void fsync_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) fail("{}: cannot open for fsync: {}", path.string(), errno_text(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) fail("{}: fsync failed: {}", path.string(), errno_text(errno));
}

}  // namespace

struct TokenizedShardWriter::Impl {
  fs::path final_path;
  fs::path temp_path;
  ShardInfo info;
  std::int64_t chunk_tokens;
  Handle file, inputs_group, targets_group;
  std::unique_ptr<AppendableDataset> input_ids, target_ids;
  std::vector<std::int32_t> input_buffer, target_buffer;
  std::vector<std::int64_t> input_offsets{0}, target_offsets{0};
  bool committed = false;

  void flush() {
    input_ids->append(input_buffer.data(), static_cast<std::int64_t>(input_buffer.size()));
    target_ids->append(target_buffer.data(), static_cast<std::int64_t>(target_buffer.size()));
    input_buffer.clear();
    target_buffer.clear();
  }

  void write_offsets(hid_t group, const std::vector<std::int64_t>& offsets) {
    AppendableDataset dataset(group, "offsets", H5T_STD_I64LE, H5T_NATIVE_INT64,
                              std::min<std::int64_t>(static_cast<std::int64_t>(offsets.size()), 1 << 16));
    dataset.append(offsets.data(), static_cast<std::int64_t>(offsets.size()));
  }
};

TokenizedShardWriter::TokenizedShardWriter(fs::path final_path, ShardInfo info, std::int64_t chunk_tokens)
    : impl_(std::make_unique<Impl>()) {
  quiet_hdf5_errors();
  impl_->final_path = std::move(final_path);
  impl_->temp_path = temp_path_beside(impl_->final_path);
  impl_->info = std::move(info);
  impl_->chunk_tokens = chunk_tokens;
  const std::string where = impl_->temp_path.string();
  impl_->file = check(H5Fcreate(impl_->temp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), where + ": cannot create");
  impl_->inputs_group = check(H5Gcreate2(impl_->file.get(), "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where);
  impl_->targets_group = check(H5Gcreate2(impl_->file.get(), "targets", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where);
  impl_->input_ids = std::make_unique<AppendableDataset>(impl_->inputs_group.get(), "ids", H5T_STD_I32LE, H5T_NATIVE_INT32, chunk_tokens);
  impl_->target_ids = std::make_unique<AppendableDataset>(impl_->targets_group.get(), "ids", H5T_STD_I32LE, H5T_NATIVE_INT32, chunk_tokens);
}

TokenizedShardWriter::~TokenizedShardWriter() {
  if (impl_ && !impl_->committed) {
    impl_->input_ids.reset();
    impl_->target_ids.reset();
    impl_->inputs_group.reset();
    impl_->targets_group.reset();
    impl_->file.reset();
    std::error_code ignored;
    fs::remove(impl_->temp_path, ignored);
  }
}

void TokenizedShardWriter::append(std::span<const std::int32_t> input_ids, std::span<const std::int32_t> target_ids) {
  Impl& w = *impl_;
  w.input_buffer.insert(w.input_buffer.end(), input_ids.begin(), input_ids.end());
  w.target_buffer.insert(w.target_buffer.end(), target_ids.begin(), target_ids.end());
  w.input_offsets.push_back(w.input_offsets.back() + static_cast<std::int64_t>(input_ids.size()));
  w.target_offsets.push_back(w.target_offsets.back() + static_cast<std::int64_t>(target_ids.size()));
  if (static_cast<std::int64_t>(w.input_buffer.size() + w.target_buffer.size()) >= 4 * w.chunk_tokens) w.flush();
}

void TokenizedShardWriter::commit() {
  Impl& w = *impl_;
  w.flush();
  w.input_ids->close();
  w.target_ids->close();
  w.write_offsets(w.inputs_group.get(), w.input_offsets);
  w.write_offsets(w.targets_group.get(), w.target_offsets);
  hid_t root = w.file.get();
  write_string_attribute(root, "format", w.info.format);
  write_int64_attribute(root, "format_version", w.info.format_version);
  write_string_attribute(root, "tokenizer_name", w.info.tokenizer_name);
  write_string_attribute(root, "tokenizer_sha256", w.info.tokenizer_sha256);
  write_string_attribute(root, "language", w.info.language);
  write_string_attribute(root, "source_sha256", w.info.source_sha256);
  write_int64_attribute(root, "n_samples", n_samples());
  if (!w.info.options.empty()) write_string_attribute(root, "options", w.info.options);
  w.inputs_group.reset();
  w.targets_group.reset();
  check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), w.temp_path.string() + ": flush");
  w.file.reset();
  fsync_file(w.temp_path);
  fs::rename(w.temp_path, w.final_path);
  fsync_directory(w.final_path.parent_path().empty() ? fs::path(".") : w.final_path.parent_path());
  w.committed = true;
}

std::int64_t TokenizedShardWriter::n_samples() const { return static_cast<std::int64_t>(impl_->input_offsets.size()) - 1; }
std::int64_t TokenizedShardWriter::n_input_tokens() const { return impl_->input_offsets.back(); }
std::int64_t TokenizedShardWriter::n_target_tokens() const { return impl_->target_offsets.back(); }

}  // namespace xmtf::h5
