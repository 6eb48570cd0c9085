#pragma once
// snapshot_download in C++: resolve the revision, list and select files, fetch what the cache
// lacks with a pool of connections, link snapshots/{commit}/{path}, return the snapshot folder.
#include <cstdint>
#include <string>
#include <vector>

#include "core/fs.hpp"
#include "hub/api.hpp"
#include "hub/http.hpp"
#include "hub/settings.hpp"

namespace xmtf::hub {

struct FetchOptions {
  RepoRef repo;
  std::string revision = "main";
  std::vector<std::string> include;  // globs on repo paths; none = everything
  std::vector<std::string> exclude;
  int jobs = 8;                       // files at once (and ranges at once for one large file)
  std::uint64_t parallel_min_bytes = 64ull << 20;
  RetryPolicy retry;
};

struct FetchResult {
  fs::path snapshot_dir;
  std::size_t n_files = 0;            // selected
  std::size_t n_downloaded = 0;       // fetched over the network this time
  std::uint64_t bytes_downloaded = 0;
};

// Globs as core's glob_match ('*' within a path segment, '**' across); a pattern ending in '/'
// selects everything under that folder, as in huggingface_hub.
bool is_selected(const std::string& path, const std::vector<std::string>& include,
                 const std::vector<std::string>& exclude);

// Online: everything selected is present and verified on return, or an Error lists what failed.
// Offline (settings.offline): only the cache is read; an Error says what is missing.
FetchResult fetch_snapshot(const FetchOptions& options, const HubSettings& settings);

}  // namespace xmtf::hub
