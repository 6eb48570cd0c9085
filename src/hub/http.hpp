#pragma once
// A thin libcurl layer: one HttpSession (one curl easy handle, reused connections) per thread,
// streamed bodies, the headers of every hop of a redirect chain, and the retry policy the hub
// calls share (exponential backoff with jitter; Retry-After honoured).
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace xmtf::hub {

// Header names are lowercased; a repeated header keeps its last value.
using HttpHeaders = std::map<std::string, std::string>;

struct HttpRequest {
  std::string method = "GET";  // "GET" or "HEAD"
  std::string url;
  // Sent as "Authorization: Bearer ..." to the first host only: libcurl drops it when a
  // redirect leads to another host or port (the CDN never sees the token).
  std::optional<std::string> bearer_token;
  std::optional<std::uint64_t> range_first;  // "Range: bytes=first-[last]"
  std::optional<std::uint64_t> range_last;   // inclusive
  bool follow_redirects = true;
  // A successful body kept in HttpResponse::body (no sink) longer than this aborts the transfer
  // (body_too_large): a server cannot make us hold an unbounded answer. 0: no limit.
  std::size_t max_body_bytes = 0;
  // Seconds the whole transfer may take (0: none; downloads rely on the stall timeout instead).
  long timeout_seconds = 0;
  // Receives the body of a final 200/206 response with its status; returning false aborts the
  // transfer. Without a sink the body is kept in HttpResponse::body. Error bodies always go to
  // body (capped).
  std::function<bool(long status, std::string_view bytes)> sink;
};

struct HttpResponse {
  long status = 0;             // 0 when no response arrived
  int transport_error = 0;     // CURLcode; 0 when the transfer completed
  std::string transport_message;
  std::vector<HttpHeaders> hops;  // one per response received, redirects first
  std::string body;
  std::string effective_url;
  bool aborted_by_sink = false;
  bool body_too_large = false;  // over HttpRequest::max_body_bytes

  bool ok() const { return transport_error == 0 && status >= 200 && status < 300; }
  // A header of the final response ("" when absent).
  std::string header(const std::string& lowercase_name) const;
  // A header from the first hop that has it (the hub's answer before a CDN redirect).
  std::string first_header(const std::string& lowercase_name) const;
  // "HTTP 500" or "connection refused (curl 7)": for messages.
  std::string describe() const;
};

class HttpSession {
 public:
  HttpSession();
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  HttpResponse perform(const HttpRequest& request);

 private:
  void* curl_;  // CURL*, kept opaque so curl.h stays out of every includer
};

struct RetryPolicy {
  int max_attempts = 6;
  double base_delay_seconds = 1.0;  // first retry waits about this long, then x2 each time
  double max_delay_seconds = 60.0;
};

// Transport errors, 408, 429 and 5xx are worth another try; 4xx answers are final.
bool is_retryable(const HttpResponse& response);
// Retry-After in seconds (the delta-seconds form), if the response has one.
std::optional<double> retry_after_seconds(const HttpResponse& response);
// attempt is 1 for the first retry. Full-range jitter in [0.5, 1.0] of the exponential delay so
// that many tasks failing together do not come back together.
double backoff_delay_seconds(const RetryPolicy& policy, int attempt, std::mt19937_64& random);

// Performs make_request() until it answers ok() or non-retryably, or attempts run out; logs
// each retry with what. make_request is called again for every attempt (a resumed download
// asks for a new range).
HttpResponse perform_with_retries(HttpSession& session, const RetryPolicy& policy, const std::string& what,
                                  const std::function<HttpRequest()>& make_request);

// "scheme://host:port" of an absolute http(s) URL, lowercased, with the scheme's default port
// made explicit (libcurl's URL parser); nullopt for anything else. Two URLs with one origin may
// share credentials.
std::optional<std::string> url_origin(const std::string& url);

// Percent-encodes a URL path (keep_slashes: "a b/c" -> "a%20b/c") or one segment.
std::string url_encode(std::string_view text, bool keep_slashes);

}  // namespace xmtf::hub
