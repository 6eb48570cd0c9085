// Task fingerprints: which files a task is said to read, what a change looks like in words, and
// the checkpoint folder a train task continues or starts.
#include "sched/fingerprint.hpp"

#include <gmock/gmock.h>
#include <sys/stat.h>
#include <utime.h>

#include "core/sha256.hpp"
#include "sched/inputs.hpp"
#include "sched/lineage.hpp"
#include "sched_test_util.hpp"

namespace xmtf::sched {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct InputsTest : ::testing::Test {
  fs::path dir;
  InputScan scan;
  void SetUp() override {
    dir = testing::scratch(::testing::UnitTest::GetInstance()->current_test_info()->name());
    scan.workdir = dir;
    scan.run_dir = dir / "jobs" / "r";
  }
  void TearDown() override { fs::remove_all(dir); }
  void write(const std::string& relative, const std::string& text) {
    fs::create_directories((dir / relative).parent_path());
    write_file_atomic(dir / relative, text);
  }
  // Sets a file's mtime to `seconds` after the epoch (so tests need not sleep).
  void set_mtime(const std::string& relative, long seconds) {
    struct utimbuf times{seconds, seconds};
    ASSERT_EQ(::utime((dir / relative).c_str(), &times), 0);
  }
  std::vector<std::string> paths(const InputRecord& r) {
    std::vector<std::string> out;
    for (const auto& f : r.files) out.push_back(f.path);
    return out;
  }
};

TEST_F(InputsTest, FolderWalkSkipsHiddenEntriesJobsAndDeclaredOutputs) {
  write("data/a.txt", "a");
  write("data/sub/b.txt", "bb");
  write("data/.hidden", "x");
  write("data/.git/config", "x");
  write("data/out.txt", "written by the task");
  write("jobs/r/s/markers/0.done", "{}");
  scan.skip = {(dir / "data/out.txt").string()};
  auto records = collect_inputs("command", {"bash", "-c", "true"}, {"data", "."}, scan);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind, InputRecord::Kind::folder);
  EXPECT_THAT(paths(records[0]), ElementsAre("a.txt", "sub/b.txt"));
  EXPECT_EQ(records[0].files[1].size, 2u);
  EXPECT_EQ(records[0].files[0].sha256, "");  // folders: path + size + mtime only
  EXPECT_THAT(paths(records[1]), ElementsAre("data/a.txt", "data/sub/b.txt"));  // jobs/<run> never walked
}

TEST_F(InputsTest, ShardReadsOnlyItsLanguageFolders) {
  write("xp3/et/a.jsonl", "{}\n");
  write("xp3/et/notes.txt", "not read by xmtf-shard");
  write("xp3/sw/b.jsonl", "{}\n");
  auto records = collect_inputs("shard", {"xmtf-shard", "--input", "xp3", "--output", "shards", "--languages", "et"}, {}, scan);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].path, "xp3/et");
  EXPECT_THAT(paths(records[0]), ElementsAre("a.jsonl"));
  auto all = collect_inputs("shard", {"xmtf-shard", "--input", "xp3"}, {}, scan);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_THAT(paths(all[0]), ElementsAre("et/a.jsonl", "sw/b.jsonl"));
}

TEST_F(InputsTest, ShardPartsTakeTheirHashFromShardsIndexUntilModified) {
  write("shards/et/part-00000.jsonl", "{\"inputs\": \"a\", \"targets\": \"b\"}\n");
  write("shards/et/part-00000.bloom.h5", "tokenize's own output, not an input");
  write("shards/et/rejects.jsonl", "");
  std::string sha = sha256_hex("recorded by xmtf-shard");  // not the real hash: proves it came from the index
  std::uint64_t bytes = fs::file_size(dir / "shards/et/part-00000.jsonl");
  write("shards/et/index.json",
        fmt::format(R"({{"format": "xmtf-shard/1", "parts": [{{"file": "part-00000.jsonl", "bytes": {}, "sha256": "{}"}}]}})",
                    bytes, sha));
  set_mtime("shards/et/part-00000.jsonl", 1000);
  set_mtime("shards/et/index.json", 2000);
  std::vector<std::string> command = {"xmtf-tokenize", "--input", "shards/et", "--output", "shards"};
  auto records = collect_inputs("tokenize", command, {}, scan);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_THAT(paths(records[0]), ElementsAre("part-00000.jsonl"));
  EXPECT_EQ(records[0].files[0].sha256, sha);
  set_mtime("shards/et/part-00000.jsonl", 3000);  // edited after xmtf-shard wrote the index
  records = collect_inputs("tokenize", command, {}, scan);
  EXPECT_EQ(records[0].files[0].sha256, "");
}

