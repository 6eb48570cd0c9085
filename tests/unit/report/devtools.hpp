#pragma once
// A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (the transport
// Puppeteer uses): headless Chromium reads JSON commands from fd 3 and writes responses and
// events to fd 4, each message terminated by '\0'. Enough to load a page, collect console
// messages and exceptions, evaluate JavaScript and take a screenshot. Test-only.
#include <sys/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace xmtf::report::test_util {

// chromium (Debian's name) or chromium-browser / google-chrome on PATH, or nothing.
std::optional<std::filesystem::path> find_chromium();

class Chromium {
 public:
  // Starts the browser with a fresh profile under profile_dir; throws std::runtime_error when it
  // does not answer (the message holds the end of its stderr).
  Chromium(const std::filesystem::path& binary, const std::filesystem::path& profile_dir);
  ~Chromium();
  Chromium(const Chromium&) = delete;
  Chromium& operator=(const Chromium&) = delete;

  // Sends a command (to a page's session when given) and returns its "result"; throws on an
  // error response or after timeout_seconds.
  nlohmann::json call(const std::string& method, nlohmann::json params = nlohmann::json::object(),
                      const std::string& session = "", double timeout_seconds = 30);
  // Waits for an event of that method (already received ones count).
  nlohmann::json wait_for_event(const std::string& method, double timeout_seconds = 30);

  const std::vector<nlohmann::json>& events() const { return events_; }
  std::string stderr_tail() const;

 private:
  std::optional<nlohmann::json> read_message(double timeout_seconds);

  pid_t pid_ = -1;
  int to_browser_ = -1, from_browser_ = -1;
  std::filesystem::path stderr_path_;
  std::string pending_;
  std::vector<nlohmann::json> events_;
  int next_id_ = 1;
};

}  // namespace xmtf::report::test_util
