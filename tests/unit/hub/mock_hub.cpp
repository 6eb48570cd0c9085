#include "mock_hub.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

namespace xmtf::test {
namespace {

std::string lfs_pointer(const std::string& sha256, std::size_t size) {
  return fmt::format("version https://git-lfs.github.com/spec/v1\noid sha256:{}\nsize {}\n", sha256, size);
}

std::string digest_hex(const EVP_MD* algorithm, const std::string& bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, algorithm, nullptr);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}


// A repo file with its hashes computed once (the benchmark serves a GiB-sized one).
struct StoredFile {
  std::string path;
  bool lfs = false;
  std::shared_ptr<const std::string> content;
  std::string sha256;
  std::string git_oid;  // of the content, or of the LFS pointer for LFS files
  std::size_t pointer_size = 0;
};

struct StoredRepo {
  MockRepo info;  // files left empty: see stored
  std::vector<StoredFile> stored;
};

struct Faults {
  int cut = 0;
  int status_500 = 0;
  int status_429 = 0;
  int retry_after_seconds = 1;
  bool corrupt = false;
};

}  // namespace

std::string sha256_of(const std::string& bytes) { return digest_hex(EVP_sha256(), bytes); }

std::string git_blob_sha1_of(const std::string& bytes) {
  std::string object = "blob " + std::to_string(bytes.size());
  object.push_back('\0');
  return digest_hex(EVP_sha1(), object + bytes);
}

namespace {

bool same_header_name(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

}  // namespace

std::string MockAnswer::header(const std::string& name) const {
  for (const auto& [key, value] : headers)
    if (same_header_name(key, name)) return value;
  return "";
}

void MockAnswer::set_header(const std::string& name, const std::string& value) {
  std::erase_if(headers, [&](const auto& entry) { return same_header_name(entry.first, name); });
  headers.emplace_back(name, value);
}

struct MockHub::State {
  mutable std::mutex mutex;
  std::vector<std::pair<std::string, std::function<void(MockAnswer&)>>> tampering;
  std::vector<StoredRepo> repos;
  std::string token;
  int tree_page_size = 1000;
  std::map<std::string, Faults> faults;
  std::vector<RecordedRequest> recorded;
  httplib::Server hub;
  httplib::Server cdn;
  int hub_port = 0;
  int cdn_port = 0;
  std::thread hub_thread;
  std::thread cdn_thread;

  // Several MockRepo entries may share an id: one per revision of the same repo.
  bool repo_exists(const std::string& kind, const std::string& id) const {
    for (const auto& repo : repos)
      if (repo.info.kind == kind && repo.info.id == id) return true;
    return false;
  }

  const StoredRepo* find_revision(const std::string& kind, const std::string& id, const std::string& revision) const {
    for (const auto& repo : repos)
      if (repo.info.kind == kind && repo.info.id == id && (revision == repo.info.branch || revision == repo.info.commit))
        return &repo;
    return nullptr;
  }

  // Checks repo, token and revision; on failure fills res and returns nullptr.
  const StoredRepo* authorize(const httplib::Request& req, httplib::Response& res, const std::string& kind,
                            const std::string& id, const std::string& revision) const {
    if (!repo_exists(kind, id)) {
      res.status = 404;
      res.set_header("X-Error-Code", "RepoNotFound");
      res.set_header("X-Error-Message", "Repository not found");
      return nullptr;
    }
    const StoredRepo* repo = find_revision(kind, id, revision);
    std::string authorization = req.get_header_value("Authorization");
    if (repo && repo->info.requires_token && authorization != "Bearer " + token) {
      res.status = 401;
      res.set_header("X-Error-Message", authorization.empty() ? "Access to this repo is restricted."
                                                              : "Invalid credentials in Authorization header");
      return nullptr;
    }
    if (!repo) {
      res.status = 404;
      res.set_header("X-Error-Code", "RevisionNotFound");
      res.set_header("X-Error-Message", "Invalid rev id: " + revision);
      return nullptr;
    }
    return repo;
  }