TEST_F(InputsTest, FilesNamedDirectlyAreHashedAndTheHashReusedWhileStatsAgree) {
  write("tok.json", "{\"model\": {}}");
  auto records = collect_inputs("tokenize", {"xmtf-tokenize", "--tokenizer", "tok.json", "--input", "gone"}, {}, scan);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind, InputRecord::Kind::file);
  EXPECT_EQ(records[0].files[0].sha256, sha256_file(dir / "tok.json"));
  EXPECT_EQ(records[1].kind, InputRecord::Kind::missing);
  // A previous fingerprint with the same size and mtime lends its hash: the file is not read.
  std::vector<InputRecord> previous = records;
  previous[0].files[0].sha256 = "lent";
  scan.previous = &previous;
  records = collect_inputs("tokenize", {"xmtf-tokenize", "--tokenizer", "tok.json"}, {}, scan);
  EXPECT_EQ(records[0].files[0].sha256, "lent");
}

TEST_F(InputsTest, TrainDataPatternsAndGlobs) {
  write("s/et/part-00000.bloom.h5", "1");
  write("s/et/part-00001.bloom.h5", "22");
  write("s/et/part-00000.jsonl", "not matched");
  write("s/sw/part-00000.bloom.h5", "333");
  auto records = collect_inputs("train", {"xmtf-train", "--data", "et:0.5:s/et/part-*.bloom.h5", "--data",
                                          "sw:0.5:s/sw/part-00000.bloom.h5"}, {}, scan);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].kind, InputRecord::Kind::glob);
  EXPECT_THAT(paths(records[0]), ElementsAre("s/et/part-00000.bloom.h5", "s/et/part-00001.bloom.h5"));
  EXPECT_EQ(records[1].kind, InputRecord::Kind::file);
}

TEST(Fingerprint, OptionValues) {
  std::vector<std::string> command = {"p", "--a", "1", "--b=2", "--a", "3", "--c"};
  EXPECT_THAT(option_values(command, "--a"), ElementsAre("1", "3"));
  EXPECT_THAT(option_values(command, "--b"), ElementsAre("2"));
  EXPECT_TRUE(option_values(command, "--c").empty());
}

Fingerprint sample_fingerprint() {
  Fingerprint f;
  f.execution = "e1";
  f.params = {{"lang", "et"}};
  f.command = {"xmtf-train", "--steps", "60", "--lr", "0.003", "--dedup=true", "--data", "a", "--data", "b"};
  f.env = {{"OMP_NUM_THREADS", "1"}};
  f.program = {"/bin/xmtf-train", "xmtf-train 0.1.0", std::string(64, 'a'), 10, 1, 2, 3};
  f.inputs = {{"data/xp3/et", InputRecord::Kind::folder, {{"a.jsonl", 199470, 5, ""}, {"b.jsonl", 7, 5, ""}}},
              {"tok.json", InputRecord::Kind::file, {{"", 12, 5, std::string(64, 'c')}}}};
  f.upstream = {{"tokenize", false, 0, 4, "digest"}, {"shard", true, 2, 0, "e0"}};
  f.train = TrainLineage{"id", "60", "ckpt", "ckpt-2"};
  return f;
}

