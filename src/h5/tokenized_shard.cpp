#include "h5/tokenized_shard.hpp"

#include "core/error.hpp"
#include "h5/hdf5.hpp"

namespace xmtf::h5 {

namespace {

Handle open_shard_file(const std::filesystem::path& path) {
  quiet_hdf5_errors();
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) fail("{}: no such file", path.string());
  htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 <= 0) {
    last_hdf5_error();
    fail("{}: not an HDF5 file (no HDF5 signature); expected a tokenized shard written by xmtf-tokenize", path.string());
  }
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) fail("{}: corrupt HDF5 file, cannot open it: {}", path.string(), last_hdf5_error());
  return Handle(file);
}

ShardInfo read_info(hid_t file) {
  ShardInfo info;
  info.format = read_string_attribute(file, "format");
  if (info.format != kTokenizedShardFormat)
    fail("not a tokenized shard: attribute 'format' is {:?}, expected {:?}", info.format, kTokenizedShardFormat);
  info.format_version = read_int64_attribute(file, "format_version");
  if (info.format_version < 1 || info.format_version > kTokenizedShardVersion)
    fail("tokenized shard format version {} is not supported (this build reads 1..{})", info.format_version,
         kTokenizedShardVersion);
  info.tokenizer_name = read_string_attribute(file, "tokenizer_name");
  info.tokenizer_sha256 = read_string_attribute(file, "tokenizer_sha256");
  info.language = read_string_attribute(file, "language");
  info.source_sha256 = read_string_attribute(file, "source_sha256");
  info.n_samples = read_int64_attribute(file, "n_samples");
  if (H5Aexists(file, "options") > 0) info.options = read_string_attribute(file, "options");
  if (info.n_samples < 0) fail("attribute 'n_samples' is negative ({})", info.n_samples);
  return info;
}

// Opens the 1-D integer dataset at name and returns it with its length.
Handle open_vector(hid_t file, const char* group, const char* name, hsize_t& length) {
  std::string full = std::string(group) + "/" + name;
  if (!link_exists(file, group) || !link_exists(file, full.c_str())) fail("dataset /{} is missing", full);
  Handle dataset = check(H5Dopen2(file, full.c_str(), H5P_DEFAULT), "opening /" + full);
  Handle type = check(H5Dget_type(dataset.get()), "H5Dget_type");
  if (H5Tget_class(type.get()) != H5T_INTEGER) fail("dataset /{} is not an integer array", full);
  Handle space = check(H5Dget_space(dataset.get()), "H5Dget_space");
  if (H5Sget_simple_extent_ndims(space.get()) != 1) fail("dataset /{} is not 1-D", full);
  H5Sget_simple_extent_dims(space.get(), &length, nullptr);
  return dataset;
}

}  // namespace

struct TokenizedShardReader::Impl {
  std::filesystem::path path;
  ShardInfo info;
  Handle file;
  Handle input_ids, target_ids;
  std::vector<std::int64_t> input_offsets, target_offsets;

  void load_offsets(const char* group, Handle& ids, std::vector<std::int64_t>& offsets) {
    hsize_t n_ids = 0, n_offsets = 0;
    ids = open_vector(file.get(), group, "ids", n_ids);
    Handle dataset = open_vector(file.get(), group, "offsets", n_offsets);
    if (n_offsets != static_cast<hsize_t>(info.n_samples) + 1)
      fail("/{}/offsets has {} entries, expected n_samples + 1 = {}", group, n_offsets, info.n_samples + 1);
    offsets.resize(n_offsets);
    check_status(H5Dread(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, offsets.data()),
                 std::string("reading /") + group + "/offsets");
    if (offsets.front() != 0) fail("/{}/offsets does not start at 0", group);
    for (std::size_t i = 1; i < offsets.size(); ++i)
      if (offsets[i] < offsets[i - 1]) fail("/{}/offsets decreases at sample {}", group, i - 1);
    if (offsets.back() != static_cast<std::int64_t>(n_ids))
      fail("/{}/offsets ends at {} but /{}/ids holds {} ids", group, offsets.back(), group, n_ids);
  }

