#include "core/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <string>

#include "core/error.hpp"

namespace xmtf::log {
namespace {

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

struct State {
  std::string program = "xmtf";
  int rank = -1;
  int world = -1;
  Level level = Level::info;
  std::mutex mutex;
  State() {
    if (const char* env_level = std::getenv("XMTF_LOG_LEVEL")) {
      try {
        level = parse_level(env_level);
      } catch (const Error&) {
      }
    }
  }
};

State& state() {
  static State s;
  return s;
}

// Launchers export the rank before main(); MPICH's hydra sets PMI_RANK, Open MPI its own, srun
// SLURM_PROCID. Used until the program learns its rank from MPI.
void resolve_rank_from_environment(State& s) {
  if (s.rank >= 0) return;
  for (const char* name : {"PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "SLURM_PROCID"}) {
    if (std::getenv(name)) {
      s.rank = env_int(name, 0);
      break;
    }
  }
  for (const char* name : {"PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_NTASKS"}) {
    if (std::getenv(name)) {
      s.world = env_int(name, 1);
      break;
    }
  }
  if (s.rank < 0) s.rank = 0;
  if (s.world < 1) s.world = 1;
}

const char* level_name(Level level) {
  switch (level) {
    case Level::debug: return "DEBUG";
    case Level::info: return "INFO";
    case Level::warn: return "WARN";
    case Level::error: return "ERROR";
    default: return "";
  }
}

}  // namespace

void set_program(std::string_view program_name) {
  std::lock_guard lock(state().mutex);
  state().program = std::string(program_name);
}

void set_rank(int rank, int world_size) {
  std::lock_guard lock(state().mutex);
  state().rank = rank;
  state().world = world_size;
}

void set_level(Level new_level) { state().level = new_level; }
Level level() { return state().level; }

Level parse_level(std::string_view name) {
  if (name == "debug") return Level::debug;
  if (name == "info") return Level::info;
  if (name == "warn" || name == "warning") return Level::warn;
  if (name == "error") return Level::error;
  if (name == "off" || name == "quiet") return Level::off;
  fail("unknown log level '{}' (use debug, info, warn, error or off)", name);
}

void write(Level message_level, std::string_view message) {
  State& s = state();
  std::lock_guard lock(s.mutex);
  resolve_rank_from_environment(s);
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char clock[16];
  std::strftime(clock, sizeof clock, "%H:%M:%S", &utc);
  std::string line = fmt::format("[{} r{}/{} {}] {} {}\n", s.program, s.rank, s.world, clock,
                                 level_name(message_level), message);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace xmtf::log
