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

namespace {

const std::string& checked_blob_name(const std::string& blob_name) {
  if (!is_blob_oid(blob_name)) fail("'{}' is not a blob name (an oid of 40 or 64 hex digits)", printable(blob_name));
  return blob_name;
}

}  // namespace

RepoCache::RepoCache(fs::path cache_dir, const RepoRef& repo)
    : cache_dir_(std::move(cache_dir)), root_(cache_dir_ / repo_folder_name(repo)) {}

fs::path RepoCache::blob_path(const std::string& blob_name) const { return root_ / "blobs" / checked_blob_name(blob_name); }

fs::path RepoCache::incomplete_path(const std::string& blob_name) const {
  return root_ / "blobs" / (checked_blob_name(blob_name) + ".incomplete");
}

fs::path RepoCache::parts_path(const std::string& blob_name) const {
  return root_ / "blobs" / (checked_blob_name(blob_name) + ".xmtf-parts");
}

fs::path RepoCache::parts_done_path(const std::string& blob_name) const {
  return root_ / "blobs" / (checked_blob_name(blob_name) + ".xmtf-parts.done");
}

fs::path RepoCache::lock_path(const std::string& blob_name) const {
  return cache_dir_ / ".locks" / root_.filename() / (checked_blob_name(blob_name) + ".lock");
}

fs::path RepoCache::snapshot_dir(const std::string& commit) const {
  if (!is_commit_hash(commit)) fail("'{}' is not a commit hash: no snapshot folder is named after it", printable(commit));
  return root_ / "snapshots" / commit;
}

fs::path RepoCache::snapshot_file(const std::string& commit, const std::string& path) const {
  validate_repo_path(path);
  fs::path folder = snapshot_dir(commit);
  // We only ever create real folders under a snapshot; a symlink there (left by someone else)
  // would lead the link we write, or the file we read, out of the cache.
  std::vector<std::string> segments = split(path, '/');
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    folder /= segments[i];
    std::error_code ec;
    fs::file_status status = fs::symlink_status(folder, ec);
    if (fs::is_symlink(status))
      fail("{} is a symbolic link; refusing to put {} through it (remove it and fetch again)", folder.string(), path);
    if (!fs::exists(status)) break;
  }
  return snapshot_dir(commit) / path;
}

std::optional<std::string> RepoCache::read_ref(const std::string& revision) const {
  fs::path path = root_ / "refs" / revision;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  std::string commit(trim(read_file(path)));
  // What a ref says becomes a folder name: the same check as the hub's answer gets.
  if (!is_commit_hash(commit))
    fail("{} holds '{}', not a commit hash; delete it and fetch once online", path.string(), printable(commit));
  return commit;
}

void RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  if (!is_commit_hash(commit)) fail("refusing to write '{}' as the commit of {}", printable(commit), revision);
  try {
    if (read_ref(revision) == commit) return;
  } catch (const Error& e) {
    log::warn("{}; rewriting it", e.what());  // online, the hub's answer replaces it
  }
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

bool RepoCache::snapshot_link_is(const std::string& commit, const std::string& path,
                                 const std::string& blob_name) const {
  fs::path link = snapshot_file(commit, path);
  std::error_code ec;
  fs::path target = fs::read_symlink(link, ec);
  return !ec && target == blob_path(blob_name).lexically_relative(link.parent_path());
}

std::string RepoCache::snapshot_entry_problem(const fs::path& link) const {
  std::error_code ec;
  fs::file_status status = fs::symlink_status(link, ec);
  if (!fs::is_symlink(status)) return fs::is_regular_file(status) ? "" : "not a file";
  fs::path target = fs::weakly_canonical(link.parent_path() / fs::read_symlink(link, ec), ec);
  fs::path blobs = fs::weakly_canonical(root_ / "blobs", ec);
  if (ec || target.parent_path() != blobs)
    return fmt::format("a link leading outside {} (to {})", (root_ / "blobs").string(), target.string());
  return fs::is_regular_file(target, ec) ? "" : "a dangling link";
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
