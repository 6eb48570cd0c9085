#pragma once
// The best of `repeats` wall-clock timings of `work`, in seconds (scheduler benchmarks).
#include <algorithm>
#include <chrono>
#include <functional>

inline double best_seconds(const std::function<void()>& work, int repeats) {
  double best = 1e9;
  for (int r = 0; r < repeats; ++r) {
    auto start = std::chrono::steady_clock::now();
    work();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}
