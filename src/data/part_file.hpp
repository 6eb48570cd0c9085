#pragma once
// A part (or .work piece) being written: bytes, sample count and SHA-256 as they go, written to
// a temporary name, fsync'd and renamed on commit() (removed if never committed). The bytes go
// through core's BlockWriter: 4 MiB blocks, O_DIRECT where possible, from an I/O thread (why:
// core/block_writer.hpp and docs/data.md).
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/block_writer.hpp"
#include "core/fs.hpp"

namespace xmtf::data {

struct PartRecord {
  std::uint64_t samples = 0;
  std::uint64_t bytes = 0;
  std::string sha256;
};

class PartFile {
 public:
  struct Options {
    // SHA-256 runs on the I/O thread too (a second core's work); otherwise on the caller's
    // thread, so a rank stays on one core.
    bool hash_in_background = false;
    // Around the page cache (O_DIRECT). Off: through it, as on file systems without O_DIRECT.
    // (Even .work pieces that a later step reads back are cheaper this way on a busy node:
    // reading them from disk cost less than the buffered writes' reclaim, measured.)
    bool direct = true;
  };
  PartFile(const fs::path& path, Options options);
  ~PartFile();
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  void write_line(std::string_view line);                           // line + '\n'
  void write_block(std::string_view bytes, std::uint64_t lines);    // whole lines, '\n' included
  std::uint64_t bytes() const { return bytes_; }
  PartRecord commit();

  static constexpr std::size_t kBlockBytes = BlockWriter::kBlockBytes;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::uint64_t samples_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace xmtf::data
