// xmtf-fetch against a hostile hub (MockHub::tamper rewrites its answers): what the hub says is
// data, never a path, a credential's destination or a reason to loop. Every test checks that the
// run fails with a message naming what was refused and that nothing appeared outside the cache.
#include <thread>

#include "fetch_test.hpp"

namespace xmtf::test {
namespace {

// Replaces every occurrence of from in text.
std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

class HostileHubTest : public FetchTest {
 protected:
  // The hub answers the revision request of every repo with this text in place of the commit.
  void answer_commit(const std::string& commit) {
    hub_.tamper("/revision/", [commit](MockAnswer& answer) {
      answer.body = replaced(answer.body, kModelCommit, commit);
    });
  }

  // The hub's tree listing with from replaced by to (JSON text, as the hub would send it).
  void rewrite_listing(const std::string& from, const std::string& to) {
    hub_.tamper("/tree/", [from, to](MockAnswer& answer) { answer.body = replaced(answer.body, from, to); });
  }

  // A refused answer: exit 1, nothing on stdout, the reason on stderr, nothing outside the cache
  // and no snapshot, ref or blob made from it.
  void expect_refused(const RunResult& result, const std::string& reason, const std::string& what) {
    EXPECT_EQ(result.exit_code, 1) << what << "\n" << result.err;
    EXPECT_EQ(result.out, "") << what;
    EXPECT_NE(result.err.find(reason), std::string::npos) << what << "\n" << result.err;
    EXPECT_EQ(files_outside_the_cache(), std::vector<std::string>{}) << what;
    EXPECT_EQ(count_files(model_folder() / "snapshots"), 0) << what;
    EXPECT_EQ(count_files(model_folder() / "blobs"), 0) << what;
    EXPECT_FALSE(fs::exists(model_folder() / "refs" / "main")) << what;
  }
};

TEST_F(HostileHubTest, ACommitThatIsNotACommitHashIsRefused) {
  fs::path outside = dir_ / "outside";
  for (const std::string& commit : {outside.string(), std::string("../../../escape"), std::string("main"),
                                    std::string(40, 'g'), kModelCommit + "1", std::string(40, 'A')}) {
    hub_.stop_tampering();
    answer_commit(commit);
    RunResult result = run({"--repo", "org/tiny-model"});
    expect_refused(result, "not a commit hash", commit);
    EXPECT_FALSE(fs::exists(outside));
    fs::remove_all(cache_);
  }
}

TEST_F(HostileHubTest, ACommitFromTheRepoCommitHeaderIsCheckedToo) {
  hub_.tamper("/revision/", [](MockAnswer& answer) {
    answer.body = R"({"id": "org/tiny-model"})";
    answer.set_header("X-Repo-Commit", "../../../escape");
  });
  expect_refused(run({"--repo", "org/tiny-model"}), "not a commit hash", "X-Repo-Commit");
}

TEST_F(HostileHubTest, TreeEntriesThatCouldNameAPathOutsideTheCacheAreRefused) {
  const std::string config_oid = git_blob_sha1_of(model_.files[0].content);
  const std::string weights_sha = sha256_of(model_.files[2].content);
  const std::string absolute = (dir_ / "target").string();
  struct Case {
    std::string from, to, why;
  };
  std::vector<Case> cases = {
      {R"("path":"config.json")", R"("path":"../../../evil.json")", "'..' segment"},
      {R"("path":"config.json")", "\"path\":\"" + absolute + "\"", "absolute"},
      {R"("path":"config.json")", R"("path":"sub\\..\\..\\evil")", "backslash"},
      {R"("path":"config.json")", R"("path":"sub//config.json")", "empty segment"},
      {R"("path":"config.json")", R"("path":"sub/./config.json")", "'.' or '..' segment"},
      {R"("path":"config.json")", R"("path":"")", "empty"},
      {R"("path":"config.json")", R"("path":"config\u0000.json")", "control character"},
      {R"("path":"config.json")", R"("path":"config\n.json")", "control character"},
      {"\"oid\":\"" + config_oid + "\"", "\"oid\":\"" + absolute + "\"", "not a git object id"},
      {"\"oid\":\"" + config_oid + "\"", R"("oid":"../../../../oid-escape")", "not a git object id"},
      {"\"oid\":\"" + config_oid + "\"", "\"oid\":\"" + config_oid.substr(1) + "\"", "not a git object id"},
      {"\"oid\":\"" + weights_sha + "\"", "\"oid\":\"" + absolute + "\"", "lfs.oid"},
      {"\"oid\":\"" + weights_sha + "\"", R"("oid":"../../../lfs-escape")", "lfs.oid"},
      {"\"oid\":\"" + weights_sha + "\"", "\"oid\":\"" + config_oid + "\"", "is not a sha256"},
      {"\"size\":614400", "\"size\":-1", "not a byte count"},
      {"\"size\":614400", "\"size\":1.5", "not a byte count"},
      {"\"size\":614400", "\"size\":1152921504606846976", "over the"},
  };
  for (const Case& c : cases) {
    hub_.stop_tampering();
    rewrite_listing(c.from, c.to);
    RunResult result = run({"--repo", "org/tiny-model"});
    expect_refused(result, "refused the tree entry", c.to);
    EXPECT_NE(result.err.find(c.why), std::string::npos) << c.to << "\n" << result.err;
    EXPECT_FALSE(fs::exists(dir_ / "target"));
    fs::remove_all(cache_);
  }
}

TEST_F(HostileHubTest, AFileListedTwiceIsRefused) {
  hub_.tamper("/tree/", [](MockAnswer& answer) {
    answer.body = replaced(answer.body, R"("path":"tokenizer.json")", R"("path":"config.json")");
  });
  expect_refused(run({"--repo", "org/tiny-model"}), "listed twice", "duplicate");
}

// Sizes are the hub's word too: what does not fit on the disk fails before anything is written
// (no sparse multi-terabyte parts file, no download that ends in ENOSPC).
TEST_F(HostileHubTest, SizesThatDoNotFitOnTheDiskFailBeforeAnyDownload) {
  rewrite_listing("\"size\":614400", "\"size\":8796093022208");  // 8 TiB: plausible, but not here
  RunResult result = run({"--repo", "org/tiny-model", "--include", "model.safetensors", "--jobs", "4",
                          "--parallel-min-size", "0.1"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("need 8.0 TiB more"), std::string::npos) << result.err;
  EXPECT_EQ(count_files(model_folder() / "blobs"), 0);  // no parts file, sparse or not
  EXPECT_EQ(files_outside_the_cache(), std::vector<std::string>{});
  EXPECT_EQ(hub_.count("cdn", "/lfs/"), 0);
}

TEST_F(HostileHubTest, ARefThatIsNotACommitHashIsRefusedOfflineAndRewrittenOnline) {
  ASSERT_EQ(run({"--repo", "org/tiny-model"}).exit_code, 0);
  fs::path outside = dir_ / "outside";
  write_file_atomic(model_folder() / "refs" / "main", outside.string());
  RunResult offline = run({"--repo", "org/tiny-model"}, {{"HF_HUB_OFFLINE", "1"}});
  EXPECT_EQ(offline.exit_code, 1);
  EXPECT_EQ(offline.out, "");
  EXPECT_NE(offline.err.find("not a commit hash"), std::string::npos) << offline.err;
  EXPECT_FALSE(fs::exists(outside));

  RunResult online = run({"--repo", "org/tiny-model"});
  ASSERT_EQ(online.exit_code, 0) << online.err;
  EXPECT_NE(online.err.find("rewriting it"), std::string::npos) << online.err;
  EXPECT_EQ(read_file(model_folder() / "refs" / "main"), kModelCommit);
  EXPECT_EQ(files_outside_the_cache(), std::vector<std::string>{});
}

TEST_F(HostileHubTest, AFolderInASnapshotThatIsASymlinkIsNotWrittenThrough) {
  fs::path elsewhere = dir_ / "elsewhere";
  fs::create_directories(elsewhere);
  fs::create_directories(model_folder() / "snapshots" / kModelCommit);
  fs::create_directory_symlink(elsewhere, model_folder() / "snapshots" / kModelCommit / "weights");
  RunResult result = run({"--repo", "org/tiny-model"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("is a symbolic link"), std::string::npos) << result.err;
  EXPECT_TRUE(fs::is_empty(elsewhere));
}

TEST_F(HostileHubTest, OfflineASnapshotLinkLeadingOutOfTheBlobsIsNotFollowed) {
  ASSERT_EQ(run({"--repo", "org/tiny-model"}).exit_code, 0);
  fs::path secret = dir_ / "secret.txt";
  write_file_atomic(secret, "not from the hub\n");
  fs::path link = model_folder() / "snapshots" / kModelCommit / "config.json";
  fs::remove(link);
  fs::create_symlink(secret, link);
  RunResult offline = run({"--repo", "org/tiny-model"}, {{"HF_HUB_OFFLINE", "1"}});
  EXPECT_EQ(offline.exit_code, 1);
  EXPECT_NE(offline.err.find("config.json (a link leading outside"), std::string::npos) << offline.err;

  RunResult online = run({"--repo", "org/tiny-model"});  // the link is checked, not trusted: relinked
  ASSERT_EQ(online.exit_code, 0) << online.err;
  expect_snapshot(model_folder(), model_, all_paths(model_));
}

// The token goes to the configured endpoint's scheme, host and port only: a next-page link to
// another port is refused before any request is made there.
TEST_F(HostileHubTest, ANextPageLinkToAnotherHostIsRefusedAndGetsNoToken) {
  hub_.set_tree_page_size(2);
  std::string hub_address = hub_.endpoint().substr(std::string("http://").size());
  std::string cdn_address = hub_.cdn_endpoint().substr(std::string("http://").size());
  for (const std::string& elsewhere : {cdn_address, std::string("localhost:") + hub_address.substr(hub_address.find(':') + 1)}) {
    hub_.tamper("/tree/", [hub_address, elsewhere](MockAnswer& answer) {
      answer.set_header("Link", replaced(answer.header("Link"), hub_address, elsewhere));
    });
    RunResult result = run({"--repo", "org/xp3-mini", "--kind", "dataset"}, {{"HF_TOKEN", kToken}});
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("next-page link leads away from"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find(kToken), std::string::npos);
    EXPECT_EQ(hub_.count("hub", "/tree/"), 1) << elsewhere;
    hub_.stop_tampering();
    hub_.forget_requests();
  }
  EXPECT_EQ(hub_.count("cdn", ""), 0);
}

TEST_F(HostileHubTest, ARedirectOfAnApiCallCarriesNoTokenAndNoOtherSchemeIsFollowed) {
  std::string cdn = hub_.cdn_endpoint();
  hub_.tamper("/revision/", [cdn](MockAnswer& answer) {
    answer.status = 302;
    answer.body = "moved";
    answer.set_header("Location", cdn + "/lfs/" + std::string(64, 'a'));
  });
  RunResult redirected = run({"--repo", "org/tiny-model"}, {{"HF_TOKEN", kToken}});
  EXPECT_EQ(redirected.exit_code, 1);
  ASSERT_EQ(hub_.count("cdn", "/lfs/"), 1);
  for (const auto& request : hub_.requests()) {
    if (request.server == "cdn") {
      EXPECT_EQ(request.authorization, "");
    }
  }

  fs::path secret = dir_ / "secret.txt";
  write_file_atomic(secret, "local file content\n");
  hub_.stop_tampering();
  hub_.forget_requests();
  hub_.tamper("/resolve/", [secret](MockAnswer& answer) {
    answer.status = 302;
    answer.body = "moved";
    answer.set_header("Location", "file://" + secret.string());
  });
  RunResult to_file = run({"--repo", "org/tiny-model", "--include", "config.json"});
  EXPECT_EQ(to_file.exit_code, 1);
  EXPECT_NE(to_file.err.find("Protocol \"file\" not supported"), std::string::npos) << to_file.err;
  EXPECT_EQ(to_file.err.find("local file content"), std::string::npos) << to_file.err;
  EXPECT_FALSE(fs::exists(model_folder() / "blobs" / git_blob_sha1_of(model_.files[0].content)));
  for (const auto& entry : fs::recursive_directory_iterator(model_folder())) {
    if (entry.is_regular_file()) {
      EXPECT_EQ(read_file(entry.path()).find("local file content"), std::string::npos);
    }
  }
}

TEST_F(HostileHubTest, APaginationLoopIsDetected) {
  hub_.set_tree_page_size(2);
  std::string first_page = hub_.endpoint() + "/api/datasets/org/xp3-mini/tree/" + kDataCommit + "?recursive=true";
  hub_.tamper("/tree/", [first_page](MockAnswer& answer) {
    if (answer.target.find("cursor=4") != std::string::npos) answer.set_header("Link", "<" + first_page + ">; rel=\"next\"");
  });
  RunResult result = run({"--repo", "org/xp3-mini", "--kind", "dataset"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("pagination loops"), std::string::npos) << result.err;
  EXPECT_EQ(hub_.count("hub", "/tree/"), 3);  // pages 1, 2, 3; page 3 links back to page 1
}

// Text from the hub reaches the log escaped: it cannot forge a log line or drive the terminal.
TEST_F(HostileHubTest, HubTextInMessagesCannotForgeLogLinesOrEscapeSequences) {
  hub_.tamper("/revision/", [](MockAnswer& answer) {
    answer.body = "not json\n[xmtf r0/1 00:00:00] INFO fetched 4 file(s)\x1b]0;owned\x07\x1b[2J";
  });
  RunResult bad_json = run({"--repo", "org/tiny-model"});
  EXPECT_EQ(bad_json.exit_code, 1);
  EXPECT_EQ(bad_json.err.find('\x1b'), std::string::npos) << bad_json.err;
  EXPECT_EQ(bad_json.err.find("\n[xmtf r0/1 00:00:00] INFO fetched"), std::string::npos) << bad_json.err;
  EXPECT_NE(bad_json.err.find("not json\\n[xmtf r0/1"), std::string::npos) << bad_json.err;

  hub_.stop_tampering();
  hub_.forget_requests();
  hub_.tamper("/revision/", [](MockAnswer& answer) {
    answer.status = 404;
    answer.body = "";
    answer.set_header("X-Error-Message", "gone\x1b[31m red \x1b[0m");
  });
  RunResult bad_header = run({"--repo", "org/tiny-model"});
  EXPECT_EQ(bad_header.exit_code, 1);
  EXPECT_EQ(bad_header.err.find('\x1b'), std::string::npos) << bad_header.err;
  EXPECT_NE(bad_header.err.find("gone\\x1b[31m red"), std::string::npos) << bad_header.err;
}

// A hub that never finishes an answer is cut off (XMTF_HUB_API_TIMEOUT), not waited on forever.
TEST_F(HostileHubTest, AnApiAnswerThatNeverEndsTimesOut) {
  hub_.tamper("/revision/", [](MockAnswer&) { std::this_thread::sleep_for(std::chrono::milliseconds(2500)); });
  RunResult result = run({"--repo", "org/tiny-model", "--retries", "0"}, {{"XMTF_HUB_API_TIMEOUT", "1"}});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_LT(result.seconds, 2.4);
  EXPECT_NE(result.err.find("imed out"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace xmtf::test