  // Sends content, unless a fault armed for this repo path says otherwise. A content provider
  // with the full length lets httplib answer Range requests with 206 and Content-Range.
  void serve_content(const httplib::Request& req, httplib::Response& res, const StoredFile& file) {
    std::lock_guard lock(mutex);
    Faults& fault = faults[file.path];
    if (fault.status_500 > 0) {
      --fault.status_500;
      res.status = 500;
      res.set_content("Internal Error", "text/plain");
      return;
    }
    if (fault.status_429 > 0) {
      --fault.status_429;
      res.status = 429;
      res.set_header("Retry-After", std::to_string(fault.retry_after_seconds));
      res.set_content("Too Many Requests", "text/plain");
      return;
    }
    res.set_header("Accept-Ranges", "bytes");
    if (file.content->empty()) {
      res.set_content("", "application/octet-stream");
      return;
    }
    bool one_byte_probe = req.get_header_value("Range") == "bytes=0-0";  // nothing to cut in half
    bool cut = fault.cut > 0 && !one_byte_probe;
    if (cut) --fault.cut;
    bool corrupt = fault.corrupt;
    std::shared_ptr<const std::string> content = file.content;
    res.set_content_provider(
        content->size(), "application/octet-stream",
        [content, cut, corrupt](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          std::size_t send = cut ? length / 2 : length;
          std::string_view window(content->data() + offset, send);
          std::size_t flipped = content->size() / 2;
          if (corrupt && flipped >= offset && flipped < offset + send) {
            std::string bad(window);
            bad[flipped - offset] ^= 0x5a;
            sink.write(bad.data(), bad.size());
          } else {
            sink.write(window.data(), window.size());
          }
          return !cut;  // false drops the connection half-way
        });
  }

  // Recorded before routing, so a request is in the log before its client can see the answer.
  httplib::Server::HandlerResponse record(const std::string& server, const httplib::Request& req) {
    std::lock_guard lock(mutex);
    recorded.push_back({server, req.method, req.path, req.get_header_value("Range"),
                        req.get_header_value("Authorization")});
    return httplib::Server::HandlerResponse::Unhandled;
  }

  void apply_tampering(const httplib::Request& req, httplib::Response& res) {
    std::vector<std::function<void(MockAnswer&)>> edits;
    {
      std::lock_guard lock(mutex);
      for (const auto& [fragment, edit] : tampering)
        if (req.path.find(fragment) != std::string::npos) edits.push_back(edit);
    }
    if (edits.empty()) return;
    MockAnswer answer;
    answer.target = req.target;
    answer.status = res.status;
    answer.body = res.body;
    for (const auto& [key, value] : res.headers) answer.headers.emplace_back(key, value);
    for (const auto& edit : edits) edit(answer);
    res.status = answer.status;
    if (answer.body != res.body) {
      res.body = answer.body;
      res.content_provider_ = nullptr;  // the edited body replaces any provided content
      res.content_length_ = 0;
      std::erase_if(answer.headers, [](const auto& entry) { return same_header_name(entry.first, "Content-Length"); });
    }
    res.headers.clear();
    for (const auto& [key, value] : answer.headers) res.headers.emplace(key, value);
  }

  void handle_revision(const httplib::Request& req, httplib::Response& res) {
    std::string kind = req.matches[1] == "models" ? "model" : "dataset";
    std::string id = std::string(req.matches[2]) + "/" + std::string(req.matches[3]);
    const StoredRepo* repo = authorize(req, res, kind, id, req.matches[4]);
    if (!repo) return;
    nlohmann::json siblings = nlohmann::json::array();
    for (const auto& file : repo->stored) siblings.push_back({{"rfilename", file.path}});
    nlohmann::json info = {{"id", repo->info.id}, {"sha", repo->info.commit}, {"siblings", siblings}};
    res.set_content(info.dump(), "application/json");
  }

  static nlohmann::json file_entry(const StoredFile& file) {
    nlohmann::json entry = {{"type", "file"}, {"oid", file.git_oid}, {"size", file.content->size()}, {"path", file.path}};
    if (file.lfs) entry["lfs"] = {{"oid", file.sha256}, {"size", file.content->size()}, {"pointerSize", file.pointer_size}};
    return entry;
  }

  // POST {"paths": [...], "expand": bool}: what @huggingface/hub's downloadFileToCacheDir asks.
  void handle_paths_info(const httplib::Request& req, httplib::Response& res) {
    std::string kind = req.matches[1] == "models" ? "model" : "dataset";
    std::string id = std::string(req.matches[2]) + "/" + std::string(req.matches[3]);
    const StoredRepo* repo = authorize(req, res, kind, id, req.matches[4]);
    if (!repo) return;
    nlohmann::json asked = nlohmann::json::parse(req.body, nullptr, false);
    nlohmann::json entries = nlohmann::json::array();
    if (asked.is_object() && asked.contains("paths"))
      for (const auto& path : asked["paths"])
        for (const auto& file : repo->stored)
          if (path.is_string() && file.path == path.get<std::string>()) {
            nlohmann::json entry = file_entry(file);
            entry["lastCommit"] = {{"id", repo->info.commit}, {"title", "mock"}, {"date", "2024-01-01T00:00:00.000Z"}};
            entries.push_back(entry);
          }
    res.set_content(entries.dump(), "application/json");
  }

