#include "data/dedup.hpp"

#include <algorithm>
#include <cstdio>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::data {

namespace {
constexpr std::size_t kMaxPartitions = 4096;  // open files during the first pass
constexpr std::size_t kRecordBytes = sizeof(Hash128);
}  // namespace

struct Deduplicator::Partition {
  std::FILE* file = nullptr;            // first pass: hashes, in line order
  std::vector<char> buffer;             // stdio buffer of `file`
  std::vector<std::uint64_t> verdicts;  // after prepare(): bit i = line i of this partition is new
  std::uint64_t lines = 0;              // written (first pass) / read back (second pass)
};

Deduplicator::Deduplicator(const fs::path& work_dir, std::uint64_t lines, std::uint64_t memory_budget)
    : work_dir_(work_dir), memory_budget_(memory_budget) {
  if (HashSet128::memory_for(lines) <= memory_budget) {
    seen_.reserve(lines);
    peak_table_bytes_ = HashSet128::memory_for(lines);
    return;
  }
  // Enough partitions that one partition's table (of its share of lines, with slack for an
  // uneven spread) fits the budget.
  partitions_ = 2;
  partition_bits_ = 1;
  // (A table never shrinks below HashSet128's minimum, so past that more partitions do not help.)
  auto share = [&] { return lines / partitions_ * 5 / 4; };
  while (partitions_ < kMaxPartitions && HashSet128::memory_for(share()) > memory_budget &&
         HashSet128::memory_for(share()) > HashSet128::memory_for(0)) {
    partitions_ *= 2;
    ++partition_bits_;
  }
  std::size_t buffer_bytes = std::clamp<std::size_t>(memory_budget / 4 / partitions_, 4096, std::size_t{1} << 20);
  fs::create_directories(work_dir_);
  for (std::size_t p = 0; p < partitions_; ++p) {
    auto part = std::make_unique<Partition>();
    part->file = std::fopen(partition_path(p).c_str(), "w+b");
    if (!part->file) fail("cannot create {}: {}", partition_path(p).string(), errno_text(errno));
    part->buffer.resize(buffer_bytes);
    std::setvbuf(part->file, part->buffer.data(), _IOFBF, buffer_bytes);
    parts_.push_back(std::move(part));
  }
  log::info("de-duplication of {} lines spills to disk: {} partitions in {} (--dedup-memory {})", lines, partitions_,
            work_dir_.string(), format_bytes(static_cast<double>(memory_budget)));
}

Deduplicator::~Deduplicator() {
  for (std::size_t p = 0; p < parts_.size(); ++p) {
    if (parts_[p]->file) std::fclose(parts_[p]->file);
    std::error_code ignored;
    fs::remove(partition_path(p), ignored);
  }
}

fs::path Deduplicator::partition_path(std::size_t p) const { return work_dir_ / fmt::format("dedup.{:04}.bin", p); }

// The top bits: independent of the low bits the table indexes by.
std::size_t Deduplicator::partition_of(const Hash128& hash) const {
  return static_cast<std::size_t>(hash.high >> (64 - partition_bits_));
}

void Deduplicator::record(std::string_view line) {
  Hash128 hash = hash128(line);
  Partition& part = *parts_[partition_of(hash)];
  if (std::fwrite(&hash, kRecordBytes, 1, part.file) != 1)
    fail("cannot write de-duplication partition in {}: {}", work_dir_.string(), errno_text(errno));
  ++part.lines;
}

void Deduplicator::prepare() {
  std::vector<Hash128> block(std::size_t{1} << 16);
  for (std::size_t p = 0; p < parts_.size(); ++p) {
    Partition& part = *parts_[p];
    if (std::fflush(part.file) != 0 || std::fseek(part.file, 0, SEEK_SET) != 0)
      fail("cannot read back {}: {}", partition_path(p).string(), errno_text(errno));
    HashSet128 seen;
    seen.reserve(part.lines);
    peak_table_bytes_ = std::max<std::uint64_t>(peak_table_bytes_, seen.memory_bytes());
    part.verdicts.assign((part.lines + 63) / 64, 0);
    std::uint64_t index = 0;
    while (index < part.lines) {
      std::size_t n = std::fread(block.data(), kRecordBytes, block.size(), part.file);
      if (n == 0) fail("{}: shorter than the {} hashes written to it", partition_path(p).string(), part.lines);
      for (std::size_t i = 0; i < n; ++i, ++index)
        if (seen.insert(block[i])) part.verdicts[index / 64] |= std::uint64_t{1} << (index % 64);
    }
    distinct_ += seen.size();
    std::fclose(part.file);
    part.file = nullptr;
    part.buffer = {};
    fs::remove(partition_path(p));
    part.lines = 0;  // now counts lines asked about in the second pass
  }
}

bool Deduplicator::first_occurrence(std::string_view line) {
  Hash128 hash = hash128(line);
  if (partitions_ == 0) {
    bool fresh = seen_.insert(hash);
    distinct_ += fresh;
    return fresh;
  }
  Partition& part = *parts_[partition_of(hash)];
  std::uint64_t index = part.lines++;
  if (index / 64 >= part.verdicts.size()) fail("de-duplication: a line the first pass did not see");
  return (part.verdicts[index / 64] >> (index % 64)) & 1;
}

}  // namespace xmtf::data