TEST(Fingerprint, JsonRoundTrip) {
  Fingerprint f = sample_fingerprint();
  Fingerprint back = fingerprint_from_json(fingerprint_to_json(f), "test");
  EXPECT_EQ(fingerprint_to_json(back), fingerprint_to_json(f));
  EXPECT_EQ(back.inputs[0].files[0].size, 199470u);
  EXPECT_EQ(back.train->checkpoint_dir, "ckpt-2");
  EXPECT_THROW(fingerprint_from_json(nlohmann::json{{"format", "other"}}, "test"), Error);
}

TEST(Fingerprint, ChangesInWords) {
  Fingerprint before = sample_fingerprint(), now = sample_fingerprint();
  unsigned all = kOptionsTrigger | kInputsTrigger | kProgramTrigger;
  EXPECT_TRUE(fingerprint_changes(before, now, all).empty());
  now.command[2] = "80";
  now.command[9] = "c";
  now.command.push_back("--seed=3");
  now.env[0].second = "2";
  now.inputs[0].files[0].size = 19947;
  now.inputs[1].files[0].mtime_ns = 6;  // touched, same hash: unchanged
  now.program.sha256 = std::string(64, 'b');
  EXPECT_THAT(fingerprint_changes(before, now, all),
              ElementsAre("steps 60 -> 80", "data [a, b] -> [a, c]", "seed added (3)", "env OMP_NUM_THREADS 1 -> 2",
                          "xmtf-train rebuilt (sha256 aaaaaaaaaaaa -> bbbbbbbbbbbb, version xmtf-train 0.1.0 unchanged)",
                          "data/xp3/et/a.jsonl changed (size 199470 -> 19947)"));
  EXPECT_THAT(fingerprint_changes(before, now, kProgramTrigger), ElementsAre(HasSubstr("rebuilt")));
  EXPECT_THAT(fingerprint_changes(before, now, kInputsTrigger), ElementsAre(HasSubstr("a.jsonl changed")));
  EXPECT_TRUE(fingerprint_changes(before, now, 0).empty());

  Fingerprint folder = sample_fingerprint();
  folder.inputs[0].files.push_back({"c.jsonl", 1, 1, ""});
  folder.inputs[0].files.erase(folder.inputs[0].files.begin());
  EXPECT_THAT(fingerprint_changes(before, folder, kInputsTrigger),
              ElementsAre("data/xp3/et: 1 added, 1 removed of 2 files (first: data/xp3/et/a.jsonl removed)"));
  Fingerprint gone = sample_fingerprint();
  gone.inputs[1] = {"tok.json", InputRecord::Kind::missing, {}};
  EXPECT_THAT(fingerprint_changes(before, gone, kInputsTrigger), ElementsAre("tok.json is gone"));

  Fingerprint shell_before, shell_now;
  shell_before.command = {"bash", "-c", "echo a"};
  shell_now.command = {"bash", "-c", "echo b"};
  EXPECT_THAT(fingerprint_changes(shell_before, shell_now, kOptionsTrigger), ElementsAre("run line 'echo a' -> 'echo b'"));
}

TEST(Fingerprint, ProgramIdentityIsCachedByStat) {
  fs::path dir = testing::scratch("program");
  fs::path program = dir / "prog";
  write_file_atomic(program, "#!/bin/sh\necho prog 1.0\n");
  fs::permissions(program, fs::perms::owner_all);
  ProgramIdentity first = identify_program(program.string(), true, nullptr);
  EXPECT_EQ(first.sha256, sha256_file(program));
  EXPECT_EQ(first.version, "prog 1.0");  // the script ignores its arguments
  ProgramIdentity lent = first;
  lent.sha256 = "cached";
  EXPECT_EQ(identify_program(program.string(), true, &lent).sha256, "cached");  // same stat: not hashed again
  write_file_atomic(program, "#!/bin/sh\necho prog 1.0  # rebuilt\n");
  fs::permissions(program, fs::perms::owner_all);
  ProgramIdentity rebuilt = identify_program(program.string(), true, &lent);
  EXPECT_EQ(rebuilt.sha256, sha256_file(program));
  EXPECT_EQ(rebuilt.version, "prog 1.0");
  EXPECT_FALSE(identify_program((dir / "none").string(), true, nullptr).known());
  fs::remove_all(dir);
}

