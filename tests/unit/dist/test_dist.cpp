// The process grid's rank order (Megatron-LM's parallel_state example), the work-balancing rule,
// and the one-rank communicator. The MPI side runs under mpiexec -n 1..8 (mpi_check.cpp).
#include <gtest/gtest.h>

#include <set>

#include "core/error.hpp"
#include "dist/balance.hpp"
#include "dist/grid.hpp"
#include "dist/local_communicator.hpp"

using namespace xmtf;
using namespace xmtf::dist;

TEST(Grid, RankOrderIsMegatronsExample) {
  // parallel_state.initialize_model_parallel's docstring: 16 GPUs, TP 2, PP 4, DP 2 give tensor
  // groups [0,1] [2,3] ..., data groups [0,2] [1,3] [4,6] ..., pipeline groups [0,4,8,12] [1,5,9,13] ...
  const GridShape shape{2, 4, 2};
  EXPECT_EQ(grid_coordinates(1, shape), (GridCoordinates{1, 0, 0}));
  EXPECT_EQ(grid_coordinates(2, shape), (GridCoordinates{0, 0, 1}));
  EXPECT_EQ(grid_coordinates(4, shape), (GridCoordinates{0, 1, 0}));
  EXPECT_EQ(grid_coordinates(13, shape), (GridCoordinates{1, 3, 0}));
  for (int pp = 0; pp < 4; ++pp) EXPECT_EQ(grid_rank({1, pp, 0}, shape), 1 + 4 * pp);
  EXPECT_EQ(grid_rank({0, 2, 1}, shape), 10);
}

TEST(Grid, CoordinatesAreABijectionForEveryShapeUpToEightRanks) {
  for (int tp = 1; tp <= 8; ++tp)
    for (int pp = 1; tp * pp <= 8; ++pp)
      for (int dp = 1; tp * pp * dp <= 8; ++dp) {
        const GridShape shape{tp, pp, dp};
        std::set<std::tuple<int, int, int>> seen;
        for (int rank = 0; rank < shape.size(); ++rank) {
          const GridCoordinates c = grid_coordinates(rank, shape);
          EXPECT_LT(c.tp, tp);
          EXPECT_LT(c.pp, pp);
          EXPECT_LT(c.dp, dp);
          EXPECT_EQ(grid_rank(c, shape), rank) << shape.text();
          seen.insert({c.tp, c.pp, c.dp});
        }
        EXPECT_EQ(static_cast<int>(seen.size()), shape.size());
      }
}

TEST(Grid, AWorldOfTheWrongSizeIsAClearError) {
  LocalCommunicator one;
  try {
    ProcessGrid grid(one, {1, 1, 3});
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "process grid tp 1 x pp 1 x dp 3 needs 3 ranks, but 1 were started (start it with mpiexec -n 3, or srun)");
  }
  ProcessGrid grid(one, {1, 1, 1});
  EXPECT_EQ(grid.dp().size(), 1);
  EXPECT_TRUE(grid.is_first_stage() && grid.is_last_stage());
  EXPECT_NE(grid.embedding(), nullptr);
}

TEST(Balance, LongestFirstToTheLeastLoadedRank) {
  EXPECT_EQ(assign_balanced({5, 1, 4, 2, 3}, 2), (std::vector<int>{0, 0, 1, 0, 1}));  // 5+2+1 | 4+3 (a tie: rank 0)
  EXPECT_EQ(assign_balanced({1, 1, 1, 1, 1}, 2), (std::vector<int>{0, 1, 0, 1, 0}));  // equal: round robin
  EXPECT_EQ(assign_balanced({0, 0, 7}, 3), (std::vector<int>{1, 2, 0}));
  EXPECT_EQ(tasks_of_rank({0, 1, 1, 0, 1}, 1), (std::vector<std::size_t>{1, 2, 4}));
  EXPECT_THROW(assign_balanced({1}, 0), Error);
}

TEST(LocalCommunicator, CollectivesOfOneRankAreCopies) {
  LocalCommunicator one;
  std::vector<float> data{1.5f, -2.0f};
  one.all_reduce(std::span<float>(data), ReduceOp::max);
  EXPECT_EQ(data, (std::vector<float>{1.5f, -2.0f}));
  std::vector<double> gathered(2);
  const std::vector<double> sent{3.0, 4.0};
  one.all_gather(std::span<const double>(sent), std::span<double>(gathered));
  EXPECT_EQ(gathered, sent);
  EXPECT_EQ(one.all_reduce<std::int64_t>(7, ReduceOp::sum), 7);
  EXPECT_THROW(one.send(std::span<const float>(data), 1), Error);
  EXPECT_EQ(one.split(-1, 0), nullptr);
}
