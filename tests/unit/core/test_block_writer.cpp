// BlockWriter: the file holds exactly the bytes written (kept prefix + new bytes, across block
// edges, with and without O_DIRECT), `consume` sees exactly the new bytes in order, restart()
// empties the file, and finish() cuts whatever an earlier writer left after the end.
#include <gtest/gtest.h>
#include <unistd.h>

#include <random>
#include <string>

#include "core/block_writer.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"

namespace xmtf {
namespace {

class BlockWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("xmtf-block-writer-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Random bytes in pieces of random size (some larger than a block).
  static std::vector<std::string> pieces(std::size_t total, unsigned seed) {
    std::mt19937 random(seed);
    std::vector<std::string> out;
    for (std::size_t written = 0; written < total;) {
      std::size_t size = std::min<std::size_t>(total - written, random() % 3 == 0 ? random() % (6u << 20) : random() % 5000);
      std::string piece(size, '\0');
      for (char& c : piece) c = static_cast<char>(random());
      written += size;
      out.push_back(std::move(piece));
    }
    return out;
  }
  fs::path dir_;
};

TEST_F(BlockWriterTest, WritesExactBytesAndConsumesOnlyNewOnes) {
  for (bool direct : {true, false})
    for (bool background : {true, false}) {
      fs::path path = dir_ / "new.bin";
      fs::remove(path);
      std::string expected, consumed;
      BlockWriter::Options options;
      options.direct = direct;
      options.create_exclusive = true;
      options.consume = [&](std::string_view bytes) { consumed += bytes; };
      options.consume_in_background = background;
      BlockWriter writer(path, 0, options);
      for (const std::string& piece : pieces(BlockWriter::kBlockBytes * 3 + 777, 1)) {
        writer.write(piece);
        expected += piece;
      }
      EXPECT_EQ(writer.size(), expected.size());
      writer.finish();
      EXPECT_EQ(read_file(path), expected) << "direct " << direct << " background " << background;
      EXPECT_EQ(consumed, expected);
      EXPECT_THROW(BlockWriter(path, 0, options), Error) << "create_exclusive on an existing file";
    }
}

TEST_F(BlockWriterTest, AppendsAfterAnUnalignedKeptPrefixAndCutsTheRest) {
  for (bool direct : {true, false}) {
    fs::path path = dir_ / "resume.bin";
    std::string old = pieces(10000, 2)[0] + std::string(9000, 'o');
    write_file_atomic(path, old);
    const std::size_t keep = 4321 + 4096;  // not aligned
    std::string consumed;
    BlockWriter::Options options;
    options.direct = direct;
    options.consume = [&](std::string_view bytes) { consumed += bytes; };
    BlockWriter writer(path, keep, options);
    std::string added;
    for (const std::string& piece : pieces(BlockWriter::kBlockBytes + 100, 3)) {
      writer.write(piece);
      added += piece;
    }
    writer.finish();
    EXPECT_EQ(read_file(path), old.substr(0, keep) + added);
    EXPECT_EQ(consumed, added) << "the kept prefix is not consumed again";

    // A short tail after the kept bytes: what followed in the old file is cut off.
    write_file_atomic(path, old);
    BlockWriter short_writer(path, keep, options);
    short_writer.write("tail");
    short_writer.finish();
    EXPECT_EQ(read_file(path), old.substr(0, keep) + "tail");
  }
}

TEST_F(BlockWriterTest, RestartEmptiesTheFile) {
  fs::path path = dir_ / "restart.bin";
  write_file_atomic(path, std::string(5000, 'x'));
  BlockWriter writer(path, 5000, {});
  writer.write(std::string(BlockWriter::kBlockBytes + 5, 'y'));
  writer.restart();
  EXPECT_EQ(writer.size(), 0u);
  writer.write("fresh");
  writer.finish();
  EXPECT_EQ(read_file(path), "fresh");
}

}  // namespace
}  // namespace xmtf
