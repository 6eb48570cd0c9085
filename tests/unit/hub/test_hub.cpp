// Unit tests of the hub library's pieces: cache naming, selection globs, backoff, settings from
// the environment, checksums against git itself.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/process.hpp"
#include "core/text.hpp"
#include "hub/cache.hpp"
#include "hub/download.hpp"
#include "hub/fetch.hpp"
#include "hub/http.hpp"
#include "hub/settings.hpp"
#include "mock_hub.hpp"

namespace xmtf::hub {
namespace {

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-hub-unit-{}-{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(HubCache, RepoFolderNamesAsHuggingfaceHub) {
  EXPECT_EQ(repo_folder_name({"bigscience/bloom-560m", RepoKind::model}), "models--bigscience--bloom-560m");
  EXPECT_EQ(repo_folder_name({"bigscience/xP3", RepoKind::dataset}), "datasets--bigscience--xP3");
  EXPECT_EQ(repo_folder_name({"gpt2", RepoKind::model}), "models--gpt2");
}

TEST(HubCache, CommitHashRecognition) {
  EXPECT_TRUE(is_commit_hash("0123456789abcdef0123456789abcdef01234567"));
  EXPECT_FALSE(is_commit_hash("main"));
  EXPECT_FALSE(is_commit_hash("0123456789ABCDEF0123456789abcdef01234567"));
}

TEST(HubCache, SnapshotLinksAreRelativeAndRefsHaveNoNewline) {
  fs::path dir = fresh_dir("links");
  RepoRef repo{"org/name", RepoKind::dataset};
  RepoCache cache(dir, repo);
  std::string commit(40, 'a');
  std::string blob(64, 'b');
  fs::create_directories(cache.blob_path(blob).parent_path());
  write_file_atomic(cache.blob_path(blob), "hello");
  cache.link_snapshot_file(commit, "sub/dir/file.txt", blob);
  fs::path link = cache.snapshot_file(commit, "sub/dir/file.txt");
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), fs::path("../../../../blobs") / blob);
  EXPECT_EQ(read_file(link), "hello");
  EXPECT_TRUE(cache.has_snapshot_file(commit, "sub/dir/file.txt"));
  EXPECT_TRUE(cache.snapshot_link_is(commit, "sub/dir/file.txt", blob));
  EXPECT_FALSE(cache.snapshot_link_is(commit, "sub/dir/file.txt", std::string(64, 'c')));
  EXPECT_EQ(cache.snapshot_entry_problem(link), "");
  cache.link_snapshot_file(commit, "sub/dir/file.txt", blob);  // idempotent
  cache.write_ref("main", commit);
  EXPECT_EQ(read_file(dir / "datasets--org--name" / "refs" / "main"), commit);
  EXPECT_EQ(cache.cached_commit("main"), commit);
  EXPECT_EQ(cache.cached_commit(commit), commit);
  EXPECT_FALSE(cache.cached_commit("dev").has_value());
  fs::remove_all(dir);
}

TEST(HubCache, RejectsPathsEscapingTheSnapshot) {
  EXPECT_THROW(validate_repo_path("../etc/passwd"), Error);
  EXPECT_THROW(validate_repo_path("/abs"), Error);
  EXPECT_THROW(validate_repo_path("a//b"), Error);
  EXPECT_THROW(validate_repo_path("a/"), Error);
  EXPECT_THROW(validate_repo_path("a\\..\\b"), Error);
  EXPECT_THROW(validate_repo_path(std::string("a\0b", 3)), Error);
  EXPECT_THROW(validate_repo_path("a\nb"), Error);
  EXPECT_THROW(validate_repo_path(""), Error);
  EXPECT_NO_THROW(validate_repo_path("xP3/sw/a.jsonl"));
  EXPECT_NO_THROW(validate_repo_path("..hidden/a..b"));  // dots inside a name are just a name
}

TEST(HubCache, EveryPathIsMadeFromCheckedNames) {
  RepoCache cache("/cache", {"org/name", RepoKind::model});
  for (const std::string& bad : {std::string("/etc/passwd"), std::string("../../x"), std::string(40, 'g'),
                                 std::string(63, 'a'), std::string(40, 'A'), std::string("")}) {
    EXPECT_THROW(cache.blob_path(bad), Error) << bad;
    EXPECT_THROW(cache.incomplete_path(bad), Error) << bad;
    EXPECT_THROW(cache.lock_path(bad), Error) << bad;
    EXPECT_THROW(cache.parts_path(bad), Error) << bad;
    EXPECT_THROW(cache.snapshot_dir(bad), Error) << bad;
  }
  EXPECT_THROW(cache.snapshot_file(std::string(40, 'a'), "../x"), Error);
  EXPECT_EQ(cache.blob_path(std::string(40, 'a')), fs::path("/cache/models--org--name/blobs") / std::string(40, 'a'));
  EXPECT_TRUE(is_blob_oid(std::string(64, 'f')));
  EXPECT_FALSE(is_blob_oid(std::string(50, 'f')));
}

TEST(HubCache, RefsAreCheckedWhenRead) {
  fs::path dir = fresh_dir("refs");
  RepoCache cache(dir, {"org/name", RepoKind::model});
  write_file_atomic(cache.root() / "refs" / "main", "../../../../tmp\n");
  EXPECT_THROW(cache.read_ref("main"), Error);
  EXPECT_THROW(cache.cached_commit("main"), Error);
  EXPECT_THROW(cache.write_ref("main", "/abs"), Error);
  cache.write_ref("main", std::string(40, 'c'));  // online: the hub's checked answer replaces it
  EXPECT_EQ(cache.read_ref("main"), std::string(40, 'c'));
  fs::remove_all(dir);
}

TEST(HubApi, RepoIdsAndKinds) {
  EXPECT_NO_THROW(validate_repo_id("bigscience/bloom-560m"));
  EXPECT_NO_THROW(validate_repo_id("Muennighoff/xP3x"));
  EXPECT_THROW(validate_repo_id("a/b/c"), Error);
  EXPECT_THROW(validate_repo_id("org/na me"), Error);
  EXPECT_THROW(validate_repo_id("org/a--b"), Error);
  EXPECT_EQ(parse_repo_kind("dataset"), RepoKind::dataset);
  EXPECT_THROW(parse_repo_kind("space"), Error);
}

TEST(HubApi, ResolveUrlsAsHfHubUrl) {
  HubSettings settings;
  settings.endpoint = "https://huggingface.co";
  HubClient client(settings, RetryPolicy{});
  std::string commit(40, 'b');
  EXPECT_EQ(client.resolve_url({"bigscience/xP3", RepoKind::dataset}, commit, "sw/a b.jsonl"),
            "https://huggingface.co/datasets/bigscience/xP3/resolve/" + commit + "/sw/a%20b.jsonl");
  EXPECT_EQ(client.resolve_url({"org/m", RepoKind::model}, commit, "config.json"),
            "https://huggingface.co/org/m/resolve/" + commit + "/config.json");
  EXPECT_EQ(url_encode("refs/pr/1", false), "refs%2Fpr%2F1");
}

TEST(HubApi, TheTokenGoesToTheEndpointsOriginOnly) {
  EXPECT_EQ(url_origin("https://huggingface.co/api/x?y=1"), "https://huggingface.co:443");
  EXPECT_EQ(url_origin("HTTP://HF.example:8080/a"), "http://hf.example:8080");
  EXPECT_EQ(url_origin("http://127.0.0.1/a"), "http://127.0.0.1:80");
  EXPECT_EQ(url_origin("file:///etc/passwd"), std::nullopt);
  EXPECT_EQ(url_origin("/relative"), std::nullopt);
  HubSettings settings;
  settings.endpoint = "https://huggingface.co";
  settings.token = "hf_x";
  HubClient client(settings, RetryPolicy{});
  EXPECT_EQ(client.token_for("https://huggingface.co/api/models/a/b"), "hf_x");
  EXPECT_EQ(client.token_for("https://huggingface.co:443/a"), "hf_x");
  EXPECT_EQ(client.token_for("http://huggingface.co/a"), std::nullopt);      // another scheme
  EXPECT_EQ(client.token_for("https://huggingface.co:8443/a"), std::nullopt);  // another port
  EXPECT_EQ(client.token_for("https://cdn-lfs.huggingface.co/a"), std::nullopt);
  EXPECT_EQ(client.token_for("https://huggingface.co.evil.example/a"), std::nullopt);
  EXPECT_EQ(client.token_for("https://evil.example/?https://huggingface.co"), std::nullopt);
}

// A listing is bounded: pages (a hub that never stops paginating) and bytes per answer.
TEST(HubApi, ListingsAreBoundedInPagesAndBytes) {
  test::MockHub hub;
  test::MockRepo repo;
  repo.id = "org/many";
  repo.commit = std::string(40, '5');
  for (int i = 0; i < 9; ++i) repo.files.push_back({fmt::format("f{}.txt", i), "x", false});
  hub.add_repo(repo);
  hub.set_tree_page_size(2);
  HubSettings settings;
  settings.endpoint = hub.endpoint();
  RetryPolicy retry{1, 0.0, 0.0};
  RepoRef ref{"org/many", RepoKind::model};

  EXPECT_EQ(HubClient(settings, retry).list_files(ref, repo.commit).size(), 9u);  // 5 pages
  HubLimits few_pages;
  few_pages.max_tree_pages = 3;
  try {
    HubClient(settings, retry, few_pages).list_files(ref, repo.commit);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 3 pages"), std::string::npos) << e.what();
  }
  HubLimits small_answers;
  small_answers.max_api_body_bytes = 100;
  try {
    HubClient(settings, retry, small_answers).list_files(ref, repo.commit);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("larger than the limit"), std::string::npos) << e.what();
  }
}

