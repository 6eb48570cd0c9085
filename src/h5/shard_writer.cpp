#include "h5/shard_writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/text.hpp"
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

// HDF5 must never meet a full disk: once one of its writes fails (ENOSPC, EDQUOT), the file
// can no longer be closed ("slist already enabled?"), it stays in HDF5's ID table, and the
// library's own shutdown in MPI_Finalize then crashes closing it (the segfault after ENOSPC).
// So the blocks HDF5 is about to write are allocated beforehand, here, with fallocate
// (FALLOC_FL_KEEP_SIZE: the file's size is HDF5's business): a full disk or quota fails this
// call, cleanly, before HDF5 writes; HDF5 then only ever writes into allocated blocks. Where
// fallocate is unsupported, the free space is checked instead (no protection against quotas).
class SpaceAhead {
 public:
  // Besides what is about to be written: HDF5's metadata and the chunks its cache holds.
  static constexpr std::uint64_t kSlack = 1 << 20;

  // path: the file written; shown: the name errors give (the final one).
  SpaceAhead(fs::path path, fs::path shown) : path_(std::move(path)), shown_(std::move(shown)) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) fail("{}: cannot open: {}", path_.string(), errno_text(errno));
  }
  ~SpaceAhead() { ::close(fd_); }
  SpaceAhead(const SpaceAhead&) = delete;
  SpaceAhead& operator=(const SpaceAhead&) = delete;

  // Makes sure the file has blocks up to `size` + `more` + kSlack, size being HDF5's idea of it.
  void ensure(std::uint64_t size, std::uint64_t more) {
    std::uint64_t end = size + more + kSlack;
    if (end <= reserved_) return;
    std::uint64_t target = std::max(end, reserved_ + reserved_ / 4);  // grow by a quarter at least
    if (fallocate_works_) {
      if (::fallocate(fd_, FALLOC_FL_KEEP_SIZE, static_cast<off_t>(reserved_), static_cast<off_t>(target - reserved_)) == 0) {
        reserved_ = target;
        return;
      }
      if (errno != EOPNOTSUPP && errno != ENOSYS) no_space(target - reserved_, errno);
      fallocate_works_ = false;
    }
    std::error_code ec;
    fs::space_info space = fs::space(path_.parent_path(), ec);
    if (!ec && space.available < more + kSlack) no_space(more + kSlack, ENOSPC);
  }

  // Gives back the blocks reserved past the file's end once it is complete.
  void release_unused() {
    struct stat info {};
    if (!fallocate_works_ || ::fstat(fd_, &info) != 0) return;
    // Growing by a byte and shrinking back frees everything past the end on every file system.
    if (::ftruncate(fd_, info.st_size + 1) == 0 && ::ftruncate(fd_, info.st_size) != 0)
      fail("{}: cannot restore its size: {}", path_.string(), errno_text(errno));
  }

 private:
  [[noreturn]] void no_space(std::uint64_t bytes, int error) const {
    fail("{}: cannot allocate {} more on its file system: {}", shown_.string(), format_bytes(static_cast<double>(bytes)),
         errno_text(error));
  }

  fs::path path_;
  fs::path shown_;
  int fd_ = -1;
  std::uint64_t reserved_ = 0;
  bool fallocate_works_ = true;
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
  std::unique_ptr<TempFileLock> temp_lock;
  std::unique_ptr<SpaceAhead> space;
  ShardInfo info;
  std::int64_t chunk_tokens;
  Handle file, inputs_group, targets_group;
  std::unique_ptr<AppendableDataset> input_ids, target_ids;
  std::vector<std::int32_t> input_buffer, target_buffer;
  std::vector<std::int64_t> input_offsets{0}, target_offsets{0};
  bool committed = false;

  // Closes everything and removes the temporary file: the shard was not completed.
  void abandon() {
    input_ids.reset();
    target_ids.reset();
    inputs_group.reset();
    targets_group.reset();
    file.reset();  // closable: HDF5 never had a write fail (see SpaceAhead)
    space.reset();
    std::error_code ignored;
    fs::remove(temp_path, ignored);
    temp_lock.reset();
  }

  // Before HDF5 writes `bytes` of data: room for them, and for a partial chunk per dataset.
  void make_room(std::uint64_t bytes) {
    hsize_t size = 0;
    check_status(H5Fget_filesize(file.get(), &size), temp_path.string() + ": H5Fget_filesize");
    space->ensure(size, bytes + 4 * static_cast<std::uint64_t>(chunk_tokens) * sizeof(std::int32_t));
  }

  void flush() {
    make_room((input_buffer.size() + target_buffer.size()) * sizeof(std::int32_t));
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
  try {
    impl_->file = check(H5Fcreate(impl_->temp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), where + ": cannot create");
    impl_->temp_lock = std::make_unique<TempFileLock>(impl_->temp_path);
    impl_->space = std::make_unique<SpaceAhead>(impl_->temp_path, impl_->final_path);
    impl_->make_room(0);
    impl_->inputs_group = check(H5Gcreate2(impl_->file.get(), "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where);
    impl_->targets_group = check(H5Gcreate2(impl_->file.get(), "targets", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), where);
    impl_->input_ids = std::make_unique<AppendableDataset>(impl_->inputs_group.get(), "ids", H5T_STD_I32LE, H5T_NATIVE_INT32, chunk_tokens);
    impl_->target_ids = std::make_unique<AppendableDataset>(impl_->targets_group.get(), "ids", H5T_STD_I32LE, H5T_NATIVE_INT32, chunk_tokens);
  } catch (...) {
    impl_->abandon();  // no destructor runs for a constructor that threw
    throw;
  }
}

TokenizedShardWriter::~TokenizedShardWriter() {
  if (impl_ && !impl_->committed) impl_->abandon();
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
  w.make_room((w.input_offsets.size() + w.target_offsets.size()) * sizeof(std::int64_t));
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
  w.space->release_unused();
  fsync_file(w.temp_path);
  fs::rename(w.temp_path, w.final_path);
  w.committed = true;
  w.temp_lock.reset();
  fsync_directory(w.final_path.parent_path().empty() ? fs::path(".") : w.final_path.parent_path());
}

std::int64_t TokenizedShardWriter::n_samples() const { return static_cast<std::int64_t>(impl_->input_offsets.size()) - 1; }
std::int64_t TokenizedShardWriter::n_input_tokens() const { return impl_->input_offsets.back(); }
std::int64_t TokenizedShardWriter::n_target_tokens() const { return impl_->target_offsets.back(); }

}  // namespace xmtf::h5
