#include "prompts/python_random.hpp"

#include <bit>
#include <vector>

namespace xmtf::prompts {

void PythonRandom::init_genrand(std::uint32_t s) {
  state_[0] = s;
  for (int i = 1; i < 624; ++i)
    state_[i] = 1812433253u * (state_[i - 1] ^ (state_[i - 1] >> 30)) + static_cast<std::uint32_t>(i);
  index_ = 624;
}

void PythonRandom::seed_with(std::uint64_t seed) {
  // CPython: the absolute value of the int, as little-endian 32-bit words, through
  // init_by_array (the reference MT19937 initialisation).
  std::vector<std::uint32_t> key;
  while (seed) {
    key.push_back(static_cast<std::uint32_t>(seed & 0xFFFFFFFFu));
    seed >>= 32;
  }
  if (key.empty()) key.push_back(0);
  init_genrand(19650218u);
  std::size_t i = 1, j = 0;
  const std::size_t n = 624;
  for (std::size_t k = std::max(n, key.size()); k; --k) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1664525u)) + key[j] + static_cast<std::uint32_t>(j);
    ++i;
    ++j;
    if (i >= n) {
      state_[0] = state_[n - 1];
      i = 1;
    }
    if (j >= key.size()) j = 0;
  }
  for (std::size_t k = n - 1; k; --k) {
    state_[i] = (state_[i] ^ ((state_[i - 1] ^ (state_[i - 1] >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
    ++i;
    if (i >= n) {
      state_[0] = state_[n - 1];
      i = 1;
    }
  }
  state_[0] = 0x80000000u;
  index_ = 624;
}

std::uint32_t PythonRandom::next_u32() {
  constexpr std::uint32_t upper = 0x80000000u, lower = 0x7FFFFFFFu, matrix = 0x9908B0DFu;
  if (index_ >= 624) {
    for (int k = 0; k < 624; ++k) {
      std::uint32_t y = (state_[k] & upper) | (state_[(k + 1) % 624] & lower);
      state_[k] = state_[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? matrix : 0u);
    }
    index_ = 0;
  }
  std::uint32_t y = state_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9D2C5680u;
  y ^= (y << 15) & 0xEFC60000u;
  y ^= y >> 18;
  return y;
}

std::uint32_t PythonRandom::getrandbits(int k) { return next_u32() >> (32 - k); }

std::uint64_t PythonRandom::below(std::uint64_t n) {
  // CPython's _randbelow_with_getrandbits: k = n.bit_length(), rejection sampling.
  int k = std::bit_width(n);
  std::uint64_t r = getrandbits(k);
  while (r >= n) r = getrandbits(k);
  return r;
}

}  // namespace xmtf::prompts
