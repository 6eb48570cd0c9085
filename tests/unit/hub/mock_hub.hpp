#pragma once
// A local stand-in for huggingface.co on 127.0.0.1 (ephemeral ports), with the endpoints and
// headers xmtf-fetch relies on:
//   GET  /api/{models|datasets}/{org}/{name}/revision/{rev}   {"sha": ...}
//   GET  /api/{models|datasets}/{org}/{name}/tree/{rev}?recursive=true[&cursor=N]  paginated
//        with Link: <...>; rel="next"
//   GET|HEAD [/datasets]/{org}/{name}/resolve/{rev}/{path}    git files: 200 with ETag (git sha1),
//        X-Repo-Commit; LFS files: 302 to the second ("CDN") server with X-Linked-Etag (sha256),
//        X-Linked-Size, X-Repo-Commit
//   POST /api/{models|datasets}/{org}/{name}/paths-info/{rev}   (asked by @huggingface/hub)
//   GET|HEAD /lfs/{sha256} on the CDN port                     Range / 206 / Accept-Ranges, ETag
// Faults are armed per repo file path and consumed by whichever server sends its content.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace xmtf::test {

struct MockFile {
  std::string path;
  std::string content;
  bool lfs = false;
};

struct MockRepo {
  std::string id;              // "org/name"
  std::string kind = "model";  // or "dataset"
  std::string commit;          // 40 hex
  std::string branch = "main";
  bool requires_token = false;
  std::vector<MockFile> files;
};

// One answer of the hub port as a hostile hub may rewrite it (see MockHub::tamper).
struct MockAnswer {
  std::string target;  // the request's path and query, as received
  int status = 200;
  std::string body;    // JSON answers only (content served by a provider is not here)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string header(const std::string& name) const;
  void set_header(const std::string& name, const std::string& value);  // replaces
};

struct RecordedRequest {
  std::string server;  // "hub" or "cdn"
  std::string method;
  std::string path;
  std::string range;          // the Range header, "" when none
  std::string authorization;  // the Authorization header, "" when none
};

class MockHub {
 public:
  MockHub();
  ~MockHub();
  MockHub(const MockHub&) = delete;
  MockHub& operator=(const MockHub&) = delete;

  std::string endpoint() const;      // http://127.0.0.1:PORT (the hub)
  std::string cdn_endpoint() const;  // http://127.0.0.1:PORT (the CDN; LFS objects at /lfs/{sha256})
  void add_repo(MockRepo repo);
  void set_token(std::string token);       // accepted for repos that require one
  void set_tree_page_size(int entries);   // entries per tree page (default 1000)

  void cut_next(const std::string& path, int times);   // send half the body, then close
  void fail_500_next(const std::string& path, int times);
  void fail_429_next(const std::string& path, int times, int retry_after_seconds);
  void corrupt_always(const std::string& path);        // flip bytes of the body
  // A hostile hub: edit runs on every answer of the hub port to a request whose path contains
  // path_fragment, after the honest handler, and may change its status, body and headers.
  void tamper(const std::string& path_fragment, std::function<void(MockAnswer&)> edit);
  void stop_tampering();   // an honest hub again
  void forget_requests();  // requests() starts empty again

  std::vector<RecordedRequest> requests() const;
  // Requests whose server is `server` and whose path contains `fragment`.
  int count(const std::string& server, const std::string& fragment) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_of(const std::string& bytes);
std::string git_blob_sha1_of(const std::string& bytes);

}  // namespace xmtf::test
