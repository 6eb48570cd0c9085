// xmtf-score end to end: 1 vs 2 MPI ranks give identical output, --output atomic and idempotent,
// the model folder's tokenizer.json used by default, --help and exit codes.
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/fs.hpp"
#include "eval_test_util.hpp"

namespace xmtf::eval {
namespace {

using testing::q;
using testing::Result;
// stdout only (logs go to stderr) unless with_stderr.
Result run(const std::string& command, bool with_stderr = false) { return testing::run(command, with_stderr); }
const fs::path kData = fs::path(XMTF_TEST_DATA_DIR) / "eval";
const fs::path kModel = testing::kModel;
const fs::path kTokenizer = testing::kTokenizer;
const fs::path kTool = fs::path(XMTF_BIN_DIR) / "xmtf-score";

class XmtfScoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("xmtf_score_cli_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    // Both inputs in one file: text and pre-tokenized lines may be mixed.
    write_file_atomic(dir_ / "mixed.jsonl", read_file(kData / "ids.jsonl") + "\n" + read_file(kData / "text.jsonl"));
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(XmtfScoreTest, OneAndTwoRanksGiveIdenticalOutputInInputOrder) {
  std::string args = fmt::format("--model {} --input {} --tokenizer {} --batch-size 2", q(kModel), q(dir_ / "mixed.jsonl"),
                                 q(kTokenizer));
  auto one = run(fmt::format("{} {}", q(kTool), args));
  ASSERT_EQ(one.exit_code, 0);
  auto two = run(fmt::format("mpiexec -n 2 {} {}", q(kTool), args));
  ASSERT_EQ(two.exit_code, 0);
  EXPECT_EQ(one.output, two.output);
  auto plain = run(fmt::format("{} --model {} --input {} --tokenizer {}", q(kTool), q(kModel), q(dir_ / "mixed.jsonl"),
                               q(kTokenizer)));
  // 9 id lines, a blank line, 7 text lines: outputs keep the input line numbers.
  std::vector<std::int64_t> lines;
  std::string rest = two.output;
  for (std::size_t end; (end = rest.find('\n')) != std::string::npos; rest.erase(0, end + 1))
    lines.push_back(nlohmann::json::parse(rest.substr(0, end))["line"].get<std::int64_t>());
  std::vector<std::int64_t> expected{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17};
  EXPECT_EQ(lines, expected);
  // Another batch size pads differently: the same scores up to float rounding.
  auto parse = [](const std::string& text) {
    std::vector<nlohmann::json> rows;
    std::size_t begin = 0;
    for (std::size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1)
      rows.push_back(nlohmann::json::parse(text.substr(begin, end - begin)));
    return rows;
  };
  auto a = parse(plain.output), b = parse(one.output);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["tokens"], b[i]["tokens"]);
    EXPECT_NEAR(a[i]["logprob_sum"].get<double>(), b[i]["logprob_sum"].get<double>(), 1e-4);
  }
}

TEST_F(XmtfScoreTest, OutputFileIsAtomicAndRerunIsSkipped) {
  fs::path out = dir_ / "results" / "scores.jsonl";
  std::string command = fmt::format("{} --model {} --input {} --output {}", q(kTool), q(kModel), q(kData / "ids.jsonl"), q(out));
  auto first = run(command, true);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  std::string written = read_file(out);
  EXPECT_EQ(std::count(written.begin(), written.end(), '\n'), 9);
  EXPECT_FALSE(fs::exists(fs::path(out.string() + ".tmp")));
  auto second = run(command, true);
  EXPECT_EQ(second.exit_code, 0);
  EXPECT_NE(second.output.find("up to date"), std::string::npos) << second.output;
  auto forced = run(command + " --force", true);
  EXPECT_EQ(forced.exit_code, 0);
  EXPECT_EQ(read_file(out), written);
}

// Issue 18 item 11: a 0-byte output was "up to date" (newer than the input), and --output equal
// to --input was accepted. The completion record is verified; an output that is an input is refused.
TEST_F(XmtfScoreTest, ARerunTrustsOnlyAVerifiedOutputAndTheInputIsNeverTheOutput) {
  fs::path out = dir_ / "scores.jsonl";
  std::string command = fmt::format("{} --model {} --input {} --output {}", q(kTool), q(kModel), q(kData / "ids.jsonl"), q(out));
  ASSERT_EQ(run(command, true).exit_code, 0);
  std::string good = read_file(out);
  write_file_atomic(out, "");
  auto empty = run(command, true);
  ASSERT_EQ(empty.exit_code, 0) << empty.output;
  EXPECT_NE(empty.output.find("scoring again (" + out.string() + ": 0 bytes"), std::string::npos) << empty.output;
  EXPECT_EQ(read_file(out), good);
  std::string edited = good;
  edited[edited.find("logprob_sum") + 14] ^= 1;  // a digit changed: same size
  write_file_atomic(out, edited);
  auto changed = run(command, true);
  EXPECT_NE(changed.output.find("content changed"), std::string::npos) << changed.output;
  EXPECT_EQ(read_file(out), good);
  EXPECT_NE(run(command, true).output.find("up to date"), std::string::npos);

  fs::path input = dir_ / "in.jsonl";
  fs::copy_file(kData / "ids.jsonl", input);
  for (const fs::path& same : {input, dir_ / "." / "in.jsonl"}) {
    auto clobber = run(fmt::format("{} --model {} --input {} --output {}", q(kTool), q(kModel), q(input), q(same)), true);
    EXPECT_EQ(clobber.exit_code, 1) << clobber.output;
    EXPECT_NE(clobber.output.find("is the input"), std::string::npos) << clobber.output;
  }
  EXPECT_EQ(read_file(input), read_file(kData / "ids.jsonl"));
  fs::path model = dir_ / "model";  // a copy: the check must not be tried on the test data
  fs::copy(kModel, model, fs::copy_options::recursive);
  auto weights = run(fmt::format("{} --model {} --input {} --output {}", q(kTool), q(model), q(input),
                                 q(model / "model.safetensors")), true);
  EXPECT_EQ(weights.exit_code, 1) << weights.output;
  EXPECT_EQ(read_file(model / "model.safetensors"), read_file(kModel / "model.safetensors"));
}

TEST_F(XmtfScoreTest, UsesTheModelFoldersTokenizerByDefault) {
  fs::path model = dir_ / "hf";
  fs::create_directories(model);
  fs::copy(kModel / "config.json", model / "config.json");
  fs::copy(kModel / "model.safetensors", model / "model.safetensors");
  auto without = run(fmt::format("{} --model {} --input {}", q(kTool), q(model), q(kData / "text.jsonl")), true);
  EXPECT_EQ(without.exit_code, 1);
  EXPECT_NE(without.output.find("text.jsonl:1: a text line needs a tokenizer"), std::string::npos) << without.output;
  fs::copy(kTokenizer, model / "tokenizer.json");
  auto with = run(fmt::format("{} --model {} --input {}", q(kTool), q(model), q(kData / "text.jsonl")));
  auto explicit_tokenizer =
      run(fmt::format("{} --model {} --input {} --tokenizer {}", q(kTool), q(kModel), q(kData / "text.jsonl"), q(kTokenizer)));
  EXPECT_EQ(with.exit_code, 0);
  EXPECT_EQ(with.output, explicit_tokenizer.output);
}

TEST_F(XmtfScoreTest, HelpAndExitCodes) {
  auto help = run(fmt::format("{} --help", q(kTool)), true);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--model"), std::string::npos);
  EXPECT_NE(help.output.find("--batch-size"), std::string::npos);
  EXPECT_EQ(run(fmt::format("{} --input {}", q(kTool), q(kData / "ids.jsonl"))).exit_code, 2);
  EXPECT_EQ(run(fmt::format("{} --model {} --input {} --batch-size 0", q(kTool), q(kModel), q(kData / "ids.jsonl"))).exit_code, 2);
  EXPECT_EQ(run(fmt::format("{} --model {} --input {}", q(kTool), q(dir_), q(kData / "ids.jsonl"))).exit_code, 1);
  write_file_atomic(dir_ / "bad.jsonl", "{\"input_ids\": [1], \"target_ids\": [2]}\n{\"input_ids\": [1]}\n");
  const std::string message = "bad.jsonl:2: \"target_ids\" must be an array of token ids";
  for (const char* launcher : {"", "mpiexec -n 2 "}) {
    auto bad = run(fmt::format("{}{} --model {} --input {}", launcher, q(kTool), q(kModel), q(dir_ / "bad.jsonl")), true);
    EXPECT_EQ(bad.exit_code, 1) << launcher;
    EXPECT_NE(bad.output.find(message), std::string::npos) << bad.output;
  }
}

}  // namespace
}  // namespace xmtf::eval

