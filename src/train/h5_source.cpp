#include "train/h5_source.hpp"

#include "h5/tokenized_shard.hpp"

namespace xmtf::train {

namespace {

class H5ShardSource : public SampleSource {
 public:
  explicit H5ShardSource(const std::filesystem::path& path) : reader_(path) {}
  std::int64_t n_samples() const override { return reader_.n_samples(); }
  void read(std::int64_t index, Sample& sample) const override {
    reader_.read_sample(index, sample.inputs, sample.targets);
  }
  std::string describe() const override { return reader_.path().string(); }

 private:
  h5::TokenizedShardReader reader_;
};

}  // namespace

std::unique_ptr<SampleSource> open_h5_shard(const std::filesystem::path& path) {
  return std::make_unique<H5ShardSource>(path);
}

}  // namespace xmtf::train
