#include "hub/download.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "core/block_writer.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::hub {
namespace {

std::uint64_t file_size_or_zero(const fs::path& path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return ec ? 0 : size;
}

void remove_quietly(const fs::path& path) {
  std::error_code ignored;
  fs::remove(path, ignored);
}

// Renames the finished temporary file to the blob name, unless its check found a problem: then
// the file is deleted.
void install_if_verified(const fs::path& temp, const fs::path& blob, const BlobRequest& request,
                         const std::string& problem) {
  if (!problem.empty()) {
    remove_quietly(temp);
    fail("{} ({} {}): {}; the downloaded file was deleted, rerun to fetch it again", request.file.path,
         kind_name(request.context.repo->kind), request.context.repo->id, problem);
  }
  std::error_code ec;
  fs::rename(temp, blob, ec);
  if (ec) fail("cannot move {} to {}: {}", temp.string(), blob.string(), ec.message());
  fsync_directory(blob.parent_path());
}

HttpRequest base_request(const HubClient& client, const std::string& url) {
  HttpRequest request;
  request.url = url;
  request.bearer_token = client.token_for(url);
  return request;
}

// One stream into blobs/{etag}.incomplete, appending to what an earlier run (ours or
// huggingface_hub's) left there.
std::uint64_t download_sequential(HttpSession& session, const HubClient& client, const RepoCache& cache,
                                  const BlobRequest& request, const DownloadOptions& options,
                                  Progress& progress) {
  const RemoteFile& file = request.file;
  fs::path incomplete = cache.incomplete_path(file.blob_name());
  std::uint64_t have = file_size_or_zero(incomplete);
  if (have > file.size) {  // not a prefix of this file: start over
    std::error_code ec;
    fs::resize_file(incomplete, 0, ec);
    if (ec) fail("cannot truncate {}: {}", incomplete.string(), ec.message());
    have = 0;
  }
  if (have > 0) log::info("{}: resuming at {} of {}", file.path, format_bytes(have), format_bytes(file.size));
  // Hashed as it arrives (on the writer's I/O thread), so verification costs no second read.
  ContentHasher hasher(file);
  hasher.update_from_file(incomplete, have);
  BlockWriter::Options writer_options;
  writer_options.consume = [&hasher](std::string_view bytes) { hasher.update(bytes); };
  auto writer = std::make_unique<BlockWriter>(incomplete, have, std::move(writer_options));

  std::uint64_t downloaded = 0;
  bool first_chunk = true;
  bool too_long = false;
  auto make_request = [&] {
    HttpRequest http = base_request(client, request.url);
    if (have > 0) http.range_first = have;
    first_chunk = true;
    http.sink = [&](long status, std::string_view bytes) {
      if (first_chunk && status == 200 && have > 0) {  // the server ignored our Range
        writer->restart();
        have = 0;
        hasher.restart();
      }
      first_chunk = false;
      if (have + bytes.size() > file.size) return !(too_long = true);
      writer->write(bytes);
      have += bytes.size();
      downloaded += bytes.size();
      progress.add(bytes.size());
      return true;
    };
    return http;
  };

  HttpResponse response;
  if (have < file.size || file.size == 0) {
    response = perform_with_retries(session, options.retry, file.path, make_request);
  } else {
    response.status = 206;  // complete from an earlier run; only verification is left
  }
  if (too_long) {
    writer.reset();
    remove_quietly(incomplete);
    fail("{}: the server sent more than the {} bytes the listing announced", file.path, file.size);
  }
  writer->finish();  // the rest written, fsync'd; the hash has seen every byte
  bool range_already_complete = response.status == 416 && have == file.size;
  if (!response.ok() && !range_already_complete) throw Error(client.failure_message(response, request.context));
  install_if_verified(incomplete, cache.blob_path(file.blob_name()), request,
                      content_problem(file, have, hasher.hex_digest()));
  return downloaded;
}

// Large files: the byte range split into parts fetched by several connections into
// blobs/{etag}.xmtf-parts (not .incomplete: that name promises a contiguous prefix to
// huggingface_hub). Finished part numbers are appended to .xmtf-parts.done so an interrupted
// download resumes part by part.
struct PartPlan {
  std::uint64_t part_bytes;
  std::size_t n_parts;
};

// About four parts per connection, so that a slow part does not leave the others idle at the end.
PartPlan plan_parts(std::uint64_t size, int parallel_ranges) {
  std::uint64_t part_bytes = std::max<std::uint64_t>(64ull << 10, size / (4ull * parallel_ranges) + 1);
  return {part_bytes, static_cast<std::size_t>((size + part_bytes - 1) / part_bytes)};
}

// The done file starts with "part-bytes N": part numbers only mean something for the plan that
// wrote them, and the plan depends on --jobs, which a rerun may change.
std::string done_header(const PartPlan& plan) { return fmt::format("part-bytes {}", plan.part_bytes); }

// The parts an earlier run finished with the same plan; empty for another plan (or none).
std::set<std::size_t> read_done_parts(const fs::path& path, const PartPlan& plan) {
  std::set<std::size_t> done;
  std::ifstream in(path);
  std::string header;
  if (!std::getline(in, header) || header != done_header(plan)) return done;
  for (std::size_t part; in >> part;)
    if (part < plan.n_parts) done.insert(part);
  return done;
}

std::uint64_t download_parallel(const std::string& direct_url, const HubClient& client, const RepoCache& cache,
                                const BlobRequest& request, const DownloadOptions& options, Progress& progress) {
  const RemoteFile& file = request.file;
  fs::path parts_path = cache.parts_path(file.blob_name());
  fs::path done_path = cache.parts_done_path(file.blob_name());
  bool had_parts = fs::exists(parts_path);
  int fd = ::open(parts_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("cannot open {}: {}", parts_path.string(), errno_text(errno));
  if (::ftruncate(fd, static_cast<off_t>(file.size)) != 0) fail("cannot size {}", parts_path.string());

  PartPlan plan = plan_parts(file.size, options.parallel_ranges);
  std::set<std::size_t> done;
  if (had_parts) done = read_done_parts(done_path, plan);
  std::vector<std::size_t> todo;
  for (std::size_t part = 0; part < plan.n_parts; ++part)
    if (!done.count(part)) todo.push_back(part);
  if (!done.empty()) log::info("{}: resuming, {} of {} parts already here", file.path, done.size(), plan.n_parts);

  std::atomic<std::size_t> next{0};
  std::atomic<std::uint64_t> downloaded{0};
  std::mutex failure_mutex;  // guards failure, part_ready and done_file
  std::condition_variable part_finished;
  std::string failure;
  std::vector<char> part_ready(plan.n_parts, 0);
  for (std::size_t part : done) part_ready[part] = 1;
  // Appended to when it holds this plan's parts, else started afresh with the header.
  std::FILE* done_file = std::fopen(done_path.c_str(), done.empty() ? "w" : "a");
  if (!done_file) fail("cannot open {}: {}", done_path.string(), errno_text(errno));
  if (done.empty()) {
    std::fprintf(done_file, "%s\n", done_header(plan).c_str());
    std::fflush(done_file);
  }

  auto worker_loop = [&] {
    HttpSession session;
    for (std::size_t index; (index = next++) < todo.size();) {
      std::size_t part = todo[index];
      std::uint64_t first = part * plan.part_bytes;
      std::uint64_t last = std::min(file.size, first + plan.part_bytes) - 1;
      std::uint64_t position = first;
      bool write_failed = false;
      HttpResponse response = perform_with_retries(session, options.retry, file.path, [&] {
        // A redirect target (the CDN) gets no token: base_request gives it to the hub only.
        HttpRequest http = base_request(client, direct_url);
        http.range_first = position;
        http.range_last = last;
        http.sink = [&](long status, std::string_view bytes) {
          if (status != 206 || position + bytes.size() > last + 1) return !(write_failed = true);
          if (::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(position)) !=
              static_cast<ssize_t>(bytes.size()))
            return !(write_failed = true);
          position += bytes.size();
          downloaded += bytes.size();
          progress.add(bytes.size());
          return true;
        };
        return http;
      });
      std::lock_guard lock(failure_mutex);
      if (!response.ok() || write_failed || position != last + 1) {
        if (failure.empty())
          failure = write_failed ? fmt::format("{}: bad range answer or write error at byte {}", file.path, position)
                                 : client.failure_message(response, request.context);
        next = todo.size();  // stop the other workers
        part_finished.notify_all();
        return;
      }
      std::fprintf(done_file, "%zu\n", part);
      std::fflush(done_file);
      part_ready[part] = 1;
      part_finished.notify_all();
    }
  };
  auto worker = [&] {  // an exception must not escape a thread
    try {
      worker_loop();
    } catch (const std::exception& e) {
      std::lock_guard lock(failure_mutex);
      if (failure.empty()) failure = fmt::format("{}: {}", file.path, e.what());
      next = todo.size();
      part_finished.notify_all();
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < std::min<int>(options.parallel_ranges, static_cast<int>(todo.size())); ++i)
    threads.emplace_back(worker);
  // Meanwhile this thread hashes the parts in order as they land, so that verification
  // overlaps the download instead of reading the whole file again at the end.
  ContentHasher hasher(file);
  std::uint64_t n_hashed = 0;
  std::vector<char> buffer(1 << 20);
  for (std::size_t part = 0; part < plan.n_parts; ++part) {
    {
      std::unique_lock lock(failure_mutex);
      part_finished.wait(lock, [&] { return part_ready[part] || !failure.empty(); });
      if (!failure.empty()) break;
    }
    std::uint64_t end = std::min(file.size, (part + 1) * plan.part_bytes);
    while (n_hashed < end) {
      std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), end - n_hashed));
      ssize_t got = ::pread(fd, buffer.data(), chunk, static_cast<off_t>(n_hashed));
      if (got <= 0) {  // no throw here: the workers must be joined first
        std::lock_guard lock(failure_mutex);
        failure = fmt::format("cannot read {}: {}", parts_path.string(), errno_text(errno));
        next = todo.size();
        break;
      }
      hasher.update({buffer.data(), static_cast<std::size_t>(got)});
      n_hashed += static_cast<std::uint64_t>(got);
    }
  }
  for (auto& thread : threads) thread.join();
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  std::fclose(done_file);
  if (!failure.empty()) throw Error(failure);
  if (!synced) fail("cannot flush {}: {}", parts_path.string(), errno_text(errno));
  remove_quietly(done_path);
  install_if_verified(parts_path, cache.blob_path(file.blob_name()), request,
                      content_problem(file, n_hashed, hasher.hex_digest()));
  return downloaded;
}

