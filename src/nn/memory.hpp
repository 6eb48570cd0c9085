#pragma once
// How much memory this process may use, so that sizes read from configs and data (a vocabulary,
// a hidden size, a sample's length) are checked against what they imply BEFORE anything is
// allocated, with a message naming the key or line, instead of ending in std::bad_alloc or the
// OOM killer.
#include <cstdint>

namespace xmtf::nn {

// Physical memory, or the cgroup's limit when lower (a SLURM job's --mem, a container).
// XMTF_MEMORY_LIMIT_BYTES, when set, lowers it further (a user's own cap; tests).
std::uint64_t host_memory_bytes();

}  // namespace xmtf::nn
