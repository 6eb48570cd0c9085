#pragma once
// Shared by the xmtf-aggregate tests: running the executable, a temporary folder, per-prompt
// result files in the xmtf-eval format, and reading report.csv.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/fs.hpp"

namespace xmtf::report::test_util {

inline const fs::path kTool = fs::path(XMTF_BIN_DIR) / "xmtf-aggregate";
inline const fs::path kResultsData = fs::path(XMTF_TEST_DATA_DIR) / "results";

struct CommandResult {
  int exit_code;
  std::string out, err;
};

inline std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs a shell command line; stdout and stderr kept apart.
inline CommandResult run(const std::string& command, const fs::path& scratch) {
  const fs::path err = scratch / "stderr.txt";
  FILE* pipe = ::popen((command + " 2>" + quote(err)).c_str(), "r");
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out, fs::exists(err) ? read_file(err) : ""};
}

inline fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("xmtf_report_{}_{}_{}", name, ::getpid(),
                                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// One template's result as xmtf-eval writes it.
inline void write_prompt_result(const fs::path& dir, const std::string& model, const std::string& config,
                                const std::string& prompt_language, const std::string& template_name, int correct, int n) {
  const std::string slug = template_name + (prompt_language == "EN" ? "" : "-" + prompt_language);
  write_file_atomic(dir / fmt::format("xcopa.{}.validation.{}.json", config, slug),
                    fmt::format(R"({{
  "model": "{}",
  "dataset_name": "xcopa",
  "dataset_config_name": "{}",
  "split": "validation",
  "template_name": "{}",
  "prompt_language": "{}",
  "n": {},
  "correct": {},
  "evaluation": {{"accuracy": {:.17g}}}
}}
)",
                                model, config, template_name, prompt_language, n, correct,
                                static_cast<double>(correct) / static_cast<double>(n)));
}

// report.csv as rows of fields (RFC 4180 quotes handled); the header row first.
inline std::vector<std::vector<std::string>> read_csv(const fs::path& path) {
  std::vector<std::vector<std::string>> rows(1);
  std::string field;
  bool quoted = false;
  const std::string text = read_file(path);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().push_back(field), field.clear();
    } else if (c == '\n') {
      rows.back().push_back(field), field.clear();
      rows.emplace_back();
    } else {
      field += c;
    }
  }
  if (rows.back().empty()) rows.pop_back();
  return rows;
}

// Cell lookup by the six key fields joined with '|', and by column header.
struct Csv {
  std::vector<std::string> header;
  std::map<std::string, std::vector<std::string>> rows;
  explicit Csv(const fs::path& path) {
    auto all = read_csv(path);
    header = all.at(0);
    for (std::size_t i = 1; i < all.size(); ++i) {
      const auto& r = all[i];
      rows[fmt::format("{}|{}|{}|{}|{}|{}", r[0], r[1], r[2], r[3], r[4], r[5])] = r;
    }
  }
  bool has_row(const std::string& key) const { return rows.count(key) != 0; }
  std::string at(const std::string& key, const std::string& column) const {
    auto r = rows.find(key);
    if (r == rows.end()) throw std::runtime_error("no row " + key);
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == column) return r->second.at(i);
    throw std::runtime_error("no column " + column);
  }
};

}  // namespace xmtf::report::test_util
