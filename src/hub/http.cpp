#include "hub/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <chrono>
#include <mutex>
#include <thread>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::hub {
namespace {

constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail("libcurl initialisation failed");
  });
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

struct Transfer {
  CURL* curl;
  const HttpRequest* request;
  HttpResponse* response;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view line(data, size * count);
  if (starts_with(line, "HTTP/")) {
    transfer->response->hops.emplace_back();
  } else if (auto colon = line.find(':'); colon != std::string_view::npos && !transfer->response->hops.empty()) {
    std::string name = lowercase(trim(line.substr(0, colon)));
    transfer->response->hops.back()[name] = std::string(trim(line.substr(colon + 1)));
  }
  return size * count;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string_view bytes(data, size * count);
  long status = 0;
  curl_easy_getinfo(transfer->curl, CURLINFO_RESPONSE_CODE, &status);
  bool success_body = status == 200 || status == 206;
  if (success_body && transfer->request->sink) {
    if (!transfer->request->sink(status, bytes)) {
      transfer->response->aborted_by_sink = true;
      return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
    }
    return bytes.size();
  }
  std::string& body = transfer->response->body;
  if (success_body) {
    std::size_t limit = transfer->request->max_body_bytes;
    if (limit > 0 && body.size() + bytes.size() > limit) {
      transfer->response->body_too_large = true;
      return 0;  // CURLE_WRITE_ERROR
    }
    body.append(bytes);
  } else if (body.size() < kMaxErrorBodyBytes) {
    body.append(bytes.substr(0, kMaxErrorBodyBytes - body.size()));
  }
  return bytes.size();
}

long env_seconds(const char* name, long fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atol(value) : fallback;
}

}  // namespace

std::string HttpResponse::header(const std::string& name) const {
  if (hops.empty()) return "";
  auto it = hops.back().find(name);
  return it == hops.back().end() ? "" : it->second;
}

std::string HttpResponse::first_header(const std::string& name) const {
  for (const auto& hop : hops)
    if (auto it = hop.find(name); it != hop.end()) return it->second;
  return "";
}

std::string HttpResponse::describe() const {
  if (body_too_large) return "the answer is larger than the limit for it";
  if (transport_error != 0) return fmt::format("{} (curl error {})", transport_message, transport_error);
  return fmt::format("HTTP {}", status);
}

HttpSession::HttpSession() {
  global_init_once();
  curl_ = curl_easy_init();
  if (!curl_) fail("curl_easy_init failed");
}

HttpSession::~HttpSession() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpSession::perform(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);  // keeps the connection cache, forgets the previous request's options
  HttpResponse response;
  Transfer transfer{curl, &request, &response};
  char error_text[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "xmtf-fetch/0.1 (libcurl)");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  // Only the web: a Location or a URL built from a server's answer never reaches file://,
  // ftp:// or the other schemes libcurl knows.
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  if (request.timeout_seconds > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT, request.timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, env_seconds("XMTF_HUB_CONNECT_TIMEOUT", 20));
  // A stalled transfer (under 1 byte/s for this long) fails and is retried with a Range.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, env_seconds("XMTF_HUB_STALL_TIMEOUT", 60));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  if (request.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  // Downloads ask for the identity encoding (sizes and hashes are of the stored bytes); JSON
  // answers may come compressed.
  if (!request.sink) curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
  if (request.bearer_token) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(curl, CURLOPT_XOAUTH2_BEARER, request.bearer_token->c_str());
  }
  std::string range;
  if (request.range_first) {
    range = std::to_string(*request.range_first) + "-" +
            (request.range_last ? std::to_string(*request.range_last) : std::string());
    curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  }

  CURLcode code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  char* effective_url = nullptr;
  curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective_url);
  if (effective_url) response.effective_url = effective_url;
  if (code != CURLE_OK) {
    response.transport_error = code;
    response.transport_message = error_text[0] ? error_text : curl_easy_strerror(code);
  }
  return response;
}

bool is_retryable(const HttpResponse& response) {
  if (response.aborted_by_sink || response.body_too_large) return false;
  if (response.transport_error != 0) {
    switch (response.transport_error) {
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_WRITE_ERROR:
      case CURLE_OUT_OF_MEMORY:
      case CURLE_TOO_MANY_REDIRECTS:
        return false;
      default:
        return true;  // refused, reset, timed out, cut short (CURLE_PARTIAL_FILE), DNS...
    }
  }
  return response.status == 408 || response.status == 429 || response.status >= 500;
}

std::optional<double> retry_after_seconds(const HttpResponse& response) {
  std::string value = response.header("retry-after");
  if (value.empty() || !std::all_of(value.begin(), value.end(), [](unsigned char c) { return std::isdigit(c); }))
    return std::nullopt;
  return std::stod(value);
}

double backoff_delay_seconds(const RetryPolicy& policy, int attempt, std::mt19937_64& random) {
  double exponential = policy.base_delay_seconds * std::pow(2.0, std::max(0, attempt - 1));
  double capped = std::min(exponential, policy.max_delay_seconds);
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return capped * jitter(random);
}

HttpResponse perform_with_retries(HttpSession& session, const RetryPolicy& policy, const std::string& what,
                                  const std::function<HttpRequest()>& make_request) {
  thread_local std::mt19937_64 random(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    HttpResponse response = session.perform(make_request());
    if (response.ok() || !is_retryable(response) || attempt >= policy.max_attempts) return response;
    double delay = backoff_delay_seconds(policy, attempt, random);
    // The server's Retry-After wins over our backoff, within reason (a job should not sleep for hours).
    if (auto server_asked = retry_after_seconds(response)) delay = std::max(delay, std::min(*server_asked, 600.0));
    log::warn("{}: {}; retry {}/{} in {:.1f}s", what, response.describe(), attempt, policy.max_attempts - 1, delay);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
  }
}

std::optional<std::string> url_origin(const std::string& url) {
  CURLU* parsed = curl_url();
  if (!parsed) fail("curl_url failed");
  std::optional<std::string> origin;
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  // No guessing of a missing scheme: a relative or odd URL has no origin.
  if (curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(parsed, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    std::string lowered_scheme = lowercase(scheme);
    if (lowered_scheme == "http" || lowered_scheme == "https")
      origin = fmt::format("{}://{}:{}", lowered_scheme, lowercase(host), port);
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(parsed);
  return origin;
}

std::string url_encode(std::string_view text, bool keep_slashes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
    if (unreserved || (keep_slashes && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace xmtf::hub
