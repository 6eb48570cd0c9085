#pragma once
// huggingface_hub's cache layout, so a Python user's cache and ours are one cache:
//   {cache}/{models|datasets}--{org}--{name}/
//     blobs/{etag}                     file contents, named by ETag (git sha1 or LFS sha256)
//     blobs/{etag}.incomplete          a download in progress (a contiguous prefix; resumable)
//     snapshots/{commit}/{path}        relative symlinks to ../../blobs/{etag}
//     refs/{revision}                  the commit a branch or tag pointed to, no newline
//   {cache}/.locks/{repo folder}/{etag}.lock  flock'd while a blob is written (as filelock does)
#include <optional>
#include <string>

#include "core/fs.hpp"
#include "hub/api.hpp"

namespace xmtf::hub {

std::string repo_folder_name(const RepoRef& repo);  // "models--org--name"

// Every path is made here, from names checked first (blob names are oids, commits are commit
// hashes, repo paths pass validate_repo_path, no folder under a snapshot is a symlink): a name
// that could lead outside the cache throws instead of naming a file.
class RepoCache {
 public:
  RepoCache(fs::path cache_dir, const RepoRef& repo);

  const fs::path& root() const { return root_; }
  fs::path blob_path(const std::string& blob_name) const;
  fs::path incomplete_path(const std::string& blob_name) const;
  fs::path parts_path(const std::string& blob_name) const;       // our parallel download
  fs::path parts_done_path(const std::string& blob_name) const;  // its finished part numbers
  fs::path lock_path(const std::string& blob_name) const;
  fs::path snapshot_dir(const std::string& commit) const;
  fs::path snapshot_file(const std::string& commit, const std::string& path) const;

  // refs/{revision}: nullopt when absent; throws when it holds anything but a commit hash.
  std::optional<std::string> read_ref(const std::string& revision) const;
  void write_ref(const std::string& revision, const std::string& commit) const;
  // The commit of revision: itself when it is a commit hash, else refs/{revision}.
  std::optional<std::string> cached_commit(const std::string& revision) const;

  // True when snapshots/{commit}/{path} exists and leads to an existing file.
  bool has_snapshot_file(const std::string& commit, const std::string& path) const;
  // True when snapshots/{commit}/{path} is our link to blobs/{blob_name} (not another blob).
  bool snapshot_link_is(const std::string& commit, const std::string& path, const std::string& blob_name) const;
  // "" when the file at link (a snapshot entry) is a link into this repo's blobs/ or a plain
  // file, else what is wrong with it.
  std::string snapshot_entry_problem(const fs::path& link) const;
  // Points snapshots/{commit}/{path} at blobs/{blob_name} with a relative symlink (replacing a
  // dangling or different one atomically).
  void link_snapshot_file(const std::string& commit, const std::string& path, const std::string& blob_name) const;

 private:
  fs::path cache_dir_;
  fs::path root_;
};

// An exclusive flock on a lock file (created if missing), released on destruction. Python's
// filelock uses flock on Unix too, so both tools exclude each other on the same blob.
class FileLock {
 public:
  explicit FileLock(const fs::path& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace xmtf::hub
