#pragma once
// Streaming writer of one tokenized shard (format in tokenized_shard.hpp). Samples are appended
// one at a time; ids are buffered and flushed in chunks to extendible, chunked datasets, so
// memory stays bounded whatever the shard size (offsets, 16 bytes per sample, stay in memory
// until commit()). The file is written under a temporary name and renamed over the final one
// by commit(), after an fsync: readers see the old file or the complete new one.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

#include "h5/tokenized_shard.hpp"

namespace xmtf::h5 {

class TokenizedShardWriter {
 public:
  // info.n_samples is ignored (counted). chunk_tokens is the HDF5 chunk size of the ids datasets
  // and the flush granularity.
  TokenizedShardWriter(std::filesystem::path final_path, ShardInfo info, std::int64_t chunk_tokens = 1 << 18);
  ~TokenizedShardWriter();  // without commit(): the temporary file is removed
  TokenizedShardWriter(const TokenizedShardWriter&) = delete;
  TokenizedShardWriter& operator=(const TokenizedShardWriter&) = delete;

  void append(std::span<const std::int32_t> input_ids, std::span<const std::int32_t> target_ids);
  void commit();

  std::int64_t n_samples() const;
  std::int64_t n_input_tokens() const;
  std::int64_t n_target_tokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xmtf::h5