struct LineageTest : ::testing::Test {
  fs::path dir = testing::scratch("lineage");
  void TearDown() override { fs::remove_all(dir); }
  Fingerprint train(const std::string& steps, const std::string& lr, const std::string& checkpoint_dir = "ckpt") {
    Fingerprint f;
    f.command = {"xmtf-train", "--steps", steps, "--lr", lr, "--checkpoint-dir", checkpoint_dir, "--save-interval", "10"};
    f.inputs = {{"d.h5", InputRecord::Kind::file, {{"", 3, 1, ""}}}};
    return f;
  }
  // The previous run, as the wrapper recorded it after choosing `folder`.
  Fingerprint ran(Fingerprint f, const std::string& folder) {
    std::vector<std::string> command = f.command;
    apply_lineage(f, kOptionsTrigger | kInputsTrigger, {folder, false, false, ""}, command);
    return f;
  }
};

TEST_F(LineageTest, MoreStepsContinueOtherSettingsStartANewFolder) {
  unsigned triggers = kOptionsTrigger | kInputsTrigger;
  Fingerprint first = train("60", "0.003");
  LineageChoice choice = choose_checkpoint_dir(first, triggers, {}, dir);
  EXPECT_EQ(choice.checkpoint_dir, "ckpt");
  std::vector<Fingerprint> previous = {ran(first, "ckpt")};

  Fingerprint more = train("80", "0.003");
  more.command[8] = "20";  // --save-interval may change too
  choice = choose_checkpoint_dir(more, triggers, previous, dir);
  EXPECT_TRUE(choice.continues);
  EXPECT_EQ(choice.checkpoint_dir, "ckpt");
  EXPECT_EQ(choice.note, "continues from its checkpoint in ckpt");

  fs::create_directories(dir / "ckpt-2");  // taken: the next free one is used
  choice = choose_checkpoint_dir(train("60", "0.001"), triggers, previous, dir);
  EXPECT_TRUE(choice.fresh);
  EXPECT_EQ(choice.checkpoint_dir, "ckpt-3");
  EXPECT_THAT(choice.note, HasSubstr("starts a new checkpoint folder ckpt-3"));

  Fingerprint other_data = train("60", "0.003");
  other_data.inputs[0].files[0].size = 4;
  EXPECT_TRUE(choose_checkpoint_dir(other_data, triggers, previous, dir).fresh);
  EXPECT_FALSE(choose_checkpoint_dir(other_data, kOptionsTrigger, previous, dir).fresh);  // inputs not a trigger

  choice = choose_checkpoint_dir(train("40", "0.003"), triggers, previous, dir);
  EXPECT_TRUE(choice.fresh);
  EXPECT_THAT(choice.note, HasSubstr("fewer steps (60 -> 40)"));

  // Continuing a run that already moved to a new folder stays there.
  previous = {ran(train("60", "0.001"), "ckpt-3")};
  EXPECT_EQ(choose_checkpoint_dir(train("90", "0.001"), triggers, previous, dir).checkpoint_dir, "ckpt-3");
  // A --checkpoint-dir the user changed is taken as it is.
  EXPECT_EQ(choose_checkpoint_dir(train("60", "0.5", "mine"), triggers, previous, dir).checkpoint_dir, "mine");
}

TEST_F(LineageTest, ApplyPointsTheCommandAtTheFolder) {
  Fingerprint f = train("60", "0.003");
  std::vector<std::string> command = f.command;
  apply_lineage(f, kOptionsTrigger, {"ckpt-2", false, true, ""}, command);
  EXPECT_EQ(command[6], "ckpt-2");
  EXPECT_EQ(f.command[6], "ckpt");  // the fingerprint keeps the manifest's value
  ASSERT_TRUE(f.train.has_value());
  EXPECT_EQ(f.train->configured_dir, "ckpt");
  EXPECT_EQ(f.train->checkpoint_dir, "ckpt-2");
  EXPECT_EQ(f.train->steps, "60");
}

}  // namespace
}  // namespace xmtf::sched
