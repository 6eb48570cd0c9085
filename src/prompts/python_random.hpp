#pragma once
// Python's `random` module generator (MT19937 seeded like random.seed(int)), so that the
// `choice` filter promptsource registers picks exactly what a Python run seeded the same way
// picks, in the same call order.
#include <array>
#include <cstdint>

namespace xmtf::prompts {

class PythonRandom {
 public:
  explicit PythonRandom(std::uint64_t seed = 0) { seed_with(seed); }
  // random.seed(seed) for a non-negative integer seed.
  void seed_with(std::uint64_t seed);
  // random.getrandbits(k) for 0 < k <= 32.
  std::uint32_t getrandbits(int k);
  // random.randrange(n) / the index random.choice(seq) uses, for n >= 1.
  std::uint64_t below(std::uint64_t n);

 private:
  std::uint32_t next_u32();
  void init_genrand(std::uint32_t s);
  std::array<std::uint32_t, 624> state_{};
  int index_ = 625;
};

}  // namespace xmtf::prompts
