#include "core/fs.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <regex>

#include "core/error.hpp"
#include "core/text.hpp"

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

namespace {

// The pid in "<name>.tmp.<pid>.<n>", or nullopt for any other name.
std::optional<pid_t> temp_file_pid(const std::string& name) {
  static const std::regex pattern(R"(\.tmp\.([0-9]{1,9})\.[0-9]+$)");
  std::smatch match;
  if (!std::regex_search(name, match, pattern)) return std::nullopt;
  return static_cast<pid_t>(std::stol(match[1]));
}

bool process_alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

}  // namespace

TempFileLock::TempFileLock(const fs::path& temp_path) {
  // Best effort, as in AtomicFile: without flock the pid check alone protects the file.
  fd_ = ::open(temp_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ >= 0) ::flock(fd_, LOCK_EX | LOCK_NB);
}

TempFileLock::~TempFileLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

std::vector<fs::path> remove_stale_temp_files(const fs::path& folder, const std::string& final_name) {
  std::vector<fs::path> removed;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    std::string name = entry.path().filename().string();
    if (!final_name.empty() && !starts_with(name, final_name + ".tmp.")) continue;
    std::optional<pid_t> pid = temp_file_pid(name);
    if (!pid || *pid == ::getpid() || process_alive(*pid) || !entry.is_regular_file(ec) || entry.is_symlink(ec)) continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    // Held while unlinking, so a writer elsewhere that still has it is never robbed of it.
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0 && ::unlink(entry.path().c_str()) == 0) removed.push_back(entry.path());
    ::close(fd);
  }
  return removed;
}

AtomicFile::AtomicFile(fs::path final_path)
    : final_path_(std::move(final_path)), temp_path_(temp_path_beside(final_path_)) {
  if (final_path_.has_parent_path()) fs::create_directories(final_path_.parent_path());
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (!file_) fail("cannot create {}: {}", temp_path_.string(), errno_text(errno));
  // Locked while it exists under the temporary name (see remove_stale_temp_files). Best
  // effort: a file system without flock (Lustre mounted noflock) still gets its file.
  ::flock(::fileno(file_), LOCK_EX | LOCK_NB);
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    std::error_code ignored;
    fs::remove(temp_path_, ignored);  // before closing: the lock covers the file until it is gone
  }
  if (file_) std::fclose(file_);
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
  // Renamed while still open (and locked): there is no moment when the temporary file looks
  // abandoned to a cleaner.
  std::error_code ec;
  fs::rename(temp_path_, final_path_, ec);
  if (ec) fail("cannot rename {} to {}: {}", temp_path_.string(), final_path_.string(), ec.message());
  committed_ = true;
  int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0) fail("cannot close {}: {}", final_path_.string(), errno_text(errno));
  fsync_directory(final_path_.parent_path());
}

}  // namespace xmtf
