#pragma once
// One blob into the cache: download to blobs/{etag}.incomplete (resuming a previous partial
// download with an HTTP Range), verify (LFS: sha256; git files: git blob sha1 and size), then
// rename to blobs/{etag}. A file that fails verification is deleted, never kept.
#include <cstdint>
#include <string>

#include "core/progress.hpp"
#include "core/sha256.hpp"
#include "hub/api.hpp"
#include "hub/cache.hpp"
#include "hub/http.hpp"

namespace xmtf::hub {

struct DownloadOptions {
  RetryPolicy retry;
  // Large files are fetched as this many ranges at once when the server allows ranges
  // (1 disables it); only files of at least parallel_min_bytes.
  int parallel_ranges = 1;
  std::uint64_t parallel_min_bytes = 64ull << 20;
};

struct BlobRequest {
  RemoteFile file;
  std::string url;  // the resolve URL (it may redirect to the CDN)
  RequestContext context;
};

// Holds the blob's lock while it works, so a second process (or huggingface_hub) fetching the
// same blob waits and then finds it in place. Returns the number of bytes downloaded.
std::uint64_t download_blob(HttpSession& session, const HubClient& client, const RepoCache& cache,
                            const BlobRequest& request, const DownloadOptions& options, Progress& progress);

// The digest a blob's content is checked with, fed as bytes arrive: sha256 for LFS files, the
// git blob id (sha1 of "blob <size>\0" + content) for files stored in git.
class ContentHasher {
 public:
  explicit ContentHasher(const RemoteFile& file);
  void restart();
  void update(std::string_view bytes);
  void update_from_file(const fs::path& path, std::uint64_t n_bytes);  // its first n_bytes
  std::string hex_digest();  // call once per restart

 private:
  const RemoteFile& file_;
  Digest digest_;
};

// What is wrong with content of n_bytes and digest (from ContentHasher) as file; "" when right.
std::string content_problem(const RemoteFile& file, std::uint64_t n_bytes, const std::string& digest);

// The checks a blob's content must pass: sha256 for LFS files, git blob sha1 for git files; size
// for both. Returns "" when it passes, else what is wrong.
std::string verify_blob_file(const fs::path& path, const RemoteFile& file);

// sha1("blob <size>\0" + content) in hex: a git blob id.
std::string git_blob_sha1_file(const fs::path& path);

}  // namespace xmtf::hub
