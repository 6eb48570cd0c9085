#include "core/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "core/error.hpp"

namespace xmtf {

std::string errno_text(int error_number) { return std::strerror(error_number); }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}: {}", path.string(), errno_text(errno));
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) fail("cannot read {}", path.string());
  return contents;
}

std::string not_a_regular_file(const fs::path& path) {
  std::error_code ec;
  fs::file_status status = fs::status(path, ec);
  if (fs::is_regular_file(status)) return "";
  if (fs::is_symlink(fs::symlink_status(path, ec)) && !fs::exists(status))
    return "a dangling symbolic link to " + fs::read_symlink(path, ec).string();
  switch (status.type()) {
    case fs::file_type::not_found: return "missing";
    case fs::file_type::directory: return "a directory";
    case fs::file_type::fifo: return "a FIFO";
    case fs::file_type::socket: return "a socket";
    case fs::file_type::block:
    case fs::file_type::character: return "a device";
    default: return ec ? ec.message() : "not a regular file";
  }
}

fs::path temp_path_beside(const fs::path& final_path) {
  static std::atomic<unsigned> counter{0};
  return fs::path(final_path.string() + ".tmp." + std::to_string(::getpid()) + "." +
                  std::to_string(counter++));
}

void fsync_directory(const fs::path& directory) {
  int fd = ::open(directory.empty() ? "." : directory.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // some file systems refuse; the rename is still atomic
  ::fsync(fd);
  ::close(fd);
}

void write_file_atomic(const fs::path& path, std::string_view contents) {
  AtomicFile file(path);
  file.write(contents);
  file.commit();
}

AtomicFile::AtomicFile(fs::path final_path)
    : final_path_(std::move(final_path)), temp_path_(temp_path_beside(final_path_)) {
  if (final_path_.has_parent_path()) fs::create_directories(final_path_.parent_path());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) fail("cannot create {}: {}", temp_path_.string(), errno_text(errno));
}

AtomicFile::~AtomicFile() {
  if (file_) std::fclose(file_);
  if (!committed_) {
    std::error_code ignored;
    fs::remove(temp_path_, ignored);
  }
}

void AtomicFile::write(std::string_view bytes) {
  if (bytes.empty()) return;
  if (std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size())
    fail("cannot write {}: {}", temp_path_.string(), errno_text(errno));
  bytes_written_ += bytes.size();
}

void AtomicFile::commit() {
  if (std::fflush(file_) != 0 || ::fsync(::fileno(file_)) != 0)
    fail("cannot flush {}: {}", temp_path_.string(), errno_text(errno));
  std::fclose(file_);
  file_ = nullptr;
  std::error_code ec;
  fs::rename(temp_path_, final_path_, ec);
  if (ec) fail("cannot rename {} to {}: {}", temp_path_.string(), final_path_.string(), ec.message());
  committed_ = true;
  fsync_directory(final_path_.parent_path());
}

}  // namespace xmtf
