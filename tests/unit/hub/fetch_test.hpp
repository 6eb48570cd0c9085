#pragma once
// The fixture of the end-to-end tests: the real xmtf-fetch executable run in a clean
// environment against the mock hub (and its CDN port), with helpers that check the
// huggingface_hub cache layout.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <set>
#include <random>

#include <fmt/format.h>

#include "core/fs.hpp"
#include "core/text.hpp"
#include "mock_hub.hpp"

namespace xmtf::test {

inline const std::string kModelCommit = "1111111111111111111111111111111111111111";
inline const std::string kDataCommit = "2222222222222222222222222222222222222222";
inline const std::string kPrivateCommit = "3333333333333333333333333333333333333333";
inline const std::string kToken = "hf_SeCrEtToKeN0123456789";

inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937 random(seed);
  std::string bytes(n, '\0');
  for (auto& byte : bytes) byte = static_cast<char>(random() & 0xff);
  return bytes;
}

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  double seconds = 0;
  std::string last_line() const {
    auto lines = split(std::string(trim(out)), '\n');
    return lines.empty() ? "" : lines.back();
  }
};

class FetchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / fmt::format("xmtf-fetch-{}-{}", info->name(), ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "home");
    hf_home_ = dir_ / "hf";
    cache_ = hf_home_ / "hub";

    model_.id = "org/tiny-model";
    model_.commit = kModelCommit;
    model_.files = {{"config.json", R"({"model_type": "bloom", "n_layer": 2})" "\n", false},
                    {"tokenizer.json", std::string(10000, 't'), false},
                    {"model.safetensors", random_bytes(600 * 1024, 1), true},
                    {"weights/extra.bin", random_bytes(300 * 1024, 2), true}};
    hub_.add_repo(model_);

    data_.id = "org/xp3-mini";
    data_.kind = "dataset";
    data_.commit = kDataCommit;
    data_.files = {{"README.md", "# xp3 mini\n", false},
                   {"en/a.jsonl", "{\"inputs\": \"a\", \"targets\": \"b\"}\n", false},
                   {"en/b.jsonl", "{\"inputs\": \"c\", \"targets\": \"d\"}\n", false},
                   {"sw/a.jsonl", "{\"inputs\": \"e\", \"targets\": \"f\"}\n", false},
                   {"sw/b.jsonl", "{\"inputs\": \"g\", \"targets\": \"h\"}\n", false},
                   {"sw/deep/c.jsonl", "{\"inputs\": \"i\", \"targets\": \"j\"}\n", false}};
    hub_.add_repo(data_);

    MockRepo private_repo;
    private_repo.id = "org/private";
    private_repo.commit = kPrivateCommit;
    private_repo.requires_token = true;
    private_repo.files = {{"config.json", "{}\n", false}, {"model.bin", random_bytes(50000, 3), true}};
    hub_.add_repo(private_repo);
    hub_.set_token(kToken);
  }

  void TearDown() override {
    if (!HasFailure() && !std::getenv("XMTF_KEEP_TEST_DIRS")) fs::remove_all(dir_);
  }

  // Runs xmtf-fetch in a clean environment: only what the test sets, plus a tiny backoff.
  RunResult run(const std::vector<std::string>& args, std::map<std::string, std::string> env = {}) {
    return run_together({args}, std::move(env)).front();
  }

  // Runs several xmtf-fetch processes at the same time (same environment) and waits for all.
  std::vector<RunResult> run_together(const std::vector<std::vector<std::string>>& commands,
                                      std::map<std::string, std::string> env = {}) {
    env.emplace("HF_ENDPOINT", hub_.endpoint());
    env.emplace("HF_HOME", hf_home_.string());
    env.emplace("XMTF_HUB_RETRY_DELAY", "0.01");
    env.emplace("XMTF_PROGRESS_SECONDS", "0.05");
    std::string script;
    std::vector<std::pair<fs::path, fs::path>> outputs;
    for (const auto& args : commands) {
      std::string command = "env -i PATH=/usr/bin:/bin HOME=" + shell_quote((dir_ / "home").string());
      for (const auto& [name, value] : env) command += " " + name + "=" + shell_quote(value);
      command += " " + shell_quote(std::string(XMTF_BIN_DIR) + "/xmtf-fetch");
      for (const auto& arg : args) command += " " + shell_quote(arg);
      ++runs_;
      fs::path out = dir_ / fmt::format("out.{}", runs_);
      fs::path err = dir_ / fmt::format("err.{}", runs_);
      fs::path code = dir_ / fmt::format("code.{}", runs_);
      command += " >" + shell_quote(out.string()) + " 2>" + shell_quote(err.string());
      script += "(" + command + "; echo $? > " + shell_quote(code.string()) + ") & ";
      outputs.emplace_back(out, err);
    }
    script += "wait";
    auto start = std::chrono::steady_clock::now();
    int status = std::system(script.c_str());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(WIFEXITED(status));
    std::vector<RunResult> results;
    for (const auto& [out, err] : outputs) {
      RunResult result;
      result.seconds = seconds;
      fs::path code = dir_ / ("code." + out.extension().string().substr(1));
      result.exit_code = std::stoi(std::string(trim(read_file(code))));
      result.out = read_file(out);
      result.err = read_file(err);
      results.push_back(std::move(result));
    }
    return results;
  }

  fs::path model_folder() const { return cache_ / "models--org--tiny-model"; }
  fs::path data_folder() const { return cache_ / "datasets--org--xp3-mini"; }

  // Every file of repo in the snapshot, with the content the hub has, as a relative symlink
  // into blobs/ named by the file's ETag.
  void expect_snapshot(const fs::path& repo_folder, const MockRepo& repo, const std::vector<std::string>& paths) {
    for (const auto& file : repo.files) {
      if (std::find(paths.begin(), paths.end(), file.path) == paths.end()) continue;
      fs::path link = repo_folder / "snapshots" / repo.commit / file.path;
      ASSERT_TRUE(fs::is_symlink(link)) << link;
      std::string etag = file.lfs ? sha256_of(file.content) : git_blob_sha1_of(file.content);
      fs::path target = fs::read_symlink(link);
      EXPECT_TRUE(target.is_relative()) << link;
      EXPECT_EQ((link.parent_path() / target).lexically_normal(), (repo_folder / "blobs" / etag).lexically_normal())
          << "link " << link << " does not lead to blobs/" << etag;
      EXPECT_EQ(read_file(link), file.content) << file.path;
    }
  }

  std::vector<std::string> all_paths(const MockRepo& repo) const {
    std::vector<std::string> paths;
    for (const auto& file : repo.files) paths.push_back(file.path);
    return paths;
  }

  int count_files(const fs::path& folder) const {
    int n = 0;
    if (!fs::exists(folder)) return 0;
    for (const auto& entry : fs::recursive_directory_iterator(folder))
      if (!entry.is_directory()) ++n;
    return n;
  }

  // Whatever a run left in the test folder outside the cache's own layout ({cache}/{repo
  // folder}/blobs|snapshots|refs, {cache}/.locks): a hostile hub must not add anything there.
  std::vector<std::string> files_outside_the_cache() const {
    std::vector<std::string> stray;
    for (auto it = fs::recursive_directory_iterator(dir_); it != fs::recursive_directory_iterator(); ++it) {
      fs::path relative = it->path().lexically_relative(dir_);
      std::string top = relative.begin()->string();
      bool run_output = relative == relative.filename() && (starts_with(top, "out.") || starts_with(top, "err.") ||
                                                            starts_with(top, "code."));
      if (run_output || relative == "home" || relative == "hf" || relative == "hf/token" || relative == "hf/hub") continue;
      if (relative.parent_path() == "hf/hub") {
        std::string name = relative.filename().string();
        bool repo_folder = starts_with(name, "models--") || starts_with(name, "datasets--");
        if (name != ".locks" && !repo_folder) stray.push_back(relative.string());
        if (!repo_folder) it.disable_recursion_pending();
        continue;
      }
      if (relative.parent_path().parent_path() == "hf/hub") {
        std::string name = relative.filename().string();
        if (name != "blobs" && name != "snapshots" && name != "refs") stray.push_back(relative.string());
        it.disable_recursion_pending();
        continue;
      }
      stray.push_back(relative.string());
      it.disable_recursion_pending();
    }
    return stray;
  }

  MockHub hub_;
  MockRepo model_;
  MockRepo data_;
  fs::path dir_;
  fs::path hf_home_;
  fs::path cache_;
  int runs_ = 0;
};

}  // namespace xmtf::test
