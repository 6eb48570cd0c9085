#include "data/hash.hpp"

#include <cstring>

namespace xmtf::data {

std::uint64_t murmur64(std::string_view bytes, std::uint64_t seed) {
  const std::uint64_t m = 0xc6a4a7935bd1e995ULL;
  const int r = 47;
  std::uint64_t h = seed ^ (bytes.size() * m);
  const char* data = bytes.data();
  std::size_t blocks = bytes.size() / 8;
  for (std::size_t i = 0; i < blocks; ++i) {
    std::uint64_t k;
    std::memcpy(&k, data + 8 * i, 8);  // little-endian hosts only (x86-64, aarch64)
    k *= m;
    k ^= k >> r;
    k *= m;
    h ^= k;
    h *= m;
  }
  const unsigned char* tail = reinterpret_cast<const unsigned char*>(data + 8 * blocks);
  switch (bytes.size() & 7) {
    case 7: h ^= std::uint64_t(tail[6]) << 48; [[fallthrough]];
    case 6: h ^= std::uint64_t(tail[5]) << 40; [[fallthrough]];
    case 5: h ^= std::uint64_t(tail[4]) << 32; [[fallthrough]];
    case 4: h ^= std::uint64_t(tail[3]) << 24; [[fallthrough]];
    case 3: h ^= std::uint64_t(tail[2]) << 16; [[fallthrough]];
    case 2: h ^= std::uint64_t(tail[1]) << 8; [[fallthrough]];
    case 1: h ^= std::uint64_t(tail[0]); h *= m;
  }
  h ^= h >> r;
  h *= m;
  h ^= h >> r;
  return h;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

bool in_validation_split(std::string_view line, double validation_fraction) {
  if (validation_fraction <= 0) return false;
  constexpr std::uint64_t kSplitSeed = 0x7870335f73706c74ULL;  // "xp3_splt"
  double unit = static_cast<double>(murmur64(line, kSplitSeed) >> 11) * 0x1.0p-53;
  return unit < validation_fraction;
}

Hash128 hash128(std::string_view bytes) {
  return Hash128{murmur64(bytes, 0x1234567887654321ULL), murmur64(bytes, 0x0f1e2d3c4b5a6978ULL)};
}

bool HashSet128::insert(Hash128 hash) {
  if (hash == Hash128{}) hash.low = 1;  // keep {0,0} free as the empty marker
  if (2 * (size_ + 1) > slots_.size()) rehash(slots_.empty() ? 1024 : 2 * slots_.size());
  std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash.low & mask;; i = (i + 1) & mask) {
    if (slots_[i] == Hash128{}) {
      slots_[i] = hash;
      ++size_;
      return true;
    }
    if (slots_[i] == hash) return false;
  }
}

namespace {
std::uint64_t slots_for(std::uint64_t n) {  // load <= 1/2, a power of two, at least 1024
  std::uint64_t slots = 1024;
  while (slots < 2 * n) slots *= 2;
  return slots;
}
}  // namespace

void HashSet128::reserve(std::size_t n) {
  if (slots_for(n) > slots_.size()) rehash(slots_for(n));
}

std::uint64_t HashSet128::memory_for(std::uint64_t n) { return slots_for(n) * sizeof(Hash128); }

void HashSet128::rehash(std::size_t slot_count) {
  std::vector<Hash128> old;
  old.swap(slots_);
  slots_.assign(slot_count, Hash128{});
  std::size_t mask = slot_count - 1;
  for (const Hash128& hash : old) {
    if (hash == Hash128{}) continue;
    std::size_t i = hash.low & mask;
    while (!(slots_[i] == Hash128{})) i = (i + 1) & mask;
    slots_[i] = hash;
  }
}

void HashSet128::clear() {
  std::vector<Hash128>().swap(slots_);
  size_ = 0;
}

}  // namespace xmtf::data
