#include "hub/api.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <regex>
#include <set>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::hub {
namespace {

// A whole API answer may take this long (a server trickling bytes forever is cut off).
long api_timeout_seconds() {
  const char* value = std::getenv("XMTF_HUB_API_TIMEOUT");
  return value && *value ? std::atol(value) : 600;
}

std::string api_base(const HubSettings& settings, const RepoRef& repo) {
  return fmt::format("{}/api/{}s/{}", settings.endpoint, kind_name(repo.kind), repo.id);
}

// The "next" target of a Link header: <https://...&cursor=...>; rel="next"
std::optional<std::string> next_page_url(const std::string& link_header, const std::string& endpoint) {
  for (const std::string& link : split(link_header, ',')) {
    auto open = link.find('<');
    auto close = link.find('>');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    if (link.find("rel=\"next\"", close) == std::string::npos && link.find("rel=next", close) == std::string::npos)
      continue;
    std::string url = link.substr(open + 1, close - open - 1);
    if (starts_with(url, "/") && !starts_with(url, "//")) url = endpoint + url;
    return url;
  }
  return std::nullopt;
}

bool is_lowercase_hex(const std::string& text, std::initializer_list<std::size_t> lengths) {
  if (std::find(lengths.begin(), lengths.end(), text.size()) == lengths.end()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// A commit from an answer (the JSON's sha or X-Repo-Commit), checked before it names a folder.
std::string checked_commit(const std::string& commit, const std::string& what) {
  if (!is_commit_hash(commit))
    fail("{}: the hub answered with '{}' as the commit, which is not a commit hash (40 hex digits); refused",
         what, printable(commit));
  return commit;
}

nlohmann::json parse_json(const std::string& body, const std::string& what) {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: the hub answered with invalid JSON ({}): {}", what, e.what(), printable(body));
  }
}

std::uint64_t checked_size(const nlohmann::json& size, const HubLimits& limits) {
  // Not get<uint64_t>(): nlohmann converts -1 and 1.5 to numbers silently.
  if (!size.is_number_unsigned()) fail("size {} is not a byte count", printable(size.dump()));
  auto bytes = size.get<std::uint64_t>();
  if (bytes > limits.max_file_bytes)
    fail("size {} is over the {} a file may have", bytes, format_bytes(static_cast<double>(limits.max_file_bytes)));
  return bytes;
}

// One tree entry as data: every field that later names a file or is compared with our digests
// is checked for its format here, so nothing downstream sees a hostile value.
RemoteFile remote_file_from_json(const nlohmann::json& entry, const HubLimits& limits) {
  RemoteFile file;
  file.path = entry.at("path").get<std::string>();
  validate_repo_path(file.path);
  file.size = checked_size(entry.at("size"), limits);
  file.git_oid = entry.at("oid").get<std::string>();
  if (!is_blob_oid(file.git_oid)) fail("oid '{}' is not a git object id", printable(file.git_oid));
  if (auto lfs = entry.find("lfs"); lfs != entry.end() && !lfs->is_null()) {
    if (!lfs->is_object()) fail("'lfs' is not an object");
    file.lfs_sha256 = lfs->at("oid").get<std::string>();
    if (!is_lowercase_hex(file.lfs_sha256, {64})) fail("lfs.oid '{}' is not a sha256", printable(file.lfs_sha256));
    if (auto size = lfs->find("size"); size != lfs->end()) file.size = checked_size(*size, limits);
  }
  return file;
}

}  // namespace

RepoKind parse_repo_kind(const std::string& text) {
  if (text == "model") return RepoKind::model;
  if (text == "dataset") return RepoKind::dataset;
  fail("unknown repo kind '{}': use model or dataset", text);
}

const char* kind_name(RepoKind kind) { return kind == RepoKind::model ? "model" : "dataset"; }

bool is_commit_hash(const std::string& text) { return is_lowercase_hex(text, {40}); }

bool is_blob_oid(const std::string& text) { return is_lowercase_hex(text, {40, 64}); }

void validate_repo_path(const std::string& path) {
  auto invalid = [&](const char* why) { fail("invalid repo file path '{}': {}", printable(path), why); };
  if (path.empty()) invalid("empty");
  if (path.front() == '/') invalid("absolute");
  if (path.size() > 4096) invalid("longer than 4096 bytes");
  for (char c : path) {
    if (c == '\\') invalid("holds a backslash");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) invalid("holds a control character");
  }
  for (const std::string& segment : split(path, '/')) {
    if (segment.empty()) invalid("has an empty segment");
    if (segment == "." || segment == "..") invalid("has a '.' or '..' segment");
  }
}

void validate_repo_id(const std::string& id) {
  static const std::regex pattern(R"(^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$)");
  if (!std::regex_match(id, pattern) || id.find("--") != std::string::npos || id.find("..") != std::string::npos)
    fail("invalid repo id '{}': expected ORG/NAME (letters, digits, '-', '_', '.')", id);
}

HubClient::HubClient(HubSettings settings, RetryPolicy retry, HubLimits limits)
    : settings_(std::move(settings)), retry_(retry), limits_(limits) {}

std::optional<std::string> HubClient::token_for(const std::string& url) const {
  if (!settings_.token) return std::nullopt;
  std::optional<std::string> origin = url_origin(url);
  if (!origin || origin != url_origin(settings_.endpoint)) return std::nullopt;
  return settings_.token;
}

HttpResponse HubClient::get_with_retries(const std::string& url, const std::string& what) {
  return perform_with_retries(session_, retry_, what, [&] {
    HttpRequest request;
    request.url = url;
    request.bearer_token = token_for(url);
    request.max_body_bytes = limits_.max_api_body_bytes;
    request.timeout_seconds = api_timeout_seconds();
    return request;
  });
}

