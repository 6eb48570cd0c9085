#pragma once
// A stream of bytes written to a file through 4 MiB blocks that a background I/O thread takes
// to the disk, with O_DIRECT where the file system allows it, while the caller fills the next.
//
// Why: on a busy node, buffered write() copies every byte into the page cache and the writing
// thread then pays the cache's reclaim and writeback throttling itself: measured on the dev VM,
// 0.6-4.1 s of system time per GiB, against 0.07 s with O_DIRECT. Files written once and read
// later by another job (shards, downloads) gain nothing from the cache. File systems that refuse
// O_DIRECT (EINVAL at open or at a write) get the same blocks through the page cache.
//
// The caller's thread only copies bytes into blocks; an optional `consume` (a hash) runs on the
// I/O thread over every new byte, in order.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>

namespace xmtf {

class BlockWriter {
 public:
  static constexpr std::size_t kBlockBytes = std::size_t{4} << 20;

  struct Options {
    bool direct = true;          // false: through the page cache
    bool create_exclusive = false;  // the file must not exist yet (O_EXCL)
    // Called with every byte written after `offset`, in order: on the I/O thread, or on the
    // caller's (so that the caller's work stays on one core) when consume_in_background is false.
    std::function<void(std::string_view)> consume;
    bool consume_in_background = true;
  };

  // Opens (creating if needed) `path`, keeps its first `offset` bytes (they must be there) and
  // writes after them; whatever followed is cut off by finish().
  BlockWriter(const std::filesystem::path& path, std::uint64_t offset, Options options);
  ~BlockWriter();  // without finish(): waits for the I/O thread and closes; the file is left as is
  BlockWriter(const BlockWriter&) = delete;
  BlockWriter& operator=(const BlockWriter&) = delete;

  void write(std::string_view bytes);
  // Drops everything: the file is emptied and writing starts again at byte 0.
  void restart();
  // Writes what is left, cuts the file to size() and fsyncs it. Rethrows an I/O thread's error.
  void finish();

  std::uint64_t size() const;  // offset + bytes written
  bool direct() const;         // still O_DIRECT (false after a fallback)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace xmtf
