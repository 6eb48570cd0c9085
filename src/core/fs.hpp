#pragma once
// File helpers with crash safety: every output is written to a temporary name in the same
// folder, fsync'd, then renamed over the final name (and the folder fsync'd), so a reader sees
// either the old file or the complete new one, never a torn one.
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace xmtf {

namespace fs = std::filesystem;

std::string read_file(const fs::path& path);
void write_file_atomic(const fs::path& path, std::string_view contents);
void fsync_directory(const fs::path& directory);

// Streaming counterpart of write_file_atomic: write() many times, then commit(). Destroyed
// without commit() (an exception, a crash) it removes its temporary file and leaves the final
// name untouched.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path final_path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  void commit();
  std::FILE* stream() { return file_; }
  const fs::path& temp_path() const { return temp_path_; }
  const fs::path& final_path() const { return final_path_; }
  std::uint64_t bytes_written() const { return bytes_written_; }

 private:
  fs::path final_path_;
  fs::path temp_path_;
  std::FILE* file_ = nullptr;
  std::uint64_t bytes_written_ = 0;
  bool committed_ = false;
};

// "" when path is (or links to) a regular file, else what it is instead: "a dangling symbolic
// link to X" (an HF snapshot whose blob is missing), "a directory", "a FIFO"... For inputs found
// by listing a folder: such an entry is an error to report, never one to skip silently.
std::string not_a_regular_file(const fs::path& path);

// A unique temporary name next to final_path ("name.tmp.<pid>.<counter>").
fs::path temp_path_beside(const fs::path& final_path);

// Every writer of a temporary file holds an exclusive flock on it until the file is renamed
// into place or removed, so that a cleaner can tell a file in use (by this host or, on file
// systems with coherent locks such as Lustre, NFSv4 or GPFS, by another node) from one a killed
// run left behind. AtomicFile does this itself; other writers (HDF5) hold one of these. Best
// effort: where flock is unsupported, the pid check of remove_stale_temp_files remains.
class TempFileLock {
 public:
  explicit TempFileLock(const fs::path& temp_path);
  ~TempFileLock();
  TempFileLock(const TempFileLock&) = delete;
  TempFileLock& operator=(const TempFileLock&) = delete;

 private:
  int fd_ = -1;
};

// Removes the temporary files ("<name>.tmp.<pid>.<n>") in folder (not below it) that a killed
// run left: not this process's, its pid not alive on this host, and nobody holding its lock.
// Concurrent runs writing into the same folder keep theirs. With final_name, only the
// temporaries of that one file (for a writer that alone writes it). Returns what it removed.
std::vector<fs::path> remove_stale_temp_files(const fs::path& folder, const std::string& final_name = "");

}  // namespace xmtf
