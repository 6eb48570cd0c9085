#pragma once
// Where the hub is, who we are and where the cache lives: read from the same environment
// variables huggingface_hub reads, with the same defaults, so both tools share one cache.
#include <optional>
#include <string>

#include "core/fs.hpp"

namespace xmtf::hub {

struct HubSettings {
  std::string endpoint;        // HF_ENDPOINT, default https://huggingface.co (no trailing '/')
  fs::path cache_dir;          // HF_HUB_CACHE | HUGGINGFACE_HUB_CACHE | $HF_HOME/hub
  fs::path token_path;         // HF_TOKEN_PATH | $HF_HOME/token
  std::optional<std::string> token;  // never printed; see token_source for messages
  std::string token_source;    // "HF_TOKEN", "the token file <path>" or "" when none
  bool offline = false;        // HF_HUB_OFFLINE
};

// Reads the environment. HF_HOME defaults to $XDG_CACHE_HOME/huggingface, then
// ~/.cache/huggingface, as in huggingface_hub's constants.py.
HubSettings settings_from_environment();

// huggingface_hub's truthy values: "1", "ON", "YES", "TRUE" (any case).
bool env_flag_is_true(const char* value);

}  // namespace xmtf::hub
