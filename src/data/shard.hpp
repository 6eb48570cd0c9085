#pragma once
// xmtf-shard's library: xP3 language folders -> validated, size-capped JSON-lines parts.
//
// The work is cut in units that do not depend on the number of ranks, so the output does not
// either:
//   1. chunks: every source file is cut in fixed --chunk-bytes ranges; a chunk owns the lines
//      that START in its range. Each chunk is validated on its own into `.work/` pieces (kept
//      lines, each piece <= --max-shard-bytes), a rejects list and a stats file (its marker).
//   2. parts: the pieces of a language, in (file, chunk, piece) order, are packed greedily into
//      parts <= --max-shard-bytes (one task per part). With --dedup, --shuffle-seed or
//      --max-per-prompt the language is instead one sequential task (first occurrence wins,
//      caps count in file order, shuffle through seeded buckets).
//   3. finish: rejects.jsonl with global line numbers, stale parts removed, index.json written
//      last (the language's completion marker), `.work/` removed.
// Tasks of each step are spread over ranks by size (longest first); the caller (apps/
// xmtf-shard.cpp) puts an MPI barrier between steps. Everything is written temp + rename.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/fs.hpp"

namespace xmtf::data {

// Below these, parts and chunks are too small to be of use and the run turns into millions of
// files and markers (--max-shard-bytes 2 ran for tens of minutes): refused.
inline constexpr std::uint64_t kMinShardBytes = 512;
inline constexpr std::uint64_t kMinChunkBytes = 512;
// At most this many chunks, and (estimated) parts, in one run.
inline constexpr std::uint64_t kMaxChunksPerRun = 1000000;
inline constexpr std::uint64_t kMaxPartsPerRun = 1000000;
// A rerun checks a language's parts by sha256 up to this many bytes of parts, above by size
// and mtime (hashing every part of a big language on every rerun would cost a full read).
inline constexpr std::uint64_t kHashPartsUpToBytes = std::uint64_t{1} << 30;

struct ShardOptions {
  fs::path input_dir;
  fs::path output_dir;
  std::vector<std::string> languages;  // empty: every language folder of input_dir
  std::uint64_t max_shard_bytes = std::uint64_t{256} << 20;
  std::uint64_t max_line_bytes = std::uint64_t{64} << 20;
  std::uint64_t chunk_bytes = 0;  // 0: max_shard_bytes - max_shard_bytes / 64 (see docs/data.md)
  bool dedup = false;
  std::optional<std::uint64_t> shuffle_seed;
  std::uint64_t max_per_prompt = 0;  // 0: no cap
  double validation_fraction = 0;
  double max_bad_fraction = 0.01;
  std::uint64_t shuffle_bucket_bytes = std::uint64_t{64} << 20;
  std::map<std::string, double> upsample;
  // --dedup's table may use this much; beyond, hashes spill to disk partitions (dedup.hpp).
  // Not part of the output's identity: the result is the same either way.
  std::uint64_t dedup_memory = std::uint64_t{1} << 30;
  int threads = 1;  // 2: SHA-256 of parts on the I/O thread, overlapping validation (a 2nd core)

  bool sequential_language_pass() const { return dedup || shuffle_seed.has_value() || max_per_prompt > 0; }
};

struct SourceFile {
  std::string name;  // file name inside the language folder
  fs::path path;
  std::uint64_t bytes = 0;
  std::int64_t mtime_ns = 0;
};

struct LanguageInput {
  std::string language;
  std::vector<SourceFile> files;  // sorted by name: the canonical order
  std::uint64_t bytes() const;
};

// Language folders (sorted) and their *.jsonl files (sorted). Fails when a requested language
// has no folder or a folder has no .jsonl file.
std::vector<LanguageInput> discover_inputs(const fs::path& input_dir, const std::vector<std::string>& languages);

// Throws when the run cannot be sane: --output overlapping --input, sizes below the minimums,
// or sizes that would cut the inputs into more than kMaxChunksPerRun chunks or kMaxPartsPerRun
// parts (the message says what to use instead).
void check_run(const ShardOptions& options, const std::vector<LanguageInput>& inputs);

// True when <output>/<lang>/index.json was written with these options from these exact input
// files (name, size, mtime) and every part it lists is there as stamped (size, and sha256 up to
// kHashPartsUpToBytes, else mtime).
bool language_up_to_date(const ShardOptions& options, const LanguageInput& input);

// Step 1.
struct ChunkTask {
  std::size_t language = 0;  // index into the LanguageInput list
  std::size_t file = 0;
  std::uint64_t chunk = 0;
  std::uint64_t begin = 0, end = 0;
};
std::vector<ChunkTask> plan_chunks(const std::vector<LanguageInput>& inputs, std::uint64_t chunk_bytes);
// Validates one chunk into .work/ (skipped when its marker is there and matches). Returns the
// source bytes it read.
std::uint64_t run_chunk(const ShardOptions& options, const LanguageInput& input, const ChunkTask& task);

// After step 1: "" when the language may go on, else why not (too many bad lines).
std::string check_bad_fraction(const ShardOptions& options, const LanguageInput& input);

// Step 2.
struct PartTask {
  std::size_t language = 0;
  std::string name;                 // "part-00003.jsonl" or "validation-00000.jsonl"
  std::vector<std::string> pieces;  // .work/ piece files, in order
  std::uint64_t bytes = 0;          // bytes this part will hold
  bool whole_language = false;      // the sequential pass (dedup / shuffle / cap)
};
std::vector<PartTask> plan_parts(const ShardOptions& options, const std::vector<LanguageInput>& inputs,
                                 std::size_t language);
void run_part(const ShardOptions& options, const LanguageInput& input, const PartTask& task);

// Step 3: rejects.jsonl, index.json, cleanup. With `failed` only rejects.jsonl is written.
void finish_language(const ShardOptions& options, const LanguageInput& input, bool failed);

// The run-wide <output>/index.json, from every <output>/<lang>/index.json present (under a
// file lock, as one array task per language may finish at the same time).
// Removes <output>/<lang>/index.json before its language is redone, so no reader pairs an old
// index with new parts.
void invalidate_language(const ShardOptions& options, const LanguageInput& input);

void write_run_index(const ShardOptions& options);

}  // namespace xmtf::data