namespace xmtf::eval {
namespace {

// Issue 18 item 8: a model holding a NaN printed "logprob_sum":nan (not JSON). Such weights are
// now refused on load, naming the tensor.
TEST_F(XmtfScoreTest, NonFiniteWeightsAreRefused) {
  fs::path model = dir_ / "nan-model";
  fs::create_directories(model);
  fs::copy(kModel / "config.json", model / "config.json");
  std::string bytes = read_file(kModel / "model.safetensors");
  // The last 4 bytes are the last float of the last tensor: make it a NaN.
  const float nan = std::nanf("");
  std::memcpy(bytes.data() + bytes.size() - 4, &nan, 4);
  write_file_atomic(model / "model.safetensors", bytes);
  auto result = run(fmt::format("{} --model {} --input {}", q(kTool), q(model), q(kData / "ids.jsonl")), true);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.output.find("holds nan at element"), std::string::npos) << result.output;
  EXPECT_EQ(result.output.find("logprob_sum"), std::string::npos);
}

// Issue 18 item 7: a 100k-token sample ended in std::bad_alloc; now a clear error naming the line.
TEST_F(XmtfScoreTest, ALongSampleIsRefusedUpFrontNamingTheLine) {
  std::string line = "{\"input_ids\": [1";
  for (int i = 0; i < 100000; ++i) line += ",1";
  write_file_atomic(dir_ / "long.jsonl", read_file(kData / "ids.jsonl") + line + "], \"target_ids\": [2]}\n");
  for (const char* launcher : {"", "mpiexec -n 2 "}) {
    auto result = run(fmt::format("{}{} --model {} --input {}", launcher, q(kTool), q(kModel), q(dir_ / "long.jsonl")), true);
    EXPECT_EQ(result.exit_code, 1) << launcher;
    EXPECT_NE(result.output.find("long.jsonl:10: a sample of 100002 tokens"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find("bad_alloc"), std::string::npos);
  }
}

}  // namespace
}  // namespace xmtf::eval

namespace xmtf::eval {
namespace {

TEST_F(XmtfScoreTest, BackendOption) {
  const std::string args = fmt::format("--model {} --input {}", q(kModel), q(kData / "ids.jsonl"));
  auto cpu = run(fmt::format("{} {} --backend cpu", q(kTool), args));
  auto reference = run(fmt::format("{} {} --backend reference", q(kTool), args));
  ASSERT_EQ(cpu.exit_code, 0);
  ASSERT_EQ(reference.exit_code, 0);
  auto sums = [](const std::string& text) {
    std::vector<double> out;
    std::size_t begin = 0;
    for (std::size_t end; (end = text.find('\n', begin)) != std::string::npos; begin = end + 1)
      out.push_back(nlohmann::json::parse(text.substr(begin, end - begin))["logprob_sum"].get<double>());
    return out;
  };
  const auto a = sums(cpu.output), b = sums(reference.output);
  ASSERT_EQ(a.size(), 9u);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::max(1.0, std::abs(a[i])));
  EXPECT_EQ(run(fmt::format("{} {} --backend gpu-maybe", q(kTool), args)).exit_code, 2);
}

}  // namespace
}  // namespace xmtf::eval