std::string HubClient::resolve_commit(const RepoRef& repo, const std::string& revision) {
  std::string url = fmt::format("{}/revision/{}", api_base(settings_, repo), url_encode(revision, false));
  std::string what = fmt::format("{} {} at revision {}", kind_name(repo.kind), repo.id, revision);
  HttpResponse response = get_with_retries(url, what);
  if (!response.ok()) throw Error(failure_message(response, {&repo, revision, ""}));
  nlohmann::json info = parse_json(response.body, what);
  std::string commit;
  if (auto sha = info.find("sha"); info.is_object() && sha != info.end() && sha->is_string()) commit = *sha;
  if (commit.empty()) commit = response.header("x-repo-commit");
  if (commit.empty()) fail("{}: the hub's answer names no commit (no 'sha')", what);
  return checked_commit(commit, what);
}

std::vector<RemoteFile> HubClient::list_files(const RepoRef& repo, const std::string& commit) {
  std::string what = fmt::format("listing {} {} at {}", kind_name(repo.kind), repo.id, commit);
  std::optional<std::string> url =
      fmt::format("{}/tree/{}?recursive=true", api_base(settings_, repo), url_encode(commit, false));
  std::vector<RemoteFile> files;
  std::set<std::string> seen_urls;
  std::set<std::string> seen_paths;
  const std::optional<std::string> hub_origin = url_origin(settings_.endpoint);
  while (url) {
    // Pages come from the hub only (the token must not follow a link elsewhere), each once, and
    // a bounded number of them: a listing that loops or never ends is an error, not a hang.
    if (url_origin(*url) != hub_origin)
      fail("{}: the hub's next-page link leads away from {} ({}); refused", what, settings_.endpoint, printable(*url));
    if (!seen_urls.insert(*url).second)
      fail("{}: the hub's pagination loops (page {} links back to {}, already fetched)", what, seen_urls.size(),
           printable(*url));
    if (seen_urls.size() > limits_.max_tree_pages)
      fail("{}: more than {} pages of files; refused (a hub listing that does not end)", what, limits_.max_tree_pages);
    HttpResponse response = get_with_retries(*url, what);
    if (!response.ok()) throw Error(failure_message(response, {&repo, commit, ""}));
    nlohmann::json entries = parse_json(response.body, what);
    if (!entries.is_array()) fail("{}: expected a JSON array, got {}", what, printable(response.body));
    for (const auto& entry : entries) {
      if (!entry.is_object() || entry.value("type", std::string()) != "file") continue;
      RemoteFile file;
      try {
        file = remote_file_from_json(entry, limits_);
      } catch (const std::exception& e) {  // Error or nlohmann's: both name what is wrong
        fail("{}: refused the tree entry {}: {}", what, printable(entry.dump()), e.what());
      }
      if (!seen_paths.insert(file.path).second) fail("{}: the file {} is listed twice", what, file.path);
      files.push_back(std::move(file));
    }
    url = next_page_url(response.header("link"), settings_.endpoint);
  }
  log::debug("{}: {} files in {} page(s)", what, files.size(), seen_urls.size());
  return files;
}

std::string HubClient::resolve_url(const RepoRef& repo, const std::string& commit, const std::string& path) const {
  return fmt::format("{}{}/{}/resolve/{}/{}", settings_.endpoint, repo.kind == RepoKind::dataset ? "/datasets" : "",
                     repo.id, url_encode(commit, false), url_encode(path, true));
}

std::string HubClient::failure_message(const HttpResponse& response, const RequestContext& context) const {
  const RepoRef& repo = *context.repo;
  std::string subject = fmt::format("{} {} at revision {}", kind_name(repo.kind), repo.id, context.revision);
  if (!context.path.empty()) subject = fmt::format("{} in {}", context.path, subject);
  std::string server_says = response.header("x-error-message");
  std::string detail = server_says.empty() ? "" : fmt::format(" (hub: {})", printable(server_says));
  std::string token_help =
      settings_.token ? fmt::format("the token from {} was not accepted; check that it has read access",
                                    settings_.token_source)
                      : fmt::format("no token is set: export HF_TOKEN=hf_... or write the token to {} "
                                    "(huggingface-cli login does)",
                                    settings_.token_path.string());
  switch (response.transport_error == 0 ? response.status : 0) {
    case 401:
      return fmt::format("{}: HTTP 401 unauthorized{}. The repo is private or gated, or does not exist; {}",
                         subject, detail, token_help);
    case 403:
      return fmt::format("{}: HTTP 403 forbidden{}. The repo is gated or private: request access on {}/{}{} "
                         "and use a token of an account that has it; {}",
                         subject, detail, settings_.endpoint, repo.kind == RepoKind::dataset ? "datasets/" : "",
                         repo.id, token_help);
    case 404: {
      std::string error_code = response.header("x-error-code");
      std::string what_is_missing =
          error_code == "RevisionNotFound" ? fmt::format("revision '{}' does not exist", context.revision)
          : error_code == "RepoNotFound"   ? fmt::format("no {} repo named {}", kind_name(repo.kind), repo.id)
          : !context.path.empty()          ? fmt::format("no file '{}' at this revision", context.path)
                                           : "repo or revision not found (check --kind and --revision)";
      return fmt::format("{}: HTTP 404 not found on {}: {}{}", subject, settings_.endpoint, what_is_missing, detail);
    }
    default:
      return fmt::format("{}: {}{}{}", subject, response.describe(), detail,
                         is_retryable(response) ? fmt::format(" (gave up after {} attempts)", retry_.max_attempts)
                                                : "");
  }
}

}  // namespace xmtf::hub