TEST(HubSelection, IncludeAndExcludeGlobs) {
  std::vector<std::string> include{"xP3/sw/*.jsonl", "README.md"};
  EXPECT_TRUE(is_selected("xP3/sw/a.jsonl", include, {}));
  EXPECT_TRUE(is_selected("README.md", include, {}));
  EXPECT_FALSE(is_selected("xP3/sw/deeper/a.jsonl", include, {}));  // '*' stays in its folder
  EXPECT_FALSE(is_selected("xP3/en/a.jsonl", include, {}));
  EXPECT_TRUE(is_selected("xP3/sw/deeper/a.jsonl", {"xP3/**"}, {}));
  EXPECT_TRUE(is_selected("xP3/sw/deeper/a.jsonl", {"xP3/"}, {}));  // a folder: everything under it
  EXPECT_FALSE(is_selected("xP3/sw/a.jsonl", {}, {"xP3/sw/*"}));
  EXPECT_TRUE(is_selected("anything", {}, {}));
}

TEST(HubRetry, BackoffGrowsWithJitterAndIsCapped) {
  RetryPolicy policy{10, 1.0, 8.0};
  std::mt19937_64 random(42);
  for (int attempt = 1; attempt <= 6; ++attempt) {
    double expected = std::min(8.0, std::pow(2.0, attempt - 1));
    for (int trial = 0; trial < 20; ++trial) {
      double delay = backoff_delay_seconds(policy, attempt, random);
      EXPECT_GE(delay, 0.5 * expected);
      EXPECT_LE(delay, expected);
    }
  }
}

