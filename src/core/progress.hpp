#pragma once
// Progress for long work. On a terminal: one line redrawn in place at most 5 times a second
// ("label  45% 1.2 GiB/2.7 GiB 80.1 MiB/s ETA 19s"). In a job log (stderr not a terminal): a
// plain log line every XMTF_PROGRESS_SECONDS (default 30) and one at the end, so SLURM logs stay
// readable.
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace xmtf {

class Progress {
 public:
  enum class Unit { items, bytes };
  Progress(std::string label, std::uint64_t total, Unit unit = Unit::items);
  ~Progress();
  void add(std::uint64_t amount);
  void set_total(std::uint64_t total);
  void finish();
  std::uint64_t done() const { return done_; }

 private:
  void report(bool final_report);
  std::string describe(double elapsed_seconds) const;

  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  Unit unit_;
  bool on_terminal_;
  bool finished_ = false;
  double log_interval_seconds_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_report_;
  std::mutex mutex_;
};

}  // namespace xmtf