  void handle_tree(const httplib::Request& req, httplib::Response& res) {
    std::string kind = req.matches[1] == "models" ? "model" : "dataset";
    std::string id = std::string(req.matches[2]) + "/" + std::string(req.matches[3]);
    std::string revision = req.matches[4];
    const StoredRepo* repo = authorize(req, res, kind, id, revision);
    if (!repo) return;
    if (req.get_param_value("recursive") != "true") {
      res.status = 400;
      res.set_content("this mock serves recursive listings only", "text/plain");
      return;
    }
    // The listing as the hub gives it: folders and files, LFS files with their pointer's oid.
    nlohmann::json entries = nlohmann::json::array();
    std::set<std::string> folders;
    for (const auto& file : repo->stored) {
      for (auto slash = file.path.find('/'); slash != std::string::npos; slash = file.path.find('/', slash + 1)) {
        std::string folder = file.path.substr(0, slash);
        if (folders.insert(folder).second)
          entries.push_back({{"type", "directory"}, {"oid", git_blob_sha1_of(folder)}, {"size", 0}, {"path", folder}});
      }
      entries.push_back(file_entry(file));
    }
    std::size_t first = req.has_param("cursor") ? std::stoul(req.get_param_value("cursor")) : 0;
    std::size_t page_size = static_cast<std::size_t>(tree_page_size);
    nlohmann::json page = nlohmann::json::array();
    for (std::size_t i = first; i < entries.size() && i < first + page_size; ++i) page.push_back(entries[i]);
    if (first + page_size < entries.size())
      res.set_header("Link", fmt::format("<http://127.0.0.1:{}{}?recursive=true&cursor={}>; rel=\"next\"", hub_port,
                                         req.path, first + page_size));
    res.set_content(page.dump(), "application/json");
  }

  void handle_resolve(const httplib::Request& req, httplib::Response& res) {
    std::string kind = req.matches[1].length() > 0 ? "dataset" : "model";
    std::string id = std::string(req.matches[2]) + "/" + std::string(req.matches[3]);
    const StoredRepo* repo = authorize(req, res, kind, id, req.matches[4]);
    if (!repo) return;
    std::string path = req.matches[5];
    for (const auto& file : repo->stored) {
      if (file.path != path) continue;
      res.set_header("X-Repo-Commit", repo->info.commit);
      res.set_header("ETag", "\"" + file.git_oid + "\"");
      if (file.lfs) {
        res.set_header("X-Linked-Etag", "\"" + file.sha256 + "\"");
        res.set_header("X-Linked-Size", std::to_string(file.content->size()));
        res.set_redirect(fmt::format("http://127.0.0.1:{}/lfs/{}", cdn_port, file.sha256), 302);
      } else {
        serve_content(req, res, file);
      }
      return;
    }
    res.status = 404;
    res.set_header("X-Error-Code", "EntryNotFound");
  }

