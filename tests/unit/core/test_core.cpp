#include <gtest/gtest.h>

#include <cstdlib>
#include <unistd.h>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"

namespace xmtf {
namespace {

fs::path scratch_dir(const char* name) {
  fs::path dir = fs::temp_directory_path() / fmt::format("xmtf-core-{}-{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(Sha256, KnownVectors) {
  // FIPS 180-2 test vectors
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 streaming;
  streaming.update("a");
  streaming.update("bc");
  EXPECT_EQ(streaming.hex_digest(), sha256_hex("abc"));
}

TEST(AtomicFile, CommitReplacesAndAbandonLeavesNothing) {
  fs::path dir = scratch_dir("atomic");
  fs::path target = dir / "out.txt";
  write_file_atomic(target, "first");
  EXPECT_EQ(read_file(target), "first");
  {
    AtomicFile file(target);
    file.write("second, never committed");
  }
  EXPECT_EQ(read_file(target), "first");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  EXPECT_EQ(sha256_file(target), sha256_hex("first"));
  fs::remove_all(dir);
}

TEST(Text, ClosestMatchSuggestsTypos) {
  std::vector<std::string> keys = {"partition", "account", "qos", "time", "setup"};
  EXPECT_EQ(closest_match("partiton", keys).value_or(""), "partition");
  EXPECT_EQ(closest_match("acount", keys).value_or(""), "account");
  EXPECT_FALSE(closest_match("completely_different", keys).has_value());
}

TEST(Text, ShellQuoteSurvivesTheShell) {
  // Independent reference: the real /bin/sh must read back exactly the original string.
  fs::path dir = scratch_dir("quote");
  std::vector<std::string> nasty = {"$(touch " + (dir / "pwned").string() + ")", "\"; rm -rf ~", "it's",
                                    "`id`", "a\nb", "", "plain-word", "${HOME}", "\\"};
  for (const auto& value : nasty) {
    fs::path out = dir / "echo.out";
    std::string command = "printf %s " + shell_quote(value) + " > " + shell_quote(out.string());
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    EXPECT_EQ(read_file(out), value);
  }
  EXPECT_FALSE(fs::exists(dir / "pwned"));
  fs::remove_all(dir);
}

// Text from a server or a file reaches logs through printable(): no raw control characters
// (a forged log line, terminal escapes), no invalid UTF-8, bounded length.
TEST(Text, PrintableEscapesWhatCouldForgeALogLine) {
  EXPECT_EQ(printable("plain text, é ü 中"), "plain text, é ü 中");
  EXPECT_EQ(printable("a\nb\r\tc\\"), "a\\nb\\r\\tc\\\\");
  EXPECT_EQ(printable("\x1b[2J\x07\x7f"), "\\x1b[2J\\x07\\x7f");
  EXPECT_EQ(printable(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(printable("\xc2\x9b" "31m"), "\\u009b31m");       // C1 CSI as UTF-8
  EXPECT_EQ(printable("\x9b\xff\xc3"), "\\x9b\\xff\\xc3");  // not UTF-8
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");            // overlong '/'
  EXPECT_EQ(printable(std::string(300, 'x'), 10), std::string(10, 'x') + "...");
}

TEST(Text, GlobMatch) {
  EXPECT_TRUE(glob_match("xP3/sw/*.jsonl", "xP3/sw/xp3_a.jsonl"));
  EXPECT_FALSE(glob_match("xP3/*.jsonl", "xP3/sw/xp3_a.jsonl"));
  EXPECT_TRUE(glob_match("**/*.json", "a/b/c.json"));
  EXPECT_TRUE(glob_match("**/*.json", "c.json"));
  EXPECT_TRUE(glob_match("model-0000[1-2].safetensors", "model-00002.safetensors"));
  EXPECT_FALSE(glob_match("model-0000[1-2].safetensors", "model-00003.safetensors"));
  EXPECT_TRUE(glob_match("*", "config.json"));
}

TEST(Text, SplitJoinTrim) {
  EXPECT_EQ(split("a,b,,c", ','), (std::vector<std::string>{"a", "b", "", "c"}));
  EXPECT_EQ(join({"a", "b"}, ", "), "a, b");
  EXPECT_EQ(trim("  x y \n"), "x y");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_duration(185), "3m05s");
}

}  // namespace
}  // namespace xmtf
