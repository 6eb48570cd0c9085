#pragma once
// The tokenized-shard format: one HDF5 file per shard part (shards/<lang>/part-NNNNN.<tok>.h5).
//
//   /inputs/ids       int32 [total input tokens]    all samples' input ids, concatenated
//   /inputs/offsets   int64 [n_samples + 1]         sample i is ids[offsets[i] .. offsets[i+1])
//   /targets/ids      int32 [total target tokens]
//   /targets/offsets  int64 [n_samples + 1]
//   root attributes: format ("xmtf-tokenized-shard"), format_version, tokenizer_name,
//   tokenizer_sha256, language, source_sha256 (of the .jsonl part), n_samples.
//
// This header is the stable READ interface other areas (src/train) build on. See docs/h5.md.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace xmtf::h5 {

inline constexpr const char* kTokenizedShardFormat = "xmtf-tokenized-shard";
inline constexpr std::int64_t kTokenizedShardVersion = 1;

// The root attributes of a tokenized shard.
struct ShardInfo {
  std::string format = kTokenizedShardFormat;
  std::int64_t format_version = kTokenizedShardVersion;
  std::string tokenizer_name;    // file name of the tokenizer, e.g. "tokenizer.json"
  std::string tokenizer_sha256;  // sha256 of the tokenizer file's bytes
  std::string language;          // e.g. "fr", "code"
  std::string source_sha256;     // sha256 of the source .jsonl part
  std::int64_t n_samples = 0;
  // How the ids were made beyond the tokenizer ("target_prefix=' ' input_eos=0 target_eos=1
  // eos_id=2"); optional, "" when absent. A rerun redoes a part when it differs.
  std::string options;
};

// Read access to one tokenized shard. The constructor validates the file (HDF5 signature,
// format attribute and version, dataset types and shapes, monotonic offsets ending at the ids'
// length) and throws xmtf::Error naming the file and what is wrong; it never crashes on a
// corrupt or foreign file. Offsets are held in memory (16 bytes per sample); ids are read from
// disk on demand. Not thread-safe: use one reader per thread.
class TokenizedShardReader {
 public:
  explicit TokenizedShardReader(const std::filesystem::path& path);
  ~TokenizedShardReader();
  TokenizedShardReader(TokenizedShardReader&&) noexcept;
  TokenizedShardReader& operator=(TokenizedShardReader&&) noexcept;

  const std::filesystem::path& path() const;
  const ShardInfo& info() const;
  std::int64_t n_samples() const;

  std::int64_t input_length(std::int64_t sample) const;
  std::int64_t target_length(std::int64_t sample) const;
  std::int64_t n_input_tokens() const;   // over all samples
  std::int64_t n_target_tokens() const;

  // Sample i's ids (0 <= i < n_samples(), else xmtf::Error).
  std::vector<std::int32_t> input_ids(std::int64_t sample) const;
  std::vector<std::int32_t> target_ids(std::int64_t sample) const;
  // Same, reusing the caller's buffers.
  void read_sample(std::int64_t sample, std::vector<std::int32_t>& input_ids,
                   std::vector<std::int32_t>& target_ids) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads only the root attributes (validating the format); used to decide whether a rerun can
// skip a part. Throws xmtf::Error like the reader.
ShardInfo read_shard_info(const std::filesystem::path& path);

}  // namespace xmtf::h5