  void read_ids(const Handle& dataset, const std::vector<std::int64_t>& offsets, std::int64_t sample,
                std::vector<std::int32_t>& out) const {
    if (sample < 0 || sample >= info.n_samples)
      fail("{}: sample {} out of range (n_samples {})", path.string(), sample, info.n_samples);
    hsize_t start = static_cast<hsize_t>(offsets[sample]);
    hsize_t count = static_cast<hsize_t>(offsets[sample + 1] - offsets[sample]);
    out.resize(count);
    if (count == 0) return;
    Handle file_space = check(H5Dget_space(dataset.get()), "H5Dget_space");
    check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr), "select");
    Handle memory_space = check(H5Screate_simple(1, &count, nullptr), "H5Screate_simple");
    herr_t status = H5Dread(dataset.get(), H5T_NATIVE_INT32, memory_space.get(), file_space.get(), H5P_DEFAULT, out.data());
    if (status < 0) fail("{}: reading sample {} failed (corrupt file?): {}", path.string(), sample, last_hdf5_error());
  }
};

TokenizedShardReader::TokenizedShardReader(const std::filesystem::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->file = open_shard_file(path);
  try {
    impl_->info = read_info(impl_->file.get());
    impl_->load_offsets("inputs", impl_->input_ids, impl_->input_offsets);
    impl_->load_offsets("targets", impl_->target_ids, impl_->target_offsets);
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

TokenizedShardReader::~TokenizedShardReader() = default;
TokenizedShardReader::TokenizedShardReader(TokenizedShardReader&&) noexcept = default;
TokenizedShardReader& TokenizedShardReader::operator=(TokenizedShardReader&&) noexcept = default;

const std::filesystem::path& TokenizedShardReader::path() const { return impl_->path; }
const ShardInfo& TokenizedShardReader::info() const { return impl_->info; }
std::int64_t TokenizedShardReader::n_samples() const { return impl_->info.n_samples; }

std::int64_t TokenizedShardReader::input_length(std::int64_t sample) const {
  if (sample < 0 || sample >= n_samples()) fail("{}: sample {} out of range", impl_->path.string(), sample);
  return impl_->input_offsets[sample + 1] - impl_->input_offsets[sample];
}
std::int64_t TokenizedShardReader::target_length(std::int64_t sample) const {
  if (sample < 0 || sample >= n_samples()) fail("{}: sample {} out of range", impl_->path.string(), sample);
  return impl_->target_offsets[sample + 1] - impl_->target_offsets[sample];
}
std::int64_t TokenizedShardReader::n_input_tokens() const { return impl_->input_offsets.back(); }
std::int64_t TokenizedShardReader::n_target_tokens() const { return impl_->target_offsets.back(); }

std::vector<std::int32_t> TokenizedShardReader::input_ids(std::int64_t sample) const {
  std::vector<std::int32_t> ids;
  impl_->read_ids(impl_->input_ids, impl_->input_offsets, sample, ids);
  return ids;
}
std::vector<std::int32_t> TokenizedShardReader::target_ids(std::int64_t sample) const {
  std::vector<std::int32_t> ids;
  impl_->read_ids(impl_->target_ids, impl_->target_offsets, sample, ids);
  return ids;
}
void TokenizedShardReader::read_sample(std::int64_t sample, std::vector<std::int32_t>& input_ids,
                                       std::vector<std::int32_t>& target_ids) const {
  impl_->read_ids(impl_->input_ids, impl_->input_offsets, sample, input_ids);
  impl_->read_ids(impl_->target_ids, impl_->target_offsets, sample, target_ids);
}

ShardInfo read_shard_info(const std::filesystem::path& path) {
  Handle file = open_shard_file(path);
  try {
    return read_info(file.get());
  } catch (const Error& e) {
    fail("{}: {}", path.string(), e.what());
  }
}

}  // namespace xmtf::h5
