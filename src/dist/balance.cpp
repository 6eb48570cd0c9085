#include "dist/balance.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace xmtf::dist {

std::vector<int> assign_balanced(const std::vector<std::uint64_t>& costs, int n_ranks) {
  if (n_ranks < 1) fail("assign_balanced: {} ranks", n_ranks);
  std::vector<std::size_t> order(costs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return costs[a] > costs[b]; });
  std::vector<std::uint64_t> load(static_cast<std::size_t>(n_ranks), 0);
  std::vector<int> owner(costs.size(), 0);
  for (std::size_t task : order) {
    const auto lightest = static_cast<std::size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[task] = static_cast<int>(lightest);
    load[lightest] += std::max<std::uint64_t>(costs[task], 1);
  }
  return owner;
}

std::vector<std::size_t> tasks_of_rank(const std::vector<int>& owner, int rank) {
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < owner.size(); ++i) {
    if (owner[i] == rank) mine.push_back(i);
  }
  return mine;
}

}  // namespace xmtf::dist