TEST(HubRetry, RetryableAnswers) {
  HttpResponse response;
  response.status = 503;
  EXPECT_TRUE(is_retryable(response));
  response.status = 429;
  response.hops.push_back({{"retry-after", "7"}});
  EXPECT_TRUE(is_retryable(response));
  EXPECT_EQ(retry_after_seconds(response), 7.0);
  response.status = 404;
  EXPECT_FALSE(is_retryable(response));
  response.status = 401;
  EXPECT_FALSE(is_retryable(response));
  response.status = 0;
  response.transport_error = 7;  // CURLE_COULDNT_CONNECT
  EXPECT_TRUE(is_retryable(response));
}

// huggingface_hub's constants.py defaults, reproduced through the environment.
TEST(HubSettings, EnvironmentDefaultsAsHuggingfaceHub) {
  fs::path dir = fresh_dir("settings");
  for (const char* name : {"HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN",
                           "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"})
    ::unsetenv(name);
  ::setenv("HOME", dir.c_str(), 1);
  HubSettings settings = settings_from_environment();
  EXPECT_EQ(settings.endpoint, "https://huggingface.co");
  EXPECT_EQ(settings.cache_dir, dir / ".cache/huggingface/hub");
  EXPECT_EQ(settings.token_path, dir / ".cache/huggingface/token");
  EXPECT_FALSE(settings.token.has_value());
  EXPECT_FALSE(settings.offline);

  ::setenv("HF_HOME", (dir / "hf").c_str(), 1);
  fs::create_directories(dir / "hf");
  write_file_atomic(dir / "hf" / "token", "hf_filetoken\n");
  ::setenv("HF_ENDPOINT", "http://127.0.0.1:9/", 1);
  ::setenv("HF_HUB_OFFLINE", "yes", 1);
  settings = settings_from_environment();
  EXPECT_EQ(settings.endpoint, "http://127.0.0.1:9");
  EXPECT_EQ(settings.cache_dir, dir / "hf" / "hub");
  EXPECT_EQ(settings.token, "hf_filetoken");
  EXPECT_TRUE(settings.offline);

  ::setenv("HF_HUB_CACHE", (dir / "elsewhere").c_str(), 1);
  ::setenv("HF_TOKEN", "hf_envtoken", 1);
  settings = settings_from_environment();
  EXPECT_EQ(settings.cache_dir, dir / "elsewhere");
  EXPECT_EQ(settings.token, "hf_envtoken");
  EXPECT_EQ(settings.token_source, "HF_TOKEN");
  for (const char* name : {"HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_TOKEN", "HF_HUB_OFFLINE"}) ::unsetenv(name);
  fs::remove_all(dir);
}

