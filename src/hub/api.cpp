#include "hub/api.hpp"

#include <nlohmann/json.hpp>

#include <regex>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/text.hpp"

namespace xmtf::hub {
namespace {

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
    if (starts_with(url, "/")) url = endpoint + url;
    return url;
  }
  return std::nullopt;
}

nlohmann::json parse_json(const std::string& body, const std::string& what) {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: the hub answered with invalid JSON ({}): {}", what, e.what(), body.substr(0, 200));
  }
}

RemoteFile remote_file_from_json(const nlohmann::json& entry, const std::string& what) {
  try {
    RemoteFile file;
    file.path = entry.at("path").get<std::string>();
    file.size = entry.at("size").get<std::uint64_t>();
    file.git_oid = entry.at("oid").get<std::string>();
    if (auto lfs = entry.find("lfs"); lfs != entry.end() && lfs->is_object()) {
      file.lfs_sha256 = lfs->at("oid").get<std::string>();
      file.size = lfs->value("size", file.size);
    }
    return file;
  } catch (const nlohmann::json::exception& e) {
    fail("{}: unexpected tree entry {} ({})", what, entry.dump(), e.what());
  }
}

}  // namespace

RepoKind parse_repo_kind(const std::string& text) {
  if (text == "model") return RepoKind::model;
  if (text == "dataset") return RepoKind::dataset;
  fail("unknown repo kind '{}': use model or dataset", text);
}

const char* kind_name(RepoKind kind) { return kind == RepoKind::model ? "model" : "dataset"; }

void validate_repo_id(const std::string& id) {
  static const std::regex pattern(R"(^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*$)");
  if (!std::regex_match(id, pattern) || id.find("--") != std::string::npos || id.find("..") != std::string::npos)
    fail("invalid repo id '{}': expected ORG/NAME (letters, digits, '-', '_', '.')", id);
}

HubClient::HubClient(HubSettings settings, RetryPolicy retry) : settings_(std::move(settings)), retry_(retry) {}

HttpResponse HubClient::get_with_retries(const std::string& url, const std::string& what) {
  return perform_with_retries(session_, retry_, what, [&] {
    HttpRequest request;
    request.url = url;
    request.bearer_token = settings_.token;
    return request;
  });
}

std::string HubClient::resolve_commit(const RepoRef& repo, const std::string& revision) {
  std::string url = fmt::format("{}/revision/{}", api_base(settings_, repo), url_encode(revision, false));
  std::string what = fmt::format("{} {} at revision {}", kind_name(repo.kind), repo.id, revision);
  HttpResponse response = get_with_retries(url, what);
  if (!response.ok()) throw Error(failure_message(response, {&repo, revision, ""}));
  nlohmann::json info = parse_json(response.body, what);
  std::string commit = info.value("sha", std::string());
  if (commit.empty()) commit = response.header("x-repo-commit");
  if (commit.empty()) fail("{}: the hub's answer names no commit (no 'sha')", what);
  return commit;
}

std::vector<RemoteFile> HubClient::list_files(const RepoRef& repo, const std::string& commit) {
  std::string what = fmt::format("listing {} {} at {}", kind_name(repo.kind), repo.id, commit);
  std::optional<std::string> url =
      fmt::format("{}/tree/{}?recursive=true", api_base(settings_, repo), url_encode(commit, false));
  std::vector<RemoteFile> files;
  int pages = 0;
  while (url) {
    HttpResponse response = get_with_retries(*url, what);
    if (!response.ok()) throw Error(failure_message(response, {&repo, commit, ""}));
    nlohmann::json entries = parse_json(response.body, what);
    if (!entries.is_array()) fail("{}: expected a JSON array, got {}", what, response.body.substr(0, 200));
    for (const auto& entry : entries)
      if (entry.value("type", std::string()) == "file") files.push_back(remote_file_from_json(entry, what));
    ++pages;
    url = next_page_url(response.header("link"), settings_.endpoint);
  }
  log::debug("{}: {} files in {} page(s)", what, files.size(), pages);
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
  std::string detail = server_says.empty() ? "" : fmt::format(" (hub: {})", server_says);
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
