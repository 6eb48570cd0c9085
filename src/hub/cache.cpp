#include "hub/cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <regex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::hub {

std::string repo_folder_name(const RepoRef& repo) {
  std::string name = std::string(kind_name(repo.kind)) + "s";
  for (const std::string& part : split(repo.id, '/')) name += "--" + part;
  return name;
}

bool is_commit_hash(const std::string& revision) {
  static const std::regex pattern("^[0-9a-f]{40}$");
  return std::regex_match(revision, pattern);
}

void validate_repo_path(const std::string& path) {
  if (path.empty() || path.front() == '/') fail("invalid file path '{}' in the repo listing", path);
  for (const std::string& segment : split(path, '/'))
    if (segment.empty() || segment == "." || segment == "..") fail("invalid file path '{}' in the repo listing", path);
}

RepoCache::RepoCache(fs::path cache_dir, const RepoRef& repo)
    : cache_dir_(std::move(cache_dir)), root_(cache_dir_ / repo_folder_name(repo)) {}

fs::path RepoCache::blob_path(const std::string& blob_name) const { return root_ / "blobs" / blob_name; }

fs::path RepoCache::incomplete_path(const std::string& blob_name) const {
  return root_ / "blobs" / (blob_name + ".incomplete");
}

fs::path RepoCache::lock_path(const std::string& blob_name) const {
  return cache_dir_ / ".locks" / root_.filename() / (blob_name + ".lock");
}

fs::path RepoCache::snapshot_dir(const std::string& commit) const { return root_ / "snapshots" / commit; }

fs::path RepoCache::snapshot_file(const std::string& commit, const std::string& path) const {
  return snapshot_dir(commit) / path;
}

std::optional<std::string> RepoCache::read_ref(const std::string& revision) const {
  fs::path path = root_ / "refs" / revision;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::string commit(trim(read_file(path)));
  if (commit.empty()) return std::nullopt;
  return commit;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (read_ref(revision) == commit) return;
  write_file_atomic(root_ / "refs" / revision, commit);
}

std::optional<std::string> RepoCache::cached_commit(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  return read_ref(revision);
}

bool RepoCache::has_snapshot_file(const std::string& commit, const std::string& path) const {
  std::error_code ec;
  return fs::is_regular_file(snapshot_file(commit, path), ec);  // follows the link
}

void RepoCache::link_snapshot_file(const std::string& commit, const std::string& path,
                                   const std::string& blob_name) const {
  fs::path link = snapshot_file(commit, path);
  fs::create_directories(link.parent_path());
  // Relative, as huggingface_hub makes it: the cache folder can be moved or mounted elsewhere.
  fs::path target = blob_path(blob_name).lexically_relative(link.parent_path());
  std::error_code ec;
  if (fs::is_symlink(fs::symlink_status(link, ec)) && fs::read_symlink(link, ec) == target) return;
  fs::path temp = temp_path_beside(link);
  fs::create_symlink(target, temp);
  fs::rename(temp, link, ec);
  if (ec) {
    fs::remove(temp);
    fail("cannot create the snapshot link {}: {}", link.string(), ec.message());
  }
}

FileLock::FileLock(const fs::path& path) {
  fs::create_directories(path.parent_path());
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot open the lock file {}: {}", path.string(), errno_text(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
  log::info("waiting for {} (another process is downloading the same blob)", path.string());
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno != EINTR) fail("cannot lock {}: {}", path.string(), errno_text(errno));
  }
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the flock
}

}  // namespace xmtf::hub
