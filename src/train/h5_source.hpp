#pragma once
// Tokenized HDF5 shards (src/h5, /inputs/ids, /targets/ids with offsets) as a SampleSource.
#include <filesystem>
#include <memory>

#include "train/sample_source.hpp"

namespace xmtf::train {

// Reads every sample once to check its ids against [0, vocab_size).
std::unique_ptr<SampleSource> open_h5_shard(const std::filesystem::path& path, std::int64_t vocab_size);

}  // namespace xmtf::train
