// End-to-end: the real xmtf-fetch executable against the mock hub (and its CDN port), checking
// exit codes, stdout's last line, the huggingface_hub cache layout and what reached the servers.
#include "fetch_test.hpp"

namespace xmtf::test {
namespace {

TEST_F(FetchTest, DownloadsIntoTheHuggingfaceHubCacheLayout) {
  RunResult result = run({"--repo", "org/tiny-model", "--jobs", "3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.last_line(), (model_folder() / "snapshots" / kModelCommit).string());
  expect_snapshot(model_folder(), model_, all_paths(model_));
  EXPECT_EQ(fs::read_symlink(model_folder() / "snapshots" / kModelCommit / "config.json"),
            fs::path("../../blobs") / git_blob_sha1_of(model_.files[0].content));
  EXPECT_EQ(fs::read_symlink(model_folder() / "snapshots" / kModelCommit / "weights/extra.bin"),
            fs::path("../../../blobs") / sha256_of(model_.files[3].content));
  EXPECT_EQ(read_file(model_folder() / "refs" / "main"), kModelCommit);  // no newline, as huggingface_hub
  EXPECT_EQ(count_files(model_folder() / "blobs"), 4);                  // no .incomplete left
  EXPECT_EQ(hub_.count("cdn", "/lfs/"), 2);                             // LFS content came from the CDN
}

TEST_F(FetchTest, ASecondRunDownloadsNothing) {
  ASSERT_EQ(run({"--repo", "org/tiny-model"}).exit_code, 0);
  int resolves = hub_.count("hub", "/resolve/");
  int cdn = hub_.count("cdn", "/lfs/");
  RunResult again = run({"--repo", "org/tiny-model"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.last_line(), (model_folder() / "snapshots" / kModelCommit).string());
  EXPECT_EQ(hub_.count("hub", "/resolve/"), resolves);
  EXPECT_EQ(hub_.count("cdn", "/lfs/"), cdn);
}

TEST_F(FetchTest, ABlobSharedByTwoRevisionsIsDownloadedOnce) {
  ASSERT_EQ(run({"--repo", "org/tiny-model"}).exit_code, 0);
  MockRepo v2 = model_;  // a later commit on branch v2: new config, same weights
  v2.branch = "v2";
  v2.commit = "4444444444444444444444444444444444444444";
  v2.files[0].content = R"({"model_type": "bloom", "n_layer": 3})" "\n";
  hub_.add_repo(v2);
  int cdn = hub_.count("cdn", "/lfs/");
  RunResult result = run({"--repo", "org/tiny-model", "--revision", "v2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.last_line(), (model_folder() / "snapshots" / v2.commit).string());
  expect_snapshot(model_folder(), v2, all_paths(v2));
  expect_snapshot(model_folder(), model_, all_paths(model_));  // the first snapshot is intact
  EXPECT_EQ(hub_.count("cdn", "/lfs/"), cdn);                    // weights not downloaded again
  EXPECT_EQ(hub_.count("hub", "/resolve/" + v2.commit + "/config.json"), 1);
  EXPECT_EQ(hub_.count("hub", "/resolve/" + v2.commit + "/tokenizer.json"), 0);  // same blob as main
  EXPECT_EQ(read_file(model_folder() / "refs" / "v2"), v2.commit);
  EXPECT_EQ(read_file(model_folder() / "refs" / "main"), kModelCommit);
  EXPECT_EQ(count_files(model_folder() / "blobs"), 5);
}

// Array tasks share one cache: concurrent fetches of the same repo agree through the blob locks
// and each blob crosses the network once.
TEST_F(FetchTest, ConcurrentFetchesShareTheCache) {
  std::vector<std::string> args{"--repo", "org/tiny-model", "--jobs", "2"};
  std::vector<RunResult> results = run_together({args, args, args});
  for (const auto& result : results) {
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.last_line(), (model_folder() / "snapshots" / kModelCommit).string());
  }
  expect_snapshot(model_folder(), model_, all_paths(model_));
  EXPECT_EQ(hub_.count("cdn", "/lfs/"), 2);  // two LFS blobs, each fetched once
  EXPECT_EQ(count_files(model_folder() / "blobs"), 4);
}

TEST_F(FetchTest, ARevisionGivenAsCommitWritesNoRef) {
  RunResult result = run({"--repo", "org/tiny-model", "--revision", kModelCommit, "--include", "config.json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.last_line(), (model_folder() / "snapshots" / kModelCommit).string());
  EXPECT_FALSE(fs::exists(model_folder() / "refs"));
  RunResult offline = run({"--repo", "org/tiny-model", "--revision", kModelCommit}, {{"HF_HUB_OFFLINE", "1"}});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.last_line(), result.last_line());
}

TEST_F(FetchTest, DatasetIncludeExcludeAndRelativeLinks) {
  RunResult result = run({"--repo", "org/xp3-mini", "--kind", "dataset", "--include", "sw/*.jsonl", "--include",
                          "README.md", "--exclude", "sw/b.jsonl", "--cache", (dir_ / "elsewhere").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  fs::path folder = dir_ / "elsewhere" / "datasets--org--xp3-mini";
  EXPECT_EQ(result.last_line(), (folder / "snapshots" / kDataCommit).string());
  expect_snapshot(folder, data_, {"README.md", "sw/a.jsonl"});
  EXPECT_EQ(count_files(folder / "snapshots"), 2);  // not en/*, not sw/b.jsonl, not sw/deep/c.jsonl
  EXPECT_EQ(hub_.count("hub", "/datasets/org/xp3-mini/resolve/"), 2);
  EXPECT_FALSE(fs::exists(cache_));  // --cache wins over HF_HOME
}

TEST_F(FetchTest, TreeListingIsFollowedAcrossPages) {
  hub_.set_tree_page_size(2);
  RunResult result = run({"--repo", "org/xp3-mini", "--kind", "dataset"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_snapshot(data_folder(), data_, all_paths(data_));
  // 6 files + 3 folders (en, sw, sw/deep) = 9 entries: 5 pages of 2.
  EXPECT_EQ(hub_.count("hub", "/tree/"), 5);
}

TEST_F(FetchTest, ACutResponseResumesWithRange) {
  hub_.cut_next("model.safetensors", 1);
  RunResult result = run({"--repo", "org/tiny-model", "--include", "model.safetensors"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_snapshot(model_folder(), model_, {"model.safetensors"});
  bool resumed = false;
  for (const auto& request : hub_.requests())
    if (request.server == "cdn" && starts_with(request.range, "bytes=") && request.range != "bytes=0-") resumed = true;
  EXPECT_TRUE(resumed) << "no Range request after the cut";
  EXPECT_NE(result.err.find("retry"), std::string::npos);
}

TEST_F(FetchTest, AnIncompleteFileFromAnEarlierRunIsResumed) {
  const std::string& content = model_.files[2].content;
  std::string sha = sha256_of(content);
  fs::create_directories(model_folder() / "blobs");
  write_file_atomic(model_folder() / "blobs" / (sha + ".incomplete"), content.substr(0, 200000));
  RunResult result = run({"--repo", "org/tiny-model", "--include", "model.safetensors"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_snapshot(model_folder(), model_, {"model.safetensors"});
  int ranged = 0;
  for (const auto& request : hub_.requests())
    if (request.server == "cdn" && request.range == "bytes=200000-") ++ranged;
  EXPECT_EQ(ranged, 1);
  EXPECT_FALSE(fs::exists(model_folder() / "blobs" / (sha + ".incomplete")));
}

TEST_F(FetchTest, ServerErrorsAreRetriedUntilSuccess) {
  hub_.fail_500_next("config.json", 2);
  RunResult result = run({"--repo", "org/tiny-model", "--include", "config.json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_snapshot(model_folder(), model_, {"config.json"});
  EXPECT_EQ(hub_.count("hub", "/resolve/" + kModelCommit + "/config.json"), 3);
  EXPECT_NE(result.err.find("HTTP 500; retry 1/5"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("HTTP 500; retry 2/5"), std::string::npos) << result.err;
}

TEST_F(FetchTest, TooManyRequestsWaitsForRetryAfter) {
  hub_.fail_429_next("model.safetensors", 1, 1);
  RunResult result = run({"--repo", "org/tiny-model", "--include", "model.safetensors"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_snapshot(model_folder(), model_, {"model.safetensors"});
  EXPECT_GE(result.seconds, 1.0);  // the base delay is 0.01 s: only Retry-After explains the wait
  EXPECT_NE(result.err.find("HTTP 429"), std::string::npos);
}

TEST_F(FetchTest, RetriesRunOutWithAClearError) {
  hub_.fail_500_next("config.json", 100);
  RunResult result = run({"--repo", "org/tiny-model", "--include", "config.json", "--retries", "2"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("config.json"), std::string::npos);
  EXPECT_NE(result.err.find("gave up after 3 attempts"), std::string::npos) << result.err;
  EXPECT_EQ(hub_.count("hub", "/config.json"), 3);
}

TEST_F(FetchTest, PrivateRepoWithoutTokenSaysHowToSetOne) {
  RunResult result = run({"--repo", "org/private"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("401"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("HF_TOKEN"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find((hf_home_ / "token").string()), std::string::npos) << result.err;
}

TEST_F(FetchTest, TokenFromEnvironmentOrFileIsSentToTheHubOnlyAndNeverPrinted) {
  RunResult from_env = run({"--repo", "org/private", "--log-level", "debug"}, {{"HF_TOKEN", kToken}});
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_EQ(from_env.last_line(), (cache_ / "models--org--private" / "snapshots" / kPrivateCommit).string());
  EXPECT_EQ(from_env.out.find(kToken), std::string::npos);
  EXPECT_EQ(from_env.err.find(kToken), std::string::npos);

  fs::remove_all(cache_);
  fs::create_directories(hf_home_);
  write_file_atomic(hf_home_ / "token", kToken + "\n");  // as huggingface-cli login writes it
  RunResult from_file = run({"--repo", "org/private", "--log-level", "debug"});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(from_file.err.find(kToken), std::string::npos);

  for (const auto& request : hub_.requests()) {
    if (request.server == "cdn") {
      EXPECT_EQ(request.authorization, "") << "the token reached the CDN";
    } else if (request.path.find("private") != std::string::npos && !request.authorization.empty()) {
      EXPECT_EQ(request.authorization, "Bearer " + kToken);
    }
  }
  EXPECT_GE(hub_.count("cdn", "/lfs/"), 2);

  RunResult wrong = run({"--repo", "org/private"}, {{"HF_TOKEN", "hf_wrongtoken"}});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("not accepted"), std::string::npos) << wrong.err;
  EXPECT_EQ(wrong.err.find("hf_wrongtoken"), std::string::npos);
}

TEST_F(FetchTest, ACorruptedBodyIsAnErrorAndIsNotKept) {
  hub_.corrupt_always("model.safetensors");
  RunResult result = run({"--repo", "org/tiny-model"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("sha256 mismatch"), std::string::npos) << result.err;
  std::string sha = sha256_of(model_.files[2].content);
  EXPECT_FALSE(fs::exists(model_folder() / "blobs" / sha));
  EXPECT_FALSE(fs::exists(model_folder() / "blobs" / (sha + ".incomplete")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(model_folder() / "snapshots" / kModelCommit / "model.safetensors")));
  expect_snapshot(model_folder(), model_, {"config.json", "tokenizer.json", "weights/extra.bin"});  // the rest is kept
}

TEST_F(FetchTest, ACorruptedGitFileIsCaughtByItsBlobId) {
  hub_.corrupt_always("tokenizer.json");
  RunResult result = run({"--repo", "org/tiny-model", "--include", "tokenizer.json"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("checksum mismatch"), std::string::npos) << result.err;
  EXPECT_EQ(count_files(model_folder() / "blobs"), 0);
}

TEST_F(FetchTest, NotFoundNamesRepoRevisionAndSelection) {
  RunResult no_repo = run({"--repo", "org/missing"});
  EXPECT_EQ(no_repo.exit_code, 1);
  EXPECT_NE(no_repo.err.find("org/missing"), std::string::npos) << no_repo.err;
  EXPECT_NE(no_repo.err.find("404"), std::string::npos) << no_repo.err;

  RunResult no_revision = run({"--repo", "org/tiny-model", "--revision", "nope"});
  EXPECT_EQ(no_revision.exit_code, 1);
  EXPECT_NE(no_revision.err.find("revision 'nope' does not exist"), std::string::npos) << no_revision.err;

  RunResult wrong_kind = run({"--repo", "org/xp3-mini"});  // a dataset asked for as a model
  EXPECT_EQ(wrong_kind.exit_code, 1);
  EXPECT_NE(wrong_kind.err.find("no model repo named org/xp3-mini"), std::string::npos) << wrong_kind.err;

  RunResult escaping = run({"--repo", "org/tiny-model", "--revision", "../../etc"});
  EXPECT_EQ(escaping.exit_code, 1);
  EXPECT_NE(escaping.err.find("invalid --revision"), std::string::npos) << escaping.err;

  RunResult nothing = run({"--repo", "org/xp3-mini", "--kind", "dataset", "--include", "fr/*.jsonl"});
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_NE(nothing.err.find("matches --include fr/*.jsonl"), std::string::npos) << nothing.err;
}

TEST_F(FetchTest, OfflineModeUsesOnlyTheCache) {
  ASSERT_EQ(run({"--repo", "org/xp3-mini", "--kind", "dataset", "--include", "en/*"}).exit_code, 0);
  std::size_t before = hub_.requests().size();
  RunResult offline = run({"--repo", "org/xp3-mini", "--kind", "dataset", "--include", "en/*"}, {{"HF_HUB_OFFLINE", "1"}});
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.last_line(), (data_folder() / "snapshots" / kDataCommit).string());
  EXPECT_EQ(hub_.requests().size(), before);

  RunResult missing = run({"--repo", "org/xp3-mini", "--kind", "dataset", "--include", "sw/*"}, {{"HF_HUB_OFFLINE", "1"}});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("HF_HUB_OFFLINE"), std::string::npos) << missing.err;

  RunResult uncached = run({"--repo", "org/tiny-model"}, {{"HF_HUB_OFFLINE", "1"}});
  EXPECT_EQ(uncached.exit_code, 1);
  EXPECT_NE(uncached.err.find("not in the cache"), std::string::npos) << uncached.err;
  EXPECT_EQ(hub_.requests().size(), before);
}

TEST_F(FetchTest, LargeFilesComeInParallelRangesAndSurviveACut) {
  hub_.cut_next("model.safetensors", 1);  // one part is cut half-way
  RunResult result = run({"--repo", "org/tiny-model", "--include", "model.safetensors", "--jobs", "4",
                          "--parallel-min-size", "0.1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  expect_snapshot(model_folder(), model_, {"model.safetensors"});
  std::set<std::string> ranges;  // 600 KiB in 64 KiB parts: 10 closed ranges
  for (const auto& request : hub_.requests())
    if (request.server == "cdn" && request.range.find('-') + 1 < request.range.size() && request.range != "bytes=0-0")
      ranges.insert(request.range);
  EXPECT_GE(ranges.size(), 11u);  // and one more for the rest of the cut part
  EXPECT_NE(result.err.find("retry 1/5"), std::string::npos) << result.err;
  EXPECT_EQ(count_files(model_folder() / "blobs"), 1);  // no parts file left behind
}

// An interrupted parallel download resumes part by part, but only with the part plan that wrote
// it: the plan depends on --jobs, so a rerun with other --jobs must start the parts over instead
// of trusting part numbers that now mean other bytes.
TEST_F(FetchTest, ParallelPartsResumeOnlyUnderTheSamePlan) {
  const std::string& content = model_.files[2].content;  // 600 KiB
  std::string sha = sha256_of(content);
  fs::path blobs = model_folder() / "blobs";
  auto leave_interrupted_download = [&](std::size_t part_bytes, const std::string& header) {
    fs::create_directories(blobs);
    std::string parts(content.size(), '\0');
    std::copy_n(content.begin(), 3 * part_bytes, parts.begin());  // parts 0, 1, 2 landed
    write_file_atomic(blobs / (sha + ".xmtf-parts"), parts);
    write_file_atomic(blobs / (sha + ".xmtf-parts.done"), header + "0\n1\n2\n");
  };
  auto cdn_range_requests = [&] {
    int n = 0;
    for (const auto& request : hub_.requests())
      if (request.server == "cdn" && starts_with(request.range, "bytes=") && request.range != "bytes=0-0") ++n;
    return n;
  };
  // --jobs 4 plans 64 KiB parts: 10 of them. The same plan resumes: 7 parts fetched.
  leave_interrupted_download(65536, "part-bytes 65536\n");
  RunResult same = run({"--repo", "org/tiny-model", "--include", "model.safetensors", "--jobs", "4", "--parallel-min-size", "0.1"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  expect_snapshot(model_folder(), model_, {"model.safetensors"});
  EXPECT_EQ(cdn_range_requests(), 7);
  EXPECT_NE(same.err.find("3 of 10 parts already here"), std::string::npos) << same.err;

  // Parts left by --jobs 4, rerun with --jobs 2 (76,801-byte parts): all 8 parts fetched anew.
  fs::remove_all(model_folder());
  int before = cdn_range_requests();
  leave_interrupted_download(65536, "part-bytes 65536\n");
  RunResult other = run({"--repo", "org/tiny-model", "--include", "model.safetensors", "--jobs", "2", "--parallel-min-size", "0.1"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  expect_snapshot(model_folder(), model_, {"model.safetensors"});
  EXPECT_EQ(cdn_range_requests() - before, 8);
}

TEST_F(FetchTest, ACorruptedParallelDownloadIsNotKept) {
  hub_.corrupt_always("model.safetensors");
  RunResult result = run({"--repo", "org/tiny-model", "--include", "model.safetensors", "--jobs", "4",
                          "--parallel-min-size", "0.1"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("sha256 mismatch"), std::string::npos) << result.err;
  EXPECT_EQ(count_files(model_folder() / "blobs"), 0);  // neither the blob nor the parts files
}

TEST_F(FetchTest, UsageErrorsExitTwoAndHelpExitsZero) {
  EXPECT_EQ(run({}).exit_code, 2);
  EXPECT_EQ(run({"--repo", "org/x", "--kind", "space"}).exit_code, 2);
  RunResult help = run({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--include"), std::string::npos);
}

// The demo manifest's fetch stage: the standalone mock serves folders of tests/data/hub as repos
// and runs xmtf-fetch against them.
TEST(FetchDemo, MockHubServesFoldersAndRunsTheFetch) {
  fs::path data = fs::path(XMTF_TEST_DATA_DIR) / "hub";
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-fetch-demo-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string bin = XMTF_BIN_DIR;
  std::string command =
      "env -i PATH=/usr/bin:/bin HOME=" + shell_quote(dir.string()) + " " + shell_quote(bin + "/xmtf-mock-hub") +
      " --model bigscience/bloomz-560m=" + shell_quote((data / "bloomz-560m").string()) +
      " --dataset bigscience/xP3=" + shell_quote((data / "xp3-mini").string()) + " -- " +
      shell_quote(bin + "/xmtf-fetch") + " --repo bigscience/xP3 --kind dataset --include 'sw/*.jsonl' --cache " +
      shell_quote((dir / "cache").string()) + " > " + shell_quote((dir / "out").string()) + " 2> " +
      shell_quote((dir / "err").string());
  int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir / "err");
  std::string snapshot(trim(read_file(dir / "out")));
  EXPECT_TRUE(starts_with(snapshot, (dir / "cache" / "datasets--bigscience--xP3" / "snapshots").string()));
  std::string sw = "sw/xp3_xcopa_sw_validation.jsonl";
  EXPECT_EQ(read_file(fs::path(snapshot) / sw), read_file(data / "xp3-mini" / sw));
  EXPECT_FALSE(fs::exists(fs::path(snapshot) / "et"));
  fs::remove_all(dir);
}

// Independent reference: the cache @huggingface/hub's snapshotDownload built from the same mock
// and data (tests/reference/hub/make_golden.sh), listed by list_cache.sh. xmtf-fetch must build
// exactly that: same folders, blob names, relative link targets, refs.
TEST(FetchReference, CacheLayoutMatchesHuggingfaceJs) {
  fs::path data = fs::path(XMTF_TEST_DATA_DIR) / "hub";
  fs::path reference = fs::path(XMTF_SOURCE_DIR) / "tests" / "reference" / "hub";
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-fetch-reference-{}", ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string bin = XMTF_BIN_DIR;
  std::string cache = shell_quote((dir / "cache").string());
  std::string fetch_both = shell_quote(bin + "/xmtf-fetch") + " --repo bigscience/bloomz-560m --cache " + cache +
                           " && " + shell_quote(bin + "/xmtf-fetch") +
                           " --repo bigscience/xP3 --kind dataset --cache " + cache;
  std::string command = "env -i PATH=/usr/bin:/bin HOME=" + shell_quote(dir.string()) + " " +
                        shell_quote(bin + "/xmtf-mock-hub") + " --model bigscience/bloomz-560m=" +
                        shell_quote((data / "bloomz-560m").string()) + " --dataset bigscience/xP3=" +
                        shell_quote((data / "xp3-mini").string()) + " -- sh -c " + shell_quote(fetch_both) + " > " +
                        shell_quote((dir / "out").string()) + " 2>&1 && " +
                        shell_quote((reference / "list_cache.sh").string()) + " " + cache + " > " +
                        shell_quote((dir / "listing").string());
  int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(dir / "out");
  EXPECT_EQ(read_file(dir / "listing"), read_file(reference / "golden_js_cache_layout.txt"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace xmtf::test
