#include "hub/fetch.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "core/text.hpp"
#include "hub/cache.hpp"
#include "hub/download.hpp"

namespace xmtf::hub {
namespace {

bool blob_is_present(const RepoCache& cache, const RemoteFile& file) {
  std::error_code ec;
  fs::path blob = cache.blob_path(file.blob_name());
  return fs::is_regular_file(blob, ec) && fs::file_size(blob, ec) == file.size;
}

bool matches_any(const std::string& path, const std::vector<std::string>& patterns) {
  for (std::string pattern : patterns) {
    if (!pattern.empty() && pattern.back() == '/') pattern += "**";
    if (glob_match(pattern, path)) return true;
  }
  return false;
}

std::string describe_selection(const FetchOptions& options) {
  std::string text;
  if (!options.include.empty()) text += " --include " + join(options.include, " --include ");
  if (!options.exclude.empty()) text += " --exclude " + join(options.exclude, " --exclude ");
  return text.empty() ? " (no filter)" : text;
}

std::vector<RemoteFile> select_files(const std::vector<RemoteFile>& listing, const FetchOptions& options) {
  std::vector<RemoteFile> selected;
  for (const RemoteFile& file : listing)
    if (is_selected(file.path, options.include, options.exclude)) selected.push_back(file);
  if (selected.empty()) {
    std::vector<std::string> examples;
    for (std::size_t i = 0; i < listing.size() && i < 8; ++i) examples.push_back(listing[i].path);
    fail("no file of {} {} at {} matches{} ({} files in the repo, e.g. {})", kind_name(options.repo.kind),
         options.repo.id, options.revision, describe_selection(options), listing.size(), join(examples, ", "));
  }
  return selected;
}

FetchResult fetch_offline(const FetchOptions& options, const HubSettings& settings) {
  RepoCache cache(settings.cache_dir, options.repo);
  std::string subject = fmt::format("{} {} at revision {}", kind_name(options.repo.kind), options.repo.id,
                                    options.revision);
  auto commit = cache.cached_commit(options.revision);
  if (!commit)
    fail("HF_HUB_OFFLINE is set and {} is not in the cache {} (no {}): fetch it once online, or unset HF_HUB_OFFLINE",
         subject, settings.cache_dir.string(), (cache.root() / "refs" / options.revision).string());
  FetchResult result;
  result.snapshot_dir = cache.snapshot_dir(*commit);
  std::error_code ec;
  if (!fs::is_directory(result.snapshot_dir, ec))
    fail("HF_HUB_OFFLINE is set and {} has no snapshot in the cache ({} is missing)", subject,
         result.snapshot_dir.string());
  std::vector<std::string> problems;
  for (const auto& entry : fs::recursive_directory_iterator(result.snapshot_dir)) {
    if (entry.is_directory()) continue;
    std::string path = entry.path().lexically_relative(result.snapshot_dir).generic_string();
    if (!is_selected(path, options.include, options.exclude)) continue;
    // A link is followed only into this repo's blobs/: an old or foreign cache entry pointing
    // elsewhere is reported, not read.
    std::string problem = cache.snapshot_entry_problem(entry.path());
    if (problem.empty()) {
      ++result.n_files;
    } else {
      problems.push_back(fmt::format("{} ({})", path, problem));
    }
  }
  if (!problems.empty())
    fail("HF_HUB_OFFLINE is set and {} file(s) of {} are missing from the cache or not trusted: {}", problems.size(),
         subject, join(problems, ", "));
  if (result.n_files == 0)
    fail("HF_HUB_OFFLINE is set and no cached file of {} matches{} in {}", subject, describe_selection(options),
         result.snapshot_dir.string());
  log::info("offline: {} cached file(s) of {} selected", result.n_files, subject);
  return result;
}

// Sizes come from the hub: before anything is written, the bytes still to come must fit on the
// cache's file system (a full disk mid-way, or a listing claiming petabytes, fails up front).
void require_free_space(const RepoCache& cache, const std::vector<BlobRequest>& requests) {
  std::uint64_t needed = 0;
  for (const BlobRequest& request : requests) {
    std::error_code ec;
    std::uint64_t have = fs::file_size(cache.incomplete_path(request.file.blob_name()), ec);
    needed += request.file.size - (ec || have > request.file.size ? 0 : have);
  }
  fs::path blobs = cache.blob_path(requests.front().file.blob_name()).parent_path();
  fs::create_directories(blobs);
  std::error_code ec;
  fs::space_info space = fs::space(blobs, ec);
  if (!ec && needed > space.available)
    fail("the selected files need {} more but {} has only {} free", format_bytes(static_cast<double>(needed)),
         blobs.string(), format_bytes(static_cast<double>(space.available)));
}

// Runs download_blob for every request on `jobs` threads; failures are collected, not fatal to
// the other files.
std::vector<std::string> download_all(const std::vector<BlobRequest>& requests, const HubClient& client,
                                      const RepoCache& cache, const FetchOptions& options, FetchResult& result) {
  std::uint64_t total_bytes = 0;
  for (const auto& request : requests) total_bytes += request.file.size;
  log::info("downloading {} file(s), {}, {} at a time", requests.size(), format_bytes(total_bytes),
            std::min<std::size_t>(options.jobs, requests.size()));
  Progress progress("download", total_bytes, Progress::Unit::bytes);
  DownloadOptions download_options;
  download_options.retry = options.retry;
  download_options.parallel_ranges = options.jobs;
  download_options.parallel_min_bytes = options.parallel_min_bytes;

  std::atomic<std::size_t> next{0};
  std::mutex mutex;
  std::vector<std::string> failures;
  auto worker = [&] {
    HttpSession session;
    for (std::size_t index; (index = next++) < requests.size();) {
      try {
        std::uint64_t bytes = download_blob(session, client, cache, requests[index], download_options, progress);
        std::lock_guard lock(mutex);
        result.bytes_downloaded += bytes;
        if (bytes > 0 || requests[index].file.size == 0) ++result.n_downloaded;
      } catch (const std::exception& e) {  // Error, or a filesystem error: never out of the thread
        log::error("{}", e.what());
        std::lock_guard lock(mutex);
        failures.push_back(requests[index].file.path);
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < std::min<std::size_t>(options.jobs, requests.size()); ++i) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();
  progress.finish();
  return failures;
}

}  // namespace

bool is_selected(const std::string& path, const std::vector<std::string>& include,
                 const std::vector<std::string>& exclude) {
  if (!include.empty() && !matches_any(path, include)) return false;
  return !matches_any(path, exclude);
}

FetchResult fetch_snapshot(const FetchOptions& options, const HubSettings& settings) {
  validate_repo_id(options.repo.id);
  // The revision names a file under refs/ (branches may hold '/', as refs/pr/1): no escaping it.
  try {
    validate_repo_path(options.revision);
  } catch (const Error&) {
    fail("invalid --revision '{}'", options.revision);
  }
  if (options.jobs < 1) fail("--jobs must be at least 1");
  if (settings.offline) return fetch_offline(options, settings);

  HubClient client(settings, options.retry);
  log::info("{} {} at {} from {}{}", kind_name(options.repo.kind), options.repo.id, options.revision,
            settings.endpoint, settings.token ? " (authenticated with the token from " + settings.token_source + ")" : "");
  std::string commit = client.resolve_commit(options.repo, options.revision);
  std::vector<RemoteFile> selected = select_files(client.list_files(options.repo, commit), options);

  RepoCache cache(settings.cache_dir, options.repo);
  if (options.revision != commit) cache.write_ref(options.revision, commit);
  FetchResult result;
  result.snapshot_dir = cache.snapshot_dir(commit);
  result.n_files = selected.size();

  std::vector<BlobRequest> to_download;
  std::size_t n_cached = 0;
  std::size_t n_linked = 0;
  for (const RemoteFile& file : selected) {
    if (cache.snapshot_link_is(commit, file.path, file.blob_name()) && blob_is_present(cache, file)) {
      ++n_cached;
    } else if (blob_is_present(cache, file)) {  // same content in another revision or file
      cache.link_snapshot_file(commit, file.path, file.blob_name());
      ++n_linked;
    } else {
      to_download.push_back(
          {file, client.resolve_url(options.repo, commit, file.path), {&options.repo, commit, file.path}});
    }
  }
  log::info("commit {}: {} file(s) selected, {} already in the snapshot, {} linked to blobs already in the cache {}",
            commit, selected.size(), n_cached, n_linked, settings.cache_dir.string());
  if (to_download.empty()) return result;

  require_free_space(cache, to_download);
  // Largest first: a big file started last would leave the other connections idle.
  std::sort(to_download.begin(), to_download.end(),
            [](const BlobRequest& a, const BlobRequest& b) { return a.file.size > b.file.size; });
  std::vector<std::string> failures = download_all(to_download, client, cache, options, result);
  for (const BlobRequest& request : to_download)
    if (std::find(failures.begin(), failures.end(), request.file.path) == failures.end())
      cache.link_snapshot_file(commit, request.file.path, request.file.blob_name());
  if (!failures.empty())
    fail("{} of {} file(s) could not be fetched: {} (completed files are kept; rerun to resume)", failures.size(),
         to_download.size(), join(failures, ", "));
  log::info("fetched {} file(s), {} downloaded", result.n_downloaded, format_bytes(result.bytes_downloaded));
  return result;
}

}  // namespace xmtf::hub
