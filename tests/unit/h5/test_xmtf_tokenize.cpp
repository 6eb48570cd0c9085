// xmtf-tokenize end to end: 1 and 2 MPI ranks against direct tokenization, idempotent reruns,
// h5dump and h5py reading the files, exit codes, --encode / --decode.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <sys/wait.h>
#include <unistd.h>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/fs.hpp"
#include "h5/tokenized_shard.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::h5 {
namespace {

const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "tokenizers";
const fs::path kTool = fs::path(XMTF_BIN_DIR) / "xmtf-tokenize";
const fs::path kBloom = kData / "bloomstyle_gpt2vocab.tokenizer.json";
const fs::path kMt5 = kData / "mt5style_xcopa_unigram2k.model";

struct Result {
  int exit_code;
  std::string output;
};

Result run(const std::string& command) {
  std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  std::string output;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

class XmtfTokenizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("xmtf_tokenize_test_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    shards_ = dir_ / "shards";
    fs::copy(kData / "shards", shards_, fs::copy_options::recursive);
    // What xmtf-shard leaves beside its parts must be ignored.
    write_file_atomic(shards_ / "sw/rejects.jsonl", "{\"source\": \"x.jsonl\", \"line\": 7, \"reason\": \"NUL byte\"}\n");
    write_file_atomic(shards_ / "sw/index.json", "{}");
    fs::create_directories(shards_ / "sw/.work");
    write_file_atomic(shards_ / "sw/.work/part-00000.c00000.p000.jsonl", "not json\n");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Every part's tokenized file must hold exactly what direct tokenization gives.
  void expect_matches_direct(const fs::path& out, const fs::path& tokenizer_path, const std::string& name,
                             const std::string& target_prefix, bool input_eos) {
    auto tokenizer = tok::load_tokenizer(tokenizer_path);
    std::int32_t eos = *tokenizer->eos_id();
    int n_parts = 0;
    for (const auto& entry : fs::recursive_directory_iterator(shards_)) {
      if (!entry.path().filename().string().starts_with("part-") || entry.path().string().find("/.work/") != std::string::npos)
        continue;
      std::string lang = entry.path().parent_path().filename().string();
      fs::path h5 = out / lang / (entry.path().stem().string() + "." + name + ".h5");
      TokenizedShardReader reader(h5);
      EXPECT_EQ(reader.info().language, lang);
      EXPECT_EQ(reader.info().tokenizer_name, tokenizer_path.filename().string());
      std::ifstream in(entry.path());
      std::int64_t i = 0;
      for (std::string line; std::getline(in, line); ++i) {
        auto row = nlohmann::json::parse(line);
        auto inputs = tokenizer->encode(row["inputs"].get<std::string>());
        if (input_eos) inputs.push_back(eos);
        auto targets = tokenizer->encode(target_prefix + row["targets"].get<std::string>());
        targets.push_back(eos);
        ASSERT_EQ(reader.input_ids(i), inputs) << h5 << " sample " << i;
        ASSERT_EQ(reader.target_ids(i), targets) << h5 << " sample " << i;
      }
      EXPECT_EQ(reader.n_samples(), i);
      ++n_parts;
    }
    EXPECT_EQ(n_parts, 7);
  }

  fs::path dir_, shards_;
};

TEST_F(XmtfTokenizeTest, OneAndTwoRanksWriteWhatDirectTokenizationGives) {
  auto one = run(fmt::format("{} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(shards_), q(dir_ / "one")));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  expect_matches_direct(dir_ / "one", kBloom, "bloomstyle_gpt2vocab", " ", false);
  auto two = run(fmt::format("mpiexec -n 2 {} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(shards_),
                             q(dir_ / "two")));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  EXPECT_NE(two.output.find("r1/2"), std::string::npos) << two.output;
  expect_matches_direct(dir_ / "two", kBloom, "bloomstyle_gpt2vocab", " ", false);
  // mT5 conventions: eos on inputs and targets, no prefix.
  auto mt5 = run(fmt::format("mpiexec -n 2 {} --tokenizer {} --input {} --output {}", q(kTool), q(kMt5), q(shards_),
                             q(dir_ / "mt5")));
  ASSERT_EQ(mt5.exit_code, 0) << mt5.output;
  expect_matches_direct(dir_ / "mt5", kMt5, "mt5style_xcopa_unigram2k", "", true);
  TokenizedShardReader reader(dir_ / "mt5/sw/part-00000.mt5style_xcopa_unigram2k.h5");
  EXPECT_EQ(reader.input_ids(0).back(), 1);  // mT5's </s>
}

TEST_F(XmtfTokenizeTest, RerunSkipsUpToDatePartsAndRedoesChangedOnes) {
  std::string command = fmt::format("{} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(shards_), q(dir_ / "out"));
  ASSERT_EQ(run(command).exit_code, 0);
  fs::path sw = dir_ / "out/sw/part-00000.bloomstyle_gpt2vocab.h5";
  fs::path vi = dir_ / "out/vi/part-00000.bloomstyle_gpt2vocab.h5";
  auto sw_time = fs::last_write_time(sw), vi_time = fs::last_write_time(vi);
  auto again = run(command);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("7 parts (7 skipped, 0 failed)"), std::string::npos) << again.output;
  EXPECT_EQ(fs::last_write_time(sw), sw_time);
  // Change one source part: only that one is redone.
  std::ofstream(shards_ / "vi/part-00000.jsonl", std::ios::app) << R"({"inputs": "Xin chào", "targets": "Chào"})" << "\n";
  auto changed = run(command);
  ASSERT_EQ(changed.exit_code, 0) << changed.output;
  EXPECT_NE(changed.output.find("7 parts (6 skipped, 0 failed)"), std::string::npos) << changed.output;
  EXPECT_EQ(TokenizedShardReader(vi).n_samples(), 41);
  EXPECT_NE(fs::last_write_time(vi), vi_time);
  // A corrupt output is rewritten, saying why.
  write_file_atomic(sw, "garbage");
  auto repaired = run(command);
  ASSERT_EQ(repaired.exit_code, 0) << repaired.output;
  EXPECT_NE(repaired.output.find(sw.string() + ": redoing (" + sw.string() + ": 7 bytes, recorded"), std::string::npos)
      << repaired.output;
  EXPECT_EQ(TokenizedShardReader(sw).n_samples(), 40);
  // Issue 18 item 11: bytes changed at the same size (a token id edited) were "up to date": the
  // file still read as a valid shard. The completion record's sha256 catches it.
  std::string bytes = read_file(sw);
  auto edited_at = bytes.size() / 2;
  bytes[edited_at] = static_cast<char>(bytes[edited_at] ^ 0x01);
  write_file_atomic(sw, bytes);
  auto edited = run(command);
  ASSERT_EQ(edited.exit_code, 0) << edited.output;
  EXPECT_NE(edited.output.find("content changed"), std::string::npos) << edited.output;
  EXPECT_NE(read_file(sw), bytes);
  EXPECT_NE(edited.output.find("7 parts (6 skipped, 0 failed)"), std::string::npos) << edited.output;
  // An empty or garbage record is no record.
  write_file_atomic(dir_ / "out/sw/.part-00000.bloomstyle_gpt2vocab.h5.done", "");
  EXPECT_NE(run(command).output.find("7 parts (6 skipped, 0 failed)"), std::string::npos);
  // An output whose source part is gone (xmtf-shard rerun with fewer parts) is removed.
  fs::copy_file(sw, dir_ / "out/sw/part-00009.bloomstyle_gpt2vocab.h5");
  fs::copy_file(sw, dir_ / "out/sw/part-00009.othertokenizer.h5");
  auto stale = run(command);
  ASSERT_EQ(stale.exit_code, 0) << stale.output;
  EXPECT_FALSE(fs::exists(dir_ / "out/sw/part-00009.bloomstyle_gpt2vocab.h5")) << stale.output;
  EXPECT_TRUE(fs::exists(dir_ / "out/sw/part-00009.othertokenizer.h5"));  // another tokenizer's: not ours
  // Different options are a different output.
  auto no_eos = run(command + " --target-eos=false");
  EXPECT_NE(no_eos.output.find("7 parts (0 skipped, 0 failed)"), std::string::npos) << no_eos.output;
}

TEST_F(XmtfTokenizeTest, H5dumpAndH5pyReadTheFiles) {
  fs::path part = shards_ / "zh/part-00001.jsonl";
  ASSERT_EQ(run(fmt::format("{} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(part), q(dir_ / "out"))).exit_code, 0);
  fs::path h5 = dir_ / "out/zh/part-00001.bloomstyle_gpt2vocab.h5";
  TokenizedShardReader reader(h5);

  auto dump = run("h5dump -a /format " + q(h5));
  ASSERT_EQ(dump.exit_code, 0) << dump.output;
  EXPECT_NE(dump.output.find("\"xmtf-tokenized-shard\""), std::string::npos) << dump.output;
  auto offsets = run("h5dump -d /targets/offsets -y -w 0 " + q(h5));
  ASSERT_EQ(offsets.exit_code, 0) << offsets.output;
  EXPECT_NE(offsets.output.find(fmt::format("DATASPACE  SIMPLE {{ ( {} ) / ( H5S_UNLIMITED ) }}", reader.n_samples() + 1)),
            std::string::npos) << offsets.output;

  std::string script = R"(
import h5py, json, sys
f = h5py.File(sys.argv[1], "r")
a = dict(f.attrs)
ids, off = f["inputs/ids"][:], f["inputs/offsets"][:]
t_ids, t_off = f["targets/ids"][:], f["targets/offsets"][:]
print(json.dumps({"n": int(a["n_samples"]), "format": a["format"], "lang": a["language"], "dtype": str(ids.dtype),
                  "offsets_dtype": str(off.dtype), "sum": int(ids.sum()) + int(t_ids.sum()),
                  "last_target": t_ids[t_off[-2]:t_off[-1]].tolist()}))
)";
  write_file_atomic(dir_ / "read.py", script);
  auto py = run("/usr/bin/python3 " + q(dir_ / "read.py") + " " + q(h5));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  auto got = nlohmann::json::parse(py.output);
  EXPECT_EQ(got["n"], reader.n_samples());
  EXPECT_EQ(got["format"], "xmtf-tokenized-shard");
  EXPECT_EQ(got["lang"], "zh");
  EXPECT_EQ(got["dtype"], "int32");
  EXPECT_EQ(got["offsets_dtype"], "int64");
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < reader.n_samples(); ++i) {
    for (auto id : reader.input_ids(i)) sum += id;
    for (auto id : reader.target_ids(i)) sum += id;
  }
  EXPECT_EQ(got["sum"], sum);
  EXPECT_EQ(got["last_target"].get<std::vector<std::int32_t>>(), reader.target_ids(reader.n_samples() - 1));
}

TEST_F(XmtfTokenizeTest, ExitCodesAndErrorsNameTheLine) {
  EXPECT_EQ(run(q(kTool) + " --help").exit_code, 0);
  EXPECT_EQ(run(q(kTool) + " --tokenizer " + q(kBloom)).exit_code, 2);
  EXPECT_EQ(run(q(kTool) + " --tokenizer " + q(kBloom) + " --input x --encode").exit_code, 2);
  EXPECT_EQ(run(q(kTool) + " --bogus").exit_code, 2);
  auto missing = run(fmt::format("{} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(dir_ / "nope"), q(dir_ / "o")));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no such file or folder"), std::string::npos) << missing.output;
  fs::create_directories(dir_ / "bad/fr");
  write_file_atomic(dir_ / "bad/fr/part-00000.jsonl", "{\"inputs\": \"a\", \"targets\": \"b\"}\n{\"inputs\": 3}\n");
  auto bad = run(fmt::format("{} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(dir_ / "bad"), q(dir_ / "o")));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("part-00000.jsonl:2: missing string field \"inputs\""), std::string::npos) << bad.output;
  EXPECT_FALSE(fs::exists(dir_ / "o/fr/part-00000.bloomstyle_gpt2vocab.h5"));  // nothing half-written
  EXPECT_TRUE(fs::is_empty(dir_ / "o/fr"));
}

// A shard part that is a dangling link is lost data: an error naming it, not a skipped part.
TEST_F(XmtfTokenizeTest, ADanglingPartIsAnErrorNamingIt) {
  fs::path link = shards_ / "sw/part-00007.jsonl";
  fs::create_symlink("gone.jsonl", link);
  auto result = run(fmt::format("{} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(shards_), q(dir_ / "out")));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find(link.string() + ": shard part is a dangling symbolic link to gone.jsonl"), std::string::npos)
      << result.output;
}

// Issue 19 item 12: after ENOSPC xmtf-tokenize segfaulted in MPI_Finalize (HDF5 cannot close a
// file one of its writes failed on, and its shutdown then crashed). Space is now allocated
// before HDF5 writes: a full disk is a clear error, exit 1, and nothing half-written is left.
// Needs a private mount namespace for a small tmpfs (`unshare -rm`), else skipped.
TEST_F(XmtfTokenizeTest, AFullDiskIsAClearErrorNotACrash) {
  if (std::system("unshare -rm true > /dev/null 2>&1") != 0) GTEST_SKIP() << "no private mount namespace here";
  fs::path mnt = dir_ / "small";
  fs::create_directories(mnt);
  auto in_small_disk = [&](const std::string& size, const std::string& then) {
    std::string inside = fmt::format("mount -t tmpfs -o size={} tmpfs {} && {} --tokenizer {} --input {} --output {}/out; "
                                     "echo exit=$?; find {} -name '*.tmp.*'",
                                     size, q(mnt), q(kTool), q(kBloom), q(shards_), q(mnt), q(mnt));
    return run("unshare -rm sh -c " + q(inside + then));
  };
  auto full = in_small_disk("64k", "");
  EXPECT_NE(full.output.find("exit=1"), std::string::npos) << full.output;  // was 139
  EXPECT_EQ(full.output.find("Segmentation fault"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find("No space left on device"), std::string::npos) << full.output;
  EXPECT_EQ(full.output.find(".tmp."), std::string::npos) << full.output;  // no temporary left
  EXPECT_NE(full.output.find("part(s) failed; rerun to retry them"), std::string::npos) << full.output;
  auto roomy = in_small_disk("8m", "");
  EXPECT_NE(roomy.output.find("exit=0"), std::string::npos) << roomy.output;
}

// Issue 19 item 13: temporaries of a killed run stayed after a successful rerun.
TEST_F(XmtfTokenizeTest, StaleTemporaryFilesOfAKilledRunAreRemoved) {
  fs::path sw = dir_ / "out" / "sw";
  fs::create_directories(sw);
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);  // a pid no process has now
  fs::path stale = sw / fmt::format("part-00000.bloomstyle_gpt2vocab.h5.tmp.{}.0", child);
  fs::path live = sw / fmt::format("part-00000.bloomstyle_gpt2vocab.h5.tmp.{}.1", ::getpid());
  write_file_atomic(stale, "half");
  write_file_atomic(live, "in progress");
  auto result = run(fmt::format("{} --tokenizer {} --input {} --output {}", q(kTool), q(kBloom), q(shards_), q(dir_ / "out")));
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(live));
}

TEST_F(XmtfTokenizeTest, EncodeAndDecodeLines) {
  write_file_atomic(dir_ / "in.txt", "\"Hello world\"\n\"tabs\\tand\\nnewlines <s>\"\n\"\"\n");
  auto encoded = run(q(kTool) + " --tokenizer " + q(kBloom) + " -q --encode < " + q(dir_ / "in.txt"));
  ASSERT_EQ(encoded.exit_code, 0) << encoded.output;
  auto tokenizer = tok::load_tokenizer(kBloom);
  auto expected = nlohmann::json(tokenizer->encode("Hello world")).dump() + "\n" +
                  nlohmann::json(tokenizer->encode("tabs\tand\nnewlines <s>")).dump() + "\n[]\n";
  EXPECT_EQ(encoded.output, expected);
  EXPECT_EQ(encoded.output.substr(0, 12), "[15496,995]\n");  // HF tokenizers' ids (golden corpus line 0)
  write_file_atomic(dir_ / "ids.txt", encoded.output);
  auto decoded = run(q(kTool) + " --tokenizer " + q(kBloom) + " --decode < " + q(dir_ / "ids.txt"));
  ASSERT_EQ(decoded.exit_code, 0) << decoded.output;
  EXPECT_EQ(decoded.output, read_file(dir_ / "in.txt"));
  auto bad = run("echo '[1, 999999]' | " + q(kTool) + " --tokenizer " + q(kBloom) + " --decode");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("stdin:1: token id 999999 out of range"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace xmtf::h5
