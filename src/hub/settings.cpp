#include "hub/settings.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include "core/text.hpp"

namespace xmtf::hub {
namespace {

std::optional<std::string> env(const char* name) {
  const char* value = std::getenv(name);
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

fs::path expand_user(const std::string& path) {
  if (path == "~" || starts_with(path, "~/")) {
    if (auto home = env("HOME")) return fs::path(*home) / path.substr(std::min<std::size_t>(2, path.size()));
  }
  return fs::path(path);
}

fs::path default_hf_home() {
  if (auto home = env("HF_HOME")) return expand_user(*home);
  if (auto xdg = env("XDG_CACHE_HOME")) return expand_user(*xdg) / "huggingface";
  return expand_user("~/.cache/huggingface");
}

std::optional<std::string> read_token_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string token(trim(contents));
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace

bool env_flag_is_true(const char* value) {
  if (!value) return false;
  std::string upper(trim(value));
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

HubSettings settings_from_environment() {
  HubSettings settings;
  settings.endpoint = env("HF_ENDPOINT").value_or("https://huggingface.co");
  while (!settings.endpoint.empty() && settings.endpoint.back() == '/') settings.endpoint.pop_back();

  fs::path hf_home = default_hf_home();
  if (auto cache = env("HF_HUB_CACHE")) {
    settings.cache_dir = expand_user(*cache);
  } else if (auto legacy = env("HUGGINGFACE_HUB_CACHE")) {
    settings.cache_dir = expand_user(*legacy);
  } else {
    settings.cache_dir = hf_home / "hub";
  }
  settings.token_path = env("HF_TOKEN_PATH") ? expand_user(*env("HF_TOKEN_PATH")) : hf_home / "token";

  if (auto token = env("HF_TOKEN")) {
    settings.token = std::string(trim(*token));
    settings.token_source = "HF_TOKEN";
  } else if (auto legacy = env("HUGGING_FACE_HUB_TOKEN")) {
    settings.token = std::string(trim(*legacy));
    settings.token_source = "HUGGING_FACE_HUB_TOKEN";
  } else if (auto from_file = read_token_file(settings.token_path)) {
    settings.token = *from_file;
    settings.token_source = "the token file " + settings.token_path.string();
  }
  settings.offline = env_flag_is_true(std::getenv("HF_HUB_OFFLINE"));
  return settings;
}

}  // namespace xmtf::hub
