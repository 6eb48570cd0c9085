#pragma once
// Where tokenized (inputs, targets) samples come from. The training loader only needs random
// access by index, so any store plugs in: tokenized HDF5 shards (h5_source.hpp), pre-tokenized
// JSON lines, or memory (tests).
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "train/packing.hpp"

namespace xmtf::train {

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual std::int64_t n_samples() const = 0;
  virtual void read(std::int64_t index, Sample& sample) const = 0;
  virtual std::string describe() const = 0;
};

class MemorySampleSource : public SampleSource {
 public:
  explicit MemorySampleSource(std::vector<Sample> samples, std::string name = "memory")
      : samples_(std::move(samples)), name_(std::move(name)) {}
  std::int64_t n_samples() const override { return static_cast<std::int64_t>(samples_.size()); }
  void read(std::int64_t index, Sample& sample) const override { sample = samples_.at(index); }
  std::string describe() const override { return name_; }

 private:
  std::vector<Sample> samples_;
  std::string name_;
};

// JSON lines with pre-tokenized samples: {"input_ids": [..], "target_ids": [..]} (other fields
// ignored). Loaded into memory; every id must be an integer in [0, vocab_size); errors (that,
// invalid JSON, a duplicate key) name file:line.
std::unique_ptr<SampleSource> open_jsonl_tokenized(const std::filesystem::path& path, std::int64_t vocab_size);

// Several sources seen as one, in order.
class ConcatSampleSource : public SampleSource {
 public:
  explicit ConcatSampleSource(std::vector<std::unique_ptr<SampleSource>> parts);
  std::int64_t n_samples() const override { return total_; }
  void read(std::int64_t index, Sample& sample) const override;
  std::string describe() const override;

 private:
  std::vector<std::unique_ptr<SampleSource>> parts_;
  std::vector<std::int64_t> starts_;
  std::int64_t total_ = 0;
};

// Opens one file by its extension: .jsonl (pre-tokenized) or .h5 (tokenized shard, when the
// build has the h5 area). Throws xmtf::Error for anything else. Every id of the file is checked
// against [0, vocab_size) once, here: a bad shard fails at start, naming the file and sample,
// not hours later when the sample is drawn.
std::unique_ptr<SampleSource> open_sample_file(const std::filesystem::path& path, std::int64_t vocab_size);

}  // namespace xmtf::train
