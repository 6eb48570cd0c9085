#pragma once
// Stable, platform-independent hashing for data decisions that must not depend on the machine
// or the number of ranks: the train/validation split, the shuffle, exact de-duplication.
#include <cstdint>
#include <string_view>
#include <vector>

namespace xmtf::data {

// MurmurHash64A (Austin Appleby, public domain): fast, and its output is fixed for all time.
std::uint64_t murmur64(std::string_view bytes, std::uint64_t seed);

// SplitMix64 step: a good 64-bit mix of a counter, for seeded streams of random numbers.
std::uint64_t splitmix64(std::uint64_t& state);

// Uniform in [0, bound) (bound > 0) from 64 random bits, by 128-bit multiply-shift.
inline std::uint64_t bounded(std::uint64_t random_bits, std::uint64_t bound) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(random_bits) * bound) >> 64);
}

// Whether a line goes to the validation split: a pure function of its bytes, so duplicates
// land in the same split and the decision is the same on every rank.
bool in_validation_split(std::string_view line, double validation_fraction);

struct Hash128 {
  std::uint64_t high = 0, low = 0;
  bool operator==(const Hash128&) const = default;
};
Hash128 hash128(std::string_view bytes);

// Set of 128-bit line hashes for exact de-duplication: open addressing, linear probing, load
// <= 1/2, so 16-32 bytes per distinct line (48 while doubling). A collision of two different
// lines needs ~2^64 lines, far beyond any corpus.
class HashSet128 {
 public:
  // True when the hash was not there before (and is now).
  bool insert(Hash128 hash);
  // Sizes the table for n distinct hashes at once (no doubling on the way there).
  void reserve(std::size_t n);
  // Bytes the table takes once it holds n distinct hashes.
  static std::uint64_t memory_for(std::uint64_t n);
  std::size_t size() const { return size_; }
  std::size_t memory_bytes() const { return slots_.size() * sizeof(Hash128); }
  void clear();

 private:
  void rehash(std::size_t slot_count);
  std::vector<Hash128> slots_;  // {0,0} marks an empty slot
  std::size_t size_ = 0;
};

}  // namespace xmtf::data
