#pragma once
// The hub's HTTP API as huggingface_hub uses it: resolve a revision to its commit
// (/api/{models|datasets}/{repo}/revision/{rev}), list the files of a commit with sizes and LFS
// sha256 (/api/.../tree/{commit}?recursive=true, paginated by Link headers), and the resolve URL
// of one file ({endpoint}[/datasets]/{repo}/resolve/{commit}/{path}).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hub/http.hpp"
#include "hub/settings.hpp"

namespace xmtf::hub {

enum class RepoKind { model, dataset };

struct RepoRef {
  std::string id;  // "org/name"
  RepoKind kind = RepoKind::model;
};

RepoKind parse_repo_kind(const std::string& text);  // "model" | "dataset"
const char* kind_name(RepoKind kind);                // "model" | "dataset"
// Throws unless id looks like "name" or "org/name" with the hub's allowed characters.
void validate_repo_id(const std::string& id);

// What the hub says is data, never a path: every name taken from an answer is checked against
// its format before it is used in a file name or a URL (see docs/hub.md, "Threat model").
bool is_commit_hash(const std::string& text);  // 40 lowercase hex digits
bool is_blob_oid(const std::string& text);     // 40 (git sha1) or 64 (sha256) lowercase hex digits
// Throws unless path is relative, '/'-separated, without '.', '..' or empty segments, '\\' or
// control characters: a repo file path cannot leave the snapshot folder.
void validate_repo_path(const std::string& path);

// Limits on what one hub answer can make us do.
struct HubLimits {
  std::size_t max_tree_pages = 10000;             // the hub serves 1,000 entries a page
  std::size_t max_api_body_bytes = 128ull << 20;  // one revision or tree answer, decoded
  std::uint64_t max_file_bytes = 1ull << 44;      // 16 TiB: larger sizes in a listing are refused
};

struct RemoteFile {
  std::string path;        // inside the repo, '/'-separated
  std::uint64_t size = 0;  // of the real content (the LFS object for LFS files)
  std::string git_oid;     // git blob sha1: the ETag of a file stored in git
  std::string lfs_sha256;  // empty unless stored with LFS: then its ETag and checksum

  bool is_lfs() const { return !lfs_sha256.empty(); }
  // The name huggingface_hub gives the blob in the cache: the file's normalised ETag.
  const std::string& blob_name() const { return is_lfs() ? lfs_sha256 : git_oid; }
};

// What a failed call was about, so that the message says which repo, revision and file.
struct RequestContext {
  const RepoRef* repo;
  std::string revision;
  std::string path;  // empty for repo-level calls
};

class HubClient {
 public:
  HubClient(HubSettings settings, RetryPolicy retry, HubLimits limits = {});

  std::string resolve_commit(const RepoRef& repo, const std::string& revision);
  std::vector<RemoteFile> list_files(const RepoRef& repo, const std::string& commit);
  std::string resolve_url(const RepoRef& repo, const std::string& commit, const std::string& path) const;

  const HubSettings& settings() const { return settings_; }
  const RetryPolicy& retry() const { return retry_; }
  // The token for a request to url: only when url has the endpoint's scheme, host and port.
  std::optional<std::string> token_for(const std::string& url) const;

  // The message for a failed request: 401/403 say how to provide a token (never the token),
  // 404 names the repo, revision and path.
  std::string failure_message(const HttpResponse& response, const RequestContext& context) const;

 private:
  HttpResponse get_with_retries(const std::string& url, const std::string& what);

  HubSettings settings_;
  RetryPolicy retry_;
  HubLimits limits_;
  HttpSession session_;
};

}  // namespace xmtf::hub
