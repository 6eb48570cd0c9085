#pragma once
// Rank-aware logging to stderr: "[xmtf-shard r1/4 02:31:07] INFO message".
// The rank is read from the launcher's environment (PMI_RANK, OMPI_COMM_WORLD_RANK, SLURM_PROCID)
// until set_rank() is called after MPI_Init; single-process programs print "r0/1".
#include <fmt/format.h>

#include <string_view>

namespace xmtf::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_program(std::string_view program_name);
void set_rank(int rank, int world_size);
void set_level(Level level);
Level level();
Level parse_level(std::string_view name);  // "debug" | "info" | "warn" | "error" | "off"
void write(Level level, std::string_view message);

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::debug) write(Level::debug, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::info) write(Level::info, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void warn(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::warn) write(Level::warn, fmt::format(f, std::forward<Args>(a)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... a) {
  if (level() <= Level::error) write(Level::error, fmt::format(f, std::forward<Args>(a)...));
}

}  // namespace xmtf::log
