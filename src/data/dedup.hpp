#pragma once
// Exact de-duplication of a language's lines in canonical order (first occurrence kept, as the
// original pipeline's `sort -u` kept one copy), with bounded memory.
//
// Each line is remembered by a 128-bit hash (hash.hpp). When the table for all lines fits the
// memory budget it is one in-memory set. Otherwise the hashes spill to disk: a first pass writes
// every line's hash, in order, to one of P partition files chosen by the hash's top bits; each
// partition is then deduplicated alone (its table fits the budget) into one bit per line,
// "first occurrence"; the second pass reads the lines again in the same order and takes the next
// bit of the line's partition. Memory: the largest partition's table plus one bit per line.
// Disk: 16 bytes per line, removed as partitions are done.
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/fs.hpp"
#include "data/hash.hpp"

namespace xmtf::data {

class Deduplicator {
 public:
  // `lines`: how many lines will come (at most); `work_dir`: where partitions go if they must.
  Deduplicator(const fs::path& work_dir, std::uint64_t lines, std::uint64_t memory_budget);
  ~Deduplicator();
  Deduplicator(const Deduplicator&) = delete;
  Deduplicator& operator=(const Deduplicator&) = delete;

  // Spilling: every line must go through record() (first pass) and then prepare(), before the
  // second pass asks first_occurrence() for the same lines in the same order.
  bool spills() const { return partitions_ > 0; }
  std::size_t partitions() const { return partitions_; }
  void record(std::string_view line);
  void prepare();

  // True for the first occurrence of the line's bytes.
  bool first_occurrence(std::string_view line);

  std::uint64_t distinct() const { return distinct_; }
  std::uint64_t peak_table_bytes() const { return peak_table_bytes_; }

 private:
  std::size_t partition_of(const Hash128& hash) const;
  fs::path partition_path(std::size_t p) const;

  fs::path work_dir_;
  std::uint64_t memory_budget_;
  std::size_t partitions_ = 0;  // 0: in memory
  int partition_bits_ = 0;
  HashSet128 seen_;             // in memory
  struct Partition;
  std::vector<std::unique_ptr<Partition>> parts_;  // spilling
  std::uint64_t distinct_ = 0;
  std::uint64_t peak_table_bytes_ = 0;
};

}  // namespace xmtf::data
