#include "core/progress.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>

#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf {

Progress::Progress(std::string label, std::uint64_t total, Unit unit)
    : label_(std::move(label)), total_(total), unit_(unit), on_terminal_(::isatty(2) == 1) {
  const char* interval = std::getenv("XMTF_PROGRESS_SECONDS");
  log_interval_seconds_ = interval ? std::atof(interval) : 30.0;
  start_ = last_report_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (!finished_ && on_terminal_ && done_ > 0) std::fputc('\n', stderr);
}

void Progress::set_total(std::uint64_t total) {
  std::lock_guard lock(mutex_);
  total_ = total;
}

void Progress::add(std::uint64_t amount) {
  std::lock_guard lock(mutex_);
  done_ += amount;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_report_).count();
  if ((on_terminal_ && since >= 0.2) || (!on_terminal_ && since >= log_interval_seconds_)) {
    last_report_ = now;
    report(false);
  }
}

void Progress::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  report(true);
}

std::string Progress::describe(double elapsed) const {
  auto amount = [&](double value) {
    return unit_ == Unit::bytes ? format_bytes(value) : fmt::format("{}", static_cast<std::uint64_t>(value));
  };
  double rate = elapsed > 0 ? done_ / elapsed : 0;
  std::string rate_text = unit_ == Unit::bytes ? format_bytes(rate) + "/s" : fmt::format("{:.1f}/s", rate);
  if (total_ == 0) return fmt::format("{} {} {}", label_, amount(done_), rate_text);
  double fraction = static_cast<double>(done_) / total_;
  double eta = rate > 0 ? (total_ - std::min(done_, total_)) / rate : -1;
  return fmt::format("{} {:3.0f}% {}/{} {} ETA {}", label_, 100 * fraction, amount(done_), amount(total_),
                     rate_text, format_duration(eta));
}

void Progress::report(bool final_report) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  std::string text = describe(elapsed);
  if (on_terminal_) {
    std::fprintf(stderr, "\r\033[K%s%s", text.c_str(), final_report ? "\n" : "");
    std::fflush(stderr);
  } else {
    log::info("{}{}", text, final_report ? fmt::format(" (done in {})", format_duration(elapsed)) : "");
  }
}

}  // namespace xmtf
