// Measures two ways for R ranks to write tokenized data with parallel HDF5:
// Build: g++ -O2 -std=c++17 h5_layouts.cpp -o h5_layouts $(pkg-config --cflags --libs hdf5-mpich)
//  (a) one file per rank, default (sec2) driver, independent
//  (b) one shared file through MPI-IO, each rank a disjoint hyperslab, collective transfer
// Usage: mpiexec -n R h5_layouts DIR IDS_PER_RANK
#include <hdf5.h>
#include <mpi.h>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include <unistd.h>
#include <fcntl.h>

static void fsync_path(const std::string& p) { int fd = open(p.c_str(), O_RDONLY); fsync(fd); close(fd); }

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size; MPI_Comm_rank(MPI_COMM_WORLD, &rank); MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::string dir = argv[1]; hsize_t n = std::atoll(argv[2]);
  std::vector<int> ids(n); for (hsize_t i = 0; i < n; ++i) ids[i] = (int)((i * 2654435761u + rank) % 250880);
  hsize_t chunk = 1 << 18;
  // (a) file per rank
  MPI_Barrier(MPI_COMM_WORLD); double t0 = MPI_Wtime();
  {
    std::string path = dir + "/per_rank_" + std::to_string(rank) + ".h5";
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t sp = H5Screate_simple(1, &n, nullptr); hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE); H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(f, "ids", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids.data());
    H5Dclose(d); H5Pclose(dcpl); H5Sclose(sp); H5Fclose(f); fsync_path(path);
  }
  MPI_Barrier(MPI_COMM_WORLD); double t1 = MPI_Wtime();
  // (b) shared file, MPI-IO collective (contiguous dataset: chunked needs collective metadata too)
  {
    std::string path = dir + "/shared.h5";
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS); H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    hsize_t total = n * size; hid_t sp = H5Screate_simple(1, &total, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE); H5Pset_chunk(dcpl, 1, &chunk);
    hid_t d = H5Dcreate2(f, "ids", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    hsize_t start = n * rank; H5Sselect_hyperslab(sp, H5S_SELECT_SET, &start, nullptr, &n, nullptr);
    hid_t mem = H5Screate_simple(1, &n, nullptr);
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER); H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    H5Dwrite(d, H5T_NATIVE_INT, mem, sp, dxpl, ids.data());
    H5Pclose(dxpl); H5Sclose(mem); H5Dclose(d); H5Pclose(dcpl); H5Sclose(sp); H5Fclose(f); H5Pclose(fapl);
    if (rank == 0) fsync_path(path);
  }
  MPI_Barrier(MPI_COMM_WORLD); double t2 = MPI_Wtime();
  if (rank == 0) {
    double mib = 4.0 * n * size / (1 << 20);
    std::printf("ranks %d, %.0f MiB in total: file per rank %.2f s (%.0f MiB/s), shared file MPI-IO collective %.2f s (%.0f MiB/s)\n",
                size, mib, t1 - t0, mib / (t1 - t0), t2 - t1, mib / (t2 - t1));
  }
  MPI_Finalize();
}
