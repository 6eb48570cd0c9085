#include "nn/memory.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>


namespace xmtf::nn {

namespace {

// A cgroup limit file holds a byte count, or "max" (v2) / a huge number (v1) for no limit.
std::uint64_t cgroup_limit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return UINT64_MAX;
  return std::strtoull(text.c_str(), nullptr, 10);
}

}  // namespace

std::uint64_t host_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  std::uint64_t bytes = pages > 0 && page_size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size)
                                                   : UINT64_MAX;
  bytes = std::min({bytes, cgroup_limit("/sys/fs/cgroup/memory.max"),
                    cgroup_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes")});
  if (const char* cap = std::getenv("XMTF_MEMORY_LIMIT_BYTES"); cap != nullptr && *cap != '\0')
    bytes = std::min<std::uint64_t>(bytes, std::strtoull(cap, nullptr, 10));
  return bytes;
}

}  // namespace xmtf::nn