// Parallel ranges pay off only for big files on a server that honours Range: asks for the
// first byte (following the redirect to the CDN) and returns the final URL if it answered 206.
std::optional<std::string> range_capable_url(HttpSession& session, const HubClient& client,
                                             const BlobRequest& request, const DownloadOptions& options) {
  HttpResponse probe = perform_with_retries(session, options.retry, request.file.path, [&] {
    HttpRequest http = base_request(client, request.url);
    http.range_first = 0;
    http.range_last = 0;
    http.sink = [](long status, std::string_view) { return status == 206; };  // no whole file
    return http;
  });
  if (probe.aborted_by_sink && probe.status == 200) return std::nullopt;
  if (!probe.ok()) throw Error(client.failure_message(probe, request.context));
  if (probe.status != 206) return std::nullopt;
  return probe.effective_url;
}

}  // namespace

ContentHasher::ContentHasher(const RemoteFile& file)
    : file_(file), digest_(file.is_lfs() ? Digest::Algorithm::sha256 : Digest::Algorithm::sha1) {
  restart();
}

void ContentHasher::restart() {
  digest_.reset();
  if (!file_.is_lfs()) {
    std::string header = fmt::format("blob {}", file_.size);
    digest_.update(header.data(), header.size() + 1);  // with its '\0'
  }
}

