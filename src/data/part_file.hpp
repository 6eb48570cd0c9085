#pragma once
// A part (or .work piece) being written: bytes, sample count and SHA-256 as they go, written to
// a temporary name, fsync'd and renamed on commit() (removed if never committed).
//
// Why not stdio: buffered writes copy every byte into the page cache, and when the cache is full
// the writing thread reclaims memory itself; on a busy node that cost 0.6-4 s of system time per
// GiB (measured, see docs/data.md). Parts are written once and read later by another job, so
// they go around the cache: whole 4 MiB blocks with O_DIRECT from a background I/O thread (it
// waits for the disk, using next to no CPU) while the next block fills. File systems that refuse
// O_DIRECT get the same blocks through the page cache.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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

  static constexpr std::size_t kBlockBytes = std::size_t{4} << 20;

 private:
  struct Impl;
  void append(std::string_view bytes);
  std::unique_ptr<Impl> impl_;
  std::uint64_t samples_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace xmtf::data