  void handle_cdn(const httplib::Request& req, httplib::Response& res) {
    std::string sha = req.matches[1];
    for (const auto& repo : repos)
      for (const auto& file : repo.stored)
        if (file.lfs && file.sha256 == sha) {
          res.set_header("ETag", "\"" + file.sha256 + "\"");
          return serve_content(req, res, file);
        }
    res.status = 404;
  }
};

MockHub::MockHub() : state_(std::make_unique<State>()) {
  State& s = *state_;
  auto many_threads = [] { return new httplib::ThreadPool(64); };  // keep-alive clients hold threads
  s.hub.new_task_queue = many_threads;
  s.cdn.new_task_queue = many_threads;
  s.hub.Get(R"(/api/(models|datasets)/([^/]+)/([^/]+)/revision/(.+))",
            [&s](const httplib::Request& req, httplib::Response& res) {
              s.handle_revision(req, res);
              s.apply_tampering(req, res);
            });
  s.hub.Get(R"(/api/(models|datasets)/([^/]+)/([^/]+)/tree/(.+))",
            [&s](const httplib::Request& req, httplib::Response& res) {
              s.handle_tree(req, res);
              s.apply_tampering(req, res);
            });
  s.hub.Post(R"(/api/(models|datasets)/([^/]+)/([^/]+)/paths-info/(.+))",
             [&s](const httplib::Request& req, httplib::Response& res) {
              s.handle_paths_info(req, res);
              s.apply_tampering(req, res);
            });
  s.hub.Get(R"(/(datasets/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+))",
            [&s](const httplib::Request& req, httplib::Response& res) {
              s.handle_resolve(req, res);
              s.apply_tampering(req, res);
            });
  s.cdn.Get(R"(/lfs/([0-9a-f]+))", [&s](const httplib::Request& req, httplib::Response& res) { s.handle_cdn(req, res); });
  s.hub.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response&) { return s.record("hub", req); });
  s.cdn.set_pre_routing_handler([&s](const httplib::Request& req, httplib::Response&) { return s.record("cdn", req); });

  s.hub_port = s.hub.bind_to_any_port("127.0.0.1");
  s.cdn_port = s.cdn.bind_to_any_port("127.0.0.1");
  if (s.hub_port <= 0 || s.cdn_port <= 0) throw std::runtime_error("mock hub: cannot bind 127.0.0.1");
  // The sockets already listen; connections made before the loops start simply wait.
  s.hub_thread = std::thread([&s] { s.hub.listen_after_bind(); });
  s.cdn_thread = std::thread([&s] { s.cdn.listen_after_bind(); });
}

MockHub::~MockHub() {
  state_->hub.stop();
  state_->cdn.stop();
  state_->hub_thread.join();
  state_->cdn_thread.join();
}

std::string MockHub::endpoint() const { return fmt::format("http://127.0.0.1:{}", state_->hub_port); }

std::string MockHub::cdn_endpoint() const { return fmt::format("http://127.0.0.1:{}", state_->cdn_port); }

void MockHub::add_repo(MockRepo repo) {
  StoredRepo stored;
  for (auto& file : repo.files) {
    StoredFile entry;
    entry.path = file.path;
    entry.lfs = file.lfs;
    entry.sha256 = sha256_of(file.content);
    entry.content = std::make_shared<const std::string>(std::move(file.content));
    std::string pointer = lfs_pointer(entry.sha256, entry.content->size());
    entry.pointer_size = pointer.size();
    entry.git_oid = git_blob_sha1_of(file.lfs ? pointer : *entry.content);
    stored.stored.push_back(std::move(entry));
  }
  repo.files.clear();
  stored.info = std::move(repo);
  std::lock_guard lock(state_->mutex);
  state_->repos.push_back(std::move(stored));
}

void MockHub::set_token(std::string token) {
  std::lock_guard lock(state_->mutex);
  state_->token = std::move(token);
}

void MockHub::set_tree_page_size(int entries) {
  std::lock_guard lock(state_->mutex);
  state_->tree_page_size = entries;
}

void MockHub::cut_next(const std::string& path, int times) {
  std::lock_guard lock(state_->mutex);
  state_->faults[path].cut = times;
}

void MockHub::fail_500_next(const std::string& path, int times) {
  std::lock_guard lock(state_->mutex);
  state_->faults[path].status_500 = times;
}

void MockHub::fail_429_next(const std::string& path, int times, int retry_after_seconds) {
  std::lock_guard lock(state_->mutex);
  state_->faults[path].status_429 = times;
  state_->faults[path].retry_after_seconds = retry_after_seconds;
}

void MockHub::corrupt_always(const std::string& path) {
  std::lock_guard lock(state_->mutex);
  state_->faults[path].corrupt = true;
}

void MockHub::tamper(const std::string& path_fragment, std::function<void(MockAnswer&)> edit) {
  std::lock_guard lock(state_->mutex);
  state_->tampering.emplace_back(path_fragment, std::move(edit));
}

void MockHub::stop_tampering() {
  std::lock_guard lock(state_->mutex);
  state_->tampering.clear();
}

void MockHub::forget_requests() {
  std::lock_guard lock(state_->mutex);
  state_->recorded.clear();
}

std::vector<RecordedRequest> MockHub::requests() const {
  std::lock_guard lock(state_->mutex);
  return state_->recorded;
}

int MockHub::count(const std::string& server, const std::string& fragment) const {
  int n = 0;
  for (const auto& request : requests())
    if (request.server == server && request.path.find(fragment) != std::string::npos) ++n;
  return n;
}

}  // namespace xmtf::test
