/* A tiny MPI program for the scheduler's end-to-end tests: rank 0 appends
   "ranks=<size> sum=<sum of rank+1>" to the file named by argv[1], proving that the launcher
   started one program of N ranks (a bare `srun` would start N programs of 1 rank). */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1, mine, sum = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  mine = rank + 1;
  MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0 && argc > 1) {
    FILE* out = fopen(argv[1], "a");
    if (!out) return 1;
    fprintf(out, "ranks=%d sum=%d\n", size, sum);
    fclose(out);
  }
  MPI_Finalize();
  return 0;
}
