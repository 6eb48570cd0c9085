#pragma once
// What the eval tests share: the fixtures' paths, running an executable, temporary folders.
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/fs.hpp"

namespace xmtf::eval::testing {

inline const fs::path kData = fs::path(XMTF_TEST_DATA_DIR);
inline const fs::path kModel = kData / "eval" / "tiny-bloom-50261";
inline const fs::path kTokenizer = kData / "tokenizers" / "bloomstyle_gpt2vocab.tokenizer.json";

struct Result {
  int exit_code;
  std::string output;
};

// Runs a shell command line; its stdout, and its stderr too unless discarded (logs go there).
inline Result run(const std::string& command, bool with_stderr = true) {
  const std::string full = command + (with_stderr ? " 2>&1" : " 2>/dev/null");
  FILE* pipe = ::popen(full.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

inline std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

inline std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// A fresh folder under the system's temporary one, removed with the object.
class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / fmt::format("xmtf_eval_{}_{}", name, ::getpid())) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// The current test's name, for folders that must not collide between tests.
inline std::string test_name() { return ::testing::UnitTest::GetInstance()->current_test_info()->name(); }

}  // namespace xmtf::eval::testing
