#include "train/h5_source.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "h5/hdf5.hpp"
#include "h5/tokenized_shard.hpp"

namespace xmtf::train {

namespace {

// Position of the first id of /<group>/ids outside [0, vocab_size), or -1. Reads the dataset in
// blocks (the reader's per-sample reads would take ~8x longer: one HDF5 selection per sample).
std::int64_t first_id_outside(const std::filesystem::path& path, const char* group, std::int64_t vocab_size,
                              std::int32_t& bad_id) {
  h5::quiet_hdf5_errors();
  const h5::Handle file = h5::check(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path.string());
  const std::string name = std::string(group) + "/ids";
  const h5::Handle dataset = h5::check(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), path.string() + ": /" + name);
  const h5::Handle space = h5::check(H5Dget_space(dataset.get()), "H5Dget_space");
  hsize_t length = 0;
  H5Sget_simple_extent_dims(space.get(), &length, nullptr);
  constexpr hsize_t kBlock = hsize_t{1} << 22;
  std::vector<std::int32_t> block(std::min(length, kBlock));
  for (hsize_t start = 0; start < length; start += kBlock) {
    hsize_t count = std::min(kBlock, length - start);
    const h5::Handle file_space = h5::check(H5Dget_space(dataset.get()), "H5Dget_space");
    h5::check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr), "select");
    const h5::Handle memory_space = h5::check(H5Screate_simple(1, &count, nullptr), "H5Screate_simple");
    h5::check_status(H5Dread(dataset.get(), H5T_NATIVE_INT32, memory_space.get(), file_space.get(), H5P_DEFAULT, block.data()),
                     path.string() + ": reading /" + name);
    for (hsize_t i = 0; i < count; ++i) {
      if (block[i] < 0 || block[i] >= vocab_size) {
        bad_id = block[i];
        return static_cast<std::int64_t>(start + i);
      }
    }
  }
  return -1;
}

class H5ShardSource : public SampleSource {
 public:
  H5ShardSource(const std::filesystem::path& path, std::int64_t vocab_size) : reader_(path) { check_ids(vocab_size); }
  std::int64_t n_samples() const override { return reader_.n_samples(); }
  void read(std::int64_t index, Sample& sample) const override {
    reader_.read_sample(index, sample.inputs, sample.targets);
  }
  std::string describe() const override { return reader_.path().string(); }

 private:
  void check_ids(std::int64_t vocab_size) const {
    for (const char* group : {"inputs", "targets"}) {
      std::int32_t bad_id = 0;
      const std::int64_t position = first_id_outside(reader_.path(), group, vocab_size, bad_id);
      if (position < 0) continue;
      const bool input = group == std::string("inputs");
      std::int64_t sample = 0;
      for (std::int64_t end = 0; sample < reader_.n_samples(); ++sample) {
        end += input ? reader_.input_length(sample) : reader_.target_length(sample);
        if (position < end) break;
      }
      fail("{}: sample {} holds {} id {}, outside the model's vocabulary [0, {}) (tokenized for another model?)",
           reader_.path().string(), sample, input ? "input" : "target", bad_id, vocab_size);
    }
  }

  h5::TokenizedShardReader reader_;
};

}  // namespace

std::unique_ptr<SampleSource> open_h5_shard(const std::filesystem::path& path, std::int64_t vocab_size) {
  return std::make_unique<H5ShardSource>(path, vocab_size);
}

}  // namespace xmtf::train
