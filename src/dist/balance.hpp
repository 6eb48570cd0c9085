#pragma once
// The one work-balancing rule of the programs that spread work over ranks (xmtf-shard's
// chunks, parts and languages, xmtf-tokenize's parts, xmtf-score's batches): longest first,
// each task to the rank with the least work so far (ties: the lowest rank). Deterministic, so
// every rank computes the same assignment without talking; with equal costs it is round robin.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace xmtf::dist {

// owner[i] = the rank that runs task i. A cost of 0 counts as 1.
std::vector<int> assign_balanced(const std::vector<std::uint64_t>& costs, int n_ranks);

// The tasks of `rank` under `owner`, in task order.
std::vector<std::size_t> tasks_of_rank(const std::vector<int>& owner, int rank);

}  // namespace xmtf::dist
