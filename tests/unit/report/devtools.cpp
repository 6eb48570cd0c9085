#include "devtools.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace xmtf::report::test_util {

namespace fs = std::filesystem;

std::optional<fs::path> find_chromium() {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
      const fs::path candidate = fs::path(dir) / name;
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
  return std::nullopt;
}

Chromium::Chromium(const fs::path& binary, const fs::path& profile_dir) {
  fs::create_directories(profile_dir);
  stderr_path_ = profile_dir / "chromium.stderr";
  int commands[2], responses[2];
  if (::pipe2(commands, O_CLOEXEC) != 0 || ::pipe2(responses, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const std::string user_data = "--user-data-dir=" + (profile_dir / "profile").string();
  std::vector<std::string> args = {binary.string(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                                   "--no-first-run", "--disable-background-networking", "--disable-component-update",
                                   "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
                                   user_data, "--remote-debugging-pipe", "about:blank"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int err_fd = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    // fds 3 (commands in) and 4 (responses out), whatever numbers the pipes got.
    const int in = ::fcntl(commands[0], F_DUPFD, 10), out = ::fcntl(responses[1], F_DUPFD, 10);
    ::dup2(in, 3);
    ::dup2(out, 4);
    ::close(in);
    ::close(out);
    ::dup2(err_fd, 2);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(commands[0]);
  ::close(responses[1]);
  ::close(err_fd);
  to_browser_ = commands[1];
  from_browser_ = responses[0];
  ::signal(SIGPIPE, SIG_IGN);
}

Chromium::~Chromium() {
  if (pid_ <= 0) return;
  try {
    call("Browser.close", nlohmann::json::object(), "", 5);
  } catch (const std::exception&) {
  }
  ::close(to_browser_);
  ::close(from_browser_);
  for (int i = 0; i < 100; ++i) {  // up to 5 s to exit on its own
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string Chromium::stderr_tail() const {
  std::ifstream in(stderr_path_);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() > 3000 ? all.substr(all.size() - 3000) : all;
}

std::optional<nlohmann::json> Chromium::read_message(double timeout_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (true) {
    if (auto end = pending_.find('\0'); end != std::string::npos) {
      auto message = nlohmann::json::parse(pending_.substr(0, end));
      pending_.erase(0, end + 1);
      return message;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{from_browser_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[65536];
    const ssize_t n = ::read(from_browser_, buffer, sizeof buffer);
    if (n <= 0) throw std::runtime_error("chromium closed the pipe; its stderr:\n" + stderr_tail());
    pending_.append(buffer, static_cast<std::size_t>(n));
  }
}

nlohmann::json Chromium::call(const std::string& method, nlohmann::json params, const std::string& session,
                              double timeout_seconds) {
  const int id = next_id_++;
  nlohmann::json message = {{"id", id}, {"method", method}, {"params", std::move(params)}};
  if (!session.empty()) message["sessionId"] = session;
  const std::string text = message.dump() + '\0';
  for (std::size_t sent = 0; sent < text.size();) {
    const ssize_t n = ::write(to_browser_, text.data() + sent, text.size() - sent);
    if (n <= 0) throw std::runtime_error(method + ": chromium is not reading commands; its stderr:\n" + stderr_tail());
    sent += static_cast<std::size_t>(n);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (true) {
    const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
    auto reply = left > 0 ? read_message(left) : std::nullopt;
    if (!reply) throw std::runtime_error(method + ": no answer from chromium; its stderr:\n" + stderr_tail());
    if (reply->contains("id") && (*reply)["id"] == id) {
      if (reply->contains("error")) throw std::runtime_error(method + ": " + (*reply)["error"].dump());
      return reply->value("result", nlohmann::json::object());
    }
    if (reply->contains("method")) events_.push_back(std::move(*reply));
  }
}

nlohmann::json Chromium::wait_for_event(const std::string& method, double timeout_seconds) {
  for (const auto& event : events_)
    if (event["method"] == method) return event;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (true) {
    const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
    auto message = left > 0 ? read_message(left) : std::nullopt;
    if (!message) throw std::runtime_error("no " + method + " event from chromium");
    if (!message->contains("method")) continue;
    events_.push_back(*message);
    if ((*message)["method"] == method) return *message;
  }
}

}  // namespace xmtf::report::test_util
