/* A tiny MPI program for the scheduler's end-to-end tests: rank 0 appends
   "ranks=<size> sum=<sum of rank+1>" to the file named by argv[1], proving that the launcher
   started one program of N ranks (a bare `srun` would start N programs of 1 rank).
   With a second argument "die", the last rank kills itself (SIGKILL) while rank 0 waits in
   MPI_Recv for a message from it that never comes: the launcher must end the whole program.
   With "hang", every rank waits for a message that never comes (to be killed from outside). */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 1, mine, sum = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  mine = rank + 1;
  MPI_Allreduce(&mine, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (argc > 2 && strcmp(argv[2], "die") == 0 && size > 1) {
    if (rank == size - 1) raise(SIGKILL);
    int never = 0;
    if (rank == 0) MPI_Recv(&never, 1, MPI_INT, size - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  if (argc > 2 && strcmp(argv[2], "hang") == 0 && size > 1) {
    int never = 0;
    MPI_Recv(&never, 1, MPI_INT, (rank + 1) % size, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  if (rank == 0 && argc > 1) {
    FILE* out = fopen(argv[1], "a");
    if (!out) return 1;
    fprintf(out, "ranks=%d sum=%d\n", size, sum);
    fclose(out);
  }
  MPI_Finalize();
  return 0;
}
