#include "dist/world.hpp"

#include <mpi.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>

#include "core/error.hpp"
#include "core/log.hpp"
#include "dist/mpi_communicator.hpp"

namespace xmtf::dist {

World::World(int& argc, char**& argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  log::set_rank(rank_, size_);
  watch_ = std::make_unique<PeerWatch>(MPI_COMM_WORLD);
  communicator_ = std::make_unique<MpiCommunicator>(MPI_COMM_WORLD, watch_.get());
}

World::~World() {
  communicator_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

bool World::agree(const std::function<void()>& work) {
  bool ok = true;
  try {
    work();
  } catch (const std::exception& e) {
    log::error("{}", e.what());
    ok = false;
  }
  return all_ok(ok);
}

bool World::all_ok(bool ok) { return communicator_->all_reduce<std::int32_t>(ok ? 1 : 0, ReduceOp::min) == 1; }

void World::abort(const std::string& message, int exit_code) {
  if (!message.empty()) log::error("{}", message);
  if (size_ > 1) MPI_Abort(MPI_COMM_WORLD, exit_code);
  communicator_.reset();
  MPI_Finalize();
  std::exit(exit_code);
}

int World::run(const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    if (size_ > 1) abort(e.what(), 1);
    log::error("{}", e.what());
    return 1;
  }
}

int World::cores_per_rank() const {
  cpu_set_t mask;
  const int cpus = ::sched_getaffinity(0, sizeof(mask), &mask) == 0 ? CPU_COUNT(&mask) : 1;
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  int ranks_here = 1;
  MPI_Comm_size(node, &ranks_here);
  MPI_Comm_free(&node);
  return std::max(1, cpus / ranks_here);
}

}  // namespace xmtf::dist
