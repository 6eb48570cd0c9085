// Run under mpiexec -n N (N = 1..8): for every grid shape with N ranks, each group holds exactly
// the ranks the Megatron order puts in it, and every Communicator operation moves the right
// data over it (float, double and integer buffers). Prints one line per failed check; exit 0
// when all pass. With --die-rank R, rank R exits at once while the others wait in an
// all-reduce: they must end with a message naming it, not hang (issue 19 item 6).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "dist/grid.hpp"
#include "dist/world.hpp"

using namespace xmtf;
using namespace xmtf::dist;

namespace {

int g_failures = 0;

void check(bool ok, const std::string& what) {
  if (!ok) {
    ++g_failures;
    log::error("check failed: {}", what);
  }
}

// The global ranks of `group`, gathered over it.
std::vector<std::int32_t> members(Communicator& group, int global_rank) {
  std::vector<std::int32_t> all(static_cast<std::size_t>(group.size()));
  const std::int32_t mine = global_rank;
  group.all_gather(std::span<const std::int32_t>(&mine, 1), std::span<std::int32_t>(all));
  return all;
}

void check_group(Communicator& group, const std::vector<int>& expected, int global_rank, const std::string& name) {
  const auto got = members(group, global_rank);
  check(std::vector<int>(got.begin(), got.end()) == expected, name + " members");
  // sum / max / min over float, double, int64, and an async all-reduce.
  std::vector<float> f{static_cast<float>(global_rank), 1.0f};
  group.all_reduce(std::span<float>(f));
  check(f[0] == static_cast<float>(std::accumulate(expected.begin(), expected.end(), 0)) &&
            f[1] == static_cast<float>(expected.size()), name + " float sum");
  check(group.all_reduce<double>(global_rank + 0.5, ReduceOp::max) == expected.back() + 0.5, name + " double max");
  check(group.all_reduce<std::int64_t>(global_rank, ReduceOp::min) == expected.front(), name + " int64 min");
  std::vector<double> d(1000, 1.0);
  auto pending = group.all_reduce_async(std::span<double>(d));
  pending->wait();
  check(d[999] == static_cast<double>(expected.size()), name + " async sum");
  // broadcast from the last member, reduce-scatter, a ring of send/recv, barrier.
  std::int32_t value = global_rank;
  group.broadcast(std::span<std::int32_t>(&value, 1), group.size() - 1);
  check(value == expected.back(), name + " broadcast");
  std::vector<float> contributions(static_cast<std::size_t>(group.size()));
  for (int r = 0; r < group.size(); ++r) contributions[r] = static_cast<float>(r * 10 + 1);
  float scattered = 0;
  group.reduce_scatter(std::span<const float>(contributions), std::span<float>(&scattered, 1));
  check(scattered == static_cast<float>(group.size() * (group.rank() * 10 + 1)), name + " reduce-scatter");
  if (group.size() > 1) {
    const int next = (group.rank() + 1) % group.size(), previous = (group.rank() + group.size() - 1) % group.size();
    std::int64_t received = -1;
    const std::int64_t sent = global_rank;
    if (group.rank() % 2 == 0) {
      group.send(std::span<const std::int64_t>(&sent, 1), next, 7);
      group.recv(std::span<std::int64_t>(&received, 1), previous, 7);
    } else {
      group.recv(std::span<std::int64_t>(&received, 1), previous, 7);
      group.send(std::span<const std::int64_t>(&sent, 1), next, 7);
    }
    check(received == expected[previous], name + " send/recv ring");
  }
  group.barrier();
}

void check_shape(World& world, const GridShape& shape) {
  ProcessGrid grid(world.communicator(), shape);
  const GridCoordinates c = grid.coordinates();
  const int me = world.rank();
  const std::string label = shape.text();
  check(grid_rank(c, shape) == me, label + " coordinates");
  std::vector<int> tp, dp, pp, embedding;
  for (int t = 0; t < shape.tp; ++t) tp.push_back(grid_rank({t, c.pp, c.dp}, shape));
  for (int d = 0; d < shape.dp; ++d) dp.push_back(grid_rank({c.tp, c.pp, d}, shape));
  for (int p = 0; p < shape.pp; ++p) pp.push_back(grid_rank({c.tp, p, c.dp}, shape));
  check_group(grid.tp(), tp, me, label + " tp");
  check_group(grid.dp(), dp, me, label + " dp");
  check_group(grid.pp(), pp, me, label + " pp");
  if (grid.is_first_stage() || grid.is_last_stage()) {
    embedding.push_back(pp.front());
    if (shape.pp > 1) embedding.push_back(pp.back());
    check(grid.embedding() != nullptr, label + " embedding group exists");
    if (grid.embedding()) check_group(*grid.embedding(), embedding, me, label + " embedding");
  } else {
    check(grid.embedding() == nullptr, label + " no embedding group in the middle stages");
  }
}

}  // namespace

int main(int argc, char** argv) {
  log::set_program("mpi_check");
  World world(argc, argv);
  if (argc == 3 && std::strcmp(argv[1], "--die-rank") == 0) {
    if (world.rank() == std::atoi(argv[2])) std::_Exit(3);
    std::vector<float> data(16, 1.0f);
    world.communicator().all_reduce(std::span<float>(data));  // never completes: the peer is dead
    log::error("the all-reduce completed without the dead rank");
    return 1;
  }
  for (int tp = 1; tp <= world.size(); ++tp)
    for (int pp = 1; tp * pp <= world.size(); ++pp)
      if (world.size() % (tp * pp) == 0) check_shape(world, {tp, pp, world.size() / (tp * pp)});
  check(world.agree([] {}), "agree when all succeed");
  check(!world.agree([&] { if (world.rank() == world.size() - 1) throw std::runtime_error("expected failure of the last rank"); }),
        "agree when one fails");
  const int failures = world.communicator().all_reduce<std::int32_t>(g_failures, ReduceOp::sum);
  if (world.is_root()) log::info("{} ranks: {}", world.size(), failures == 0 ? "all checks passed" : std::to_string(failures) + " failed");
  return failures == 0 ? 0 : 1;
}