void ContentHasher::update(std::string_view bytes) { digest_.update(bytes); }

void ContentHasher::update_from_file(const fs::path& path, std::uint64_t n_bytes) {
  if (n_bytes == 0) return;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open {}: {}", path.string(), errno_text(errno));
  std::vector<char> buffer(1 << 20);
  while (n_bytes > 0 && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(std::min<std::uint64_t>(buffer.size(), n_bytes)));
    update({buffer.data(), static_cast<std::size_t>(in.gcount())});
    n_bytes -= static_cast<std::uint64_t>(in.gcount());
  }
  if (n_bytes > 0) fail("cannot read {}", path.string());
}

std::string ContentHasher::hex_digest() { return digest_.hex_digest(); }

std::string content_problem(const RemoteFile& file, std::uint64_t n_bytes, const std::string& digest) {
  if (n_bytes != file.size) return fmt::format("size mismatch: {} bytes, expected {}", n_bytes, file.size);
  if (file.is_lfs() && digest != file.lfs_sha256)
    return fmt::format("sha256 mismatch: got {}, expected {} (corrupted download)", digest, file.lfs_sha256);
  if (!file.is_lfs() && digest != file.git_oid)
    return fmt::format("checksum mismatch: git blob id {}, expected {} (corrupted download)", digest, file.git_oid);
  return "";
}

std::string verify_blob_file(const fs::path& path, const RemoteFile& file) {
  std::uint64_t size = file_size_or_zero(path);
  if (size != file.size) return content_problem(file, size, "");
  ContentHasher hasher(file);
  hasher.update_from_file(path, size);
  return content_problem(file, size, hasher.hex_digest());
}

std::string git_blob_sha1_file(const fs::path& path) {
  RemoteFile as_git_file{path.filename().string(), file_size_or_zero(path), "", ""};
  ContentHasher hasher(as_git_file);
  hasher.update_from_file(path, as_git_file.size);
  return hasher.hex_digest();
}

std::uint64_t download_blob(HttpSession& session, const HubClient& client, const RepoCache& cache,
                            const BlobRequest& request, const DownloadOptions& options, Progress& progress) {
  const RemoteFile& file = request.file;
  fs::path blob = cache.blob_path(file.blob_name());
  fs::create_directories(blob.parent_path());
  FileLock lock(cache.lock_path(file.blob_name()));
  if (file_size_or_zero(blob) == file.size && fs::exists(blob)) return 0;  // another process made it meanwhile

  bool resuming_parts = fs::exists(cache.parts_path(file.blob_name()));
  bool big = options.parallel_ranges > 1 && file.size >= options.parallel_min_bytes;
  if (resuming_parts || (big && file_size_or_zero(cache.incomplete_path(file.blob_name())) == 0)) {
    if (auto direct_url = range_capable_url(session, client, request, options))
      return download_parallel(*direct_url, client, cache, request, options, progress);
    log::info("{}: the server does not serve ranges; one stream", file.path);
    remove_quietly(cache.parts_path(file.blob_name()));
    remove_quietly(cache.parts_done_path(file.blob_name()));
  }
  return download_sequential(session, client, cache, request, options, progress);
}

}  // namespace xmtf::hub
