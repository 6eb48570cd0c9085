// The tokenized-shard format: round trip through the streaming writer and the reader, and
// clear errors (never crashes) on corrupt or foreign files.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/error.hpp"
#include "core/fs.hpp"
#include "h5/hdf5.hpp"
#include "h5/shard_writer.hpp"
#include "h5/tokenized_shard.hpp"

namespace xmtf::h5 {
namespace {

class TokenizedShardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("xmtf_h5_test_{}_{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  ShardInfo info() const {
    ShardInfo i;
    i.tokenizer_name = "tokenizer.json";
    i.tokenizer_sha256 = std::string(64, 'a');
    i.language = "fr";
    i.source_sha256 = std::string(64, 'b');
    i.options = "target_eos=1";
    return i;
  }
  // Writes n samples of random lengths (some empty) with a small chunk to force many flushes.
  void write_random(const fs::path& path, int n, std::vector<std::vector<std::int32_t>>& inputs,
                    std::vector<std::vector<std::int32_t>>& targets) {
    std::mt19937 rng(42);
    TokenizedShardWriter writer(path, info(), 64);
    for (int i = 0; i < n; ++i) {
      std::vector<std::int32_t> in(rng() % 200), out(rng() % 20);
      for (auto& x : in) x = static_cast<std::int32_t>(rng() % 250880);
      for (auto& x : out) x = static_cast<std::int32_t>(rng() % 250880);
      writer.append(in, out);
      inputs.push_back(in);
      targets.push_back(out);
    }
    writer.commit();
  }
  std::string error_of(const fs::path& path) {
    try {
      TokenizedShardReader reader(path);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  fs::path dir_;
};

TEST_F(TokenizedShardTest, RoundTripThroughWriterAndReader) {
  std::vector<std::vector<std::int32_t>> inputs, targets;
  fs::path path = dir_ / "part-00000.tok.h5";
  write_random(path, 500, inputs, targets);
  TokenizedShardReader reader(path);
  ASSERT_EQ(reader.n_samples(), 500);
  EXPECT_EQ(reader.info().format, kTokenizedShardFormat);
  EXPECT_EQ(reader.info().format_version, kTokenizedShardVersion);
  EXPECT_EQ(reader.info().language, "fr");
  EXPECT_EQ(reader.info().tokenizer_sha256, std::string(64, 'a'));
  EXPECT_EQ(reader.info().source_sha256, std::string(64, 'b'));
  EXPECT_EQ(reader.info().options, "target_eos=1");
  std::int64_t total = 0;
  std::vector<std::int32_t> in, out;
  for (int i = 0; i < 500; ++i) {
    reader.read_sample(i, in, out);
    ASSERT_EQ(in, inputs[i]) << i;
    ASSERT_EQ(out, targets[i]) << i;
    EXPECT_EQ(reader.input_length(i), static_cast<std::int64_t>(inputs[i].size()));
    total += static_cast<std::int64_t>(inputs[i].size());
  }
  EXPECT_EQ(reader.n_input_tokens(), total);
  EXPECT_EQ(reader.target_ids(7), targets[7]);
  EXPECT_THROW(reader.input_ids(500), Error);
  EXPECT_THROW(reader.input_ids(-1), Error);
  EXPECT_EQ(read_shard_info(path).n_samples, 500);
  // Only the final file remains: no temporary left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(TokenizedShardTest, EmptyShardAndUncommittedWriter) {
  fs::path empty = dir_ / "empty.h5";
  TokenizedShardWriter(empty, info()).commit();
  EXPECT_EQ(TokenizedShardReader(empty).n_samples(), 0);
  {
    TokenizedShardWriter abandoned(dir_ / "abandoned.h5", info());
    abandoned.append(std::vector<std::int32_t>{1, 2}, std::vector<std::int32_t>{3});
  }  // destroyed without commit: nothing is left
  EXPECT_FALSE(fs::exists(dir_ / "abandoned.h5"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(TokenizedShardTest, CorruptAndForeignFilesGiveClearErrors) {
  std::vector<std::vector<std::int32_t>> inputs, targets;
  fs::path good = dir_ / "good.h5";
  write_random(good, 300, inputs, targets);
  std::string bytes = read_file(good);

  EXPECT_NE(error_of(dir_ / "missing.h5").find("no such file"), std::string::npos);
  write_file_atomic(dir_ / "text.h5", "{\"inputs\": \"not hdf5\"}\n");
  EXPECT_NE(error_of(dir_ / "text.h5").find("not an HDF5 file"), std::string::npos);
  write_file_atomic(dir_ / "empty.h5", "");
  EXPECT_NE(error_of(dir_ / "empty.h5").find("not an HDF5 file"), std::string::npos);

  // Truncated at several points: an error naming the file at open or at read, never a crash.
  for (std::size_t keep : {std::size_t{600}, bytes.size() / 3, bytes.size() / 2, bytes.size() - 100}) {
    fs::path truncated = dir_ / fmt::format("truncated_{}.h5", keep);
    write_file_atomic(truncated, bytes.substr(0, keep));
    try {
      TokenizedShardReader reader(truncated);
      std::vector<std::int32_t> in, out;
      for (std::int64_t i = 0; i < reader.n_samples(); ++i) reader.read_sample(i, in, out);
      ADD_FAILURE() << "truncated file read without error (" << keep << " bytes)";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(truncated.string()), std::string::npos) << e.what();
    }
  }
  // Bytes flipped every 97 bytes past the superblock (metadata and data alike): an error naming
  // the file, never ids read back as if nothing happened.
  std::string flipped = bytes;
  for (std::size_t i = 2048; i < flipped.size(); i += 97) flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
  write_file_atomic(dir_ / "flipped.h5", flipped);
  try {
    TokenizedShardReader reader(dir_ / "flipped.h5");
    std::vector<std::int32_t> in, out;
    for (std::int64_t i = 0; i < reader.n_samples(); ++i) reader.read_sample(i, in, out);
    ADD_FAILURE() << "a file with flipped bytes was read without an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find((dir_ / "flipped.h5").string() + ": "), std::string::npos) << e.what();
  }

  // A valid HDF5 file that is not a tokenized shard.
  {
    quiet_hdf5_errors();
    Handle file = check(H5Fcreate((dir_ / "foreign.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create");
    write_string_attribute(file.get(), "title", "something else");
  }
  EXPECT_NE(error_of(dir_ / "foreign.h5").find("attribute 'format' is missing"), std::string::npos);
  {
    Handle file = check(H5Fcreate((dir_ / "other_format.h5").c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), "create");
    write_string_attribute(file.get(), "format", "megatron-indexed");
  }
  EXPECT_NE(error_of(dir_ / "other_format.h5").find("not a tokenized shard"), std::string::npos);
  {
    Handle file = check(H5Fopen(good.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), "open");
    check_status(H5Adelete(file.get(), "n_samples"), "delete");
    write_int64_attribute(file.get(), "n_samples", 301);
  }
  EXPECT_NE(error_of(good).find("/inputs/offsets has 301 entries, expected n_samples + 1 = 302"), std::string::npos)
      << error_of(good);
}

}  // namespace
}  // namespace xmtf::h5
