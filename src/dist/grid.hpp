#pragma once
// The process grid: world = DP x PP x TP ranks with TP varying fastest, as Megatron-LM's
// parallel_state orders them (the ranks of one TP group are neighbours, so on one node):
//
//   global rank = tp + dp * TP + pp * TP * DP
//
// Each rank belongs to one group per dimension (the ranks that differ only in that coordinate)
// and, on the first and the last pipeline stage, to the embedding group (those two stages hold
// the tied word embeddings; their gradients are summed over it). Everything else asks the grid
// for its group and rank.
#include <memory>
#include <string>

#include "dist/communicator.hpp"

namespace xmtf::dist {

struct GridShape {
  int tp = 1;
  int pp = 1;
  int dp = 1;
  int size() const { return tp * pp * dp; }
  std::string text() const;  // "tp 2 x pp 1 x dp 4"
};

struct GridCoordinates {
  int tp = 0;
  int pp = 0;
  int dp = 0;
  bool operator==(const GridCoordinates&) const = default;
};

GridCoordinates grid_coordinates(int global_rank, const GridShape& shape);
int grid_rank(const GridCoordinates& coordinates, const GridShape& shape);

class ProcessGrid {
 public:
  // Collective over world. Throws xmtf::Error when world.size() differs from shape.size(), or a
  // dimension is < 1, naming both.
  ProcessGrid(Communicator& world, GridShape shape);

  const GridShape& shape() const { return shape_; }
  const GridCoordinates& coordinates() const { return coordinates_; }
  Communicator& world() { return world_; }
  Communicator& tp() { return *tp_; }
  Communicator& pp() { return *pp_; }
  Communicator& dp() { return *dp_; }
  // The first and last pipeline stage of this (tp, dp); null on the stages between.
  Communicator* embedding() { return embedding_.get(); }
  bool is_first_stage() const { return coordinates_.pp == 0; }
  bool is_last_stage() const { return coordinates_.pp == shape_.pp - 1; }

 private:
  Communicator& world_;
  GridShape shape_;
  GridCoordinates coordinates_;
  std::unique_ptr<Communicator> tp_, pp_, dp_, embedding_;
};

}  // namespace xmtf::dist
