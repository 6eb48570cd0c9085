#include "dist/grid.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace xmtf::dist {

std::string GridShape::text() const { return fmt::format("tp {} x pp {} x dp {}", tp, pp, dp); }

GridCoordinates grid_coordinates(int global_rank, const GridShape& shape) {
  GridCoordinates c;
  c.tp = global_rank % shape.tp;
  c.dp = (global_rank / shape.tp) % shape.dp;
  c.pp = global_rank / (shape.tp * shape.dp);
  return c;
}

int grid_rank(const GridCoordinates& c, const GridShape& shape) { return c.tp + c.dp * shape.tp + c.pp * shape.tp * shape.dp; }

ProcessGrid::ProcessGrid(Communicator& world, GridShape shape) : world_(world), shape_(shape) {
  if (shape.tp < 1 || shape.pp < 1 || shape.dp < 1) fail("process grid {}: every dimension must be at least 1", shape.text());
  if (shape.size() != world.size()) {
    fail("process grid {} needs {} ranks, but {} were started{}", shape.text(), shape.size(), world.size(),
         world.size() == 1 ? " (start it with mpiexec -n " + std::to_string(shape.size()) + ", or srun)" : "");
  }
  coordinates_ = grid_coordinates(world.rank(), shape);
  const GridCoordinates& c = coordinates_;
  // A group is the ranks that share every other coordinate; its color encodes those, its key
  // orders the members by the varying one.
  tp_ = world.split(c.dp + c.pp * shape.dp, c.tp);
  dp_ = world.split(c.tp + c.pp * shape.tp, c.dp);
  pp_ = world.split(c.tp + c.dp * shape.tp, c.pp);
  const bool holds_embedding = is_first_stage() || is_last_stage();
  embedding_ = world.split(holds_embedding ? c.tp + c.dp * shape.tp : -1, c.pp);
}

}  // namespace xmtf::dist