// The git blob id against git itself (a build requirement, scripts/setup.sh), and against the id
// git printed for this content when the test was written.
TEST(HubVerify, GitBlobSha1MatchesGitHashObject) {
  fs::path dir = fresh_dir("git");
  std::string content = "{\"hello\": \"world\"}\n";
  write_file_atomic(dir / "f.json", content);
  EXPECT_EQ(git_blob_sha1_file(dir / "f.json"), "56c8e280338ea64e1ab62ef9bacdf02840a0dabb");  // git hash-object, git 2.39
  EXPECT_EQ(git_blob_sha1_file(dir / "f.json"), xmtf::test::git_blob_sha1_of(content));
  ProcessResult git = run_process({"git", "hash-object", (dir / "f.json").string()});
  ASSERT_EQ(git.exit_code, 0) << "git hash-object failed (git is required by scripts/setup.sh): " << git.err;
  EXPECT_EQ(std::string(trim(git.out)), git_blob_sha1_file(dir / "f.json"));
  RemoteFile file{"f.json", content.size(), xmtf::test::git_blob_sha1_of(content), ""};
  EXPECT_EQ(verify_blob_file(dir / "f.json", file), "");
  file.git_oid = std::string(40, '0');
  EXPECT_NE(verify_blob_file(dir / "f.json", file).find("checksum mismatch"), std::string::npos);
  RemoteFile lfs{"f.json", content.size(), "", xmtf::test::sha256_of(content)};
  EXPECT_EQ(verify_blob_file(dir / "f.json", lfs), "");
  lfs.size += 1;
  EXPECT_NE(verify_blob_file(dir / "f.json", lfs).find("size mismatch"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace xmtf::hub
