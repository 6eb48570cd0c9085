#pragma once
// Streaming line reader over a byte range of a file, with bounded memory: a line longer than
// max_line_bytes is never held in memory, it is skipped and reported with its length. The buffer
// keeps `kPadding` readable bytes after every line so a SIMD JSON parser can read past its end.
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/fs.hpp"

namespace xmtf::data {

struct Line {
  std::string_view bytes;      // without the '\n' (empty when too_long)
  std::uint64_t offset = 0;    // byte offset of the line's first byte in the file
  std::uint64_t length = 0;    // bytes of the line without '\n' (known even when too_long)
  bool has_newline = true;     // false for a last line cut off at end of file
  bool too_long = false;       // longer than max_line_bytes: skipped, bytes left empty
};

class LineReader {
 public:
  static constexpr std::size_t kPadding = 64;  // >= SIMDJSON_PADDING

  // Reads the lines that START in [begin, end); begin must be a line start (0, or one past a
  // '\n'). The last line is read to its end even past `end`.
  LineReader(const fs::path& path, std::uint64_t begin, std::uint64_t end, std::uint64_t max_line_bytes);
  ~LineReader();
  LineReader(const LineReader&) = delete;
  LineReader& operator=(const LineReader&) = delete;

  // The next line, or false at the end of the range. The view stays valid until the next call.
  bool next(Line& line);

  // The bytes from `line` (the one next() just gave, not too_long) to the end of what is
  // buffered, followed by kPadding readable bytes: the lines next() will give without reading,
  // so they can be validated together (BatchValidator).
  std::string_view buffered_from(const Line& line) const {
    return std::string_view(line.bytes.data(), static_cast<std::size_t>(buffer_.data() + hi_ - line.bytes.data()));
  }

 private:
  std::size_t fill();  // appends file bytes after hi_, returns how many (0 at end of file)
  void compact();      // moves [lo_, hi_) to the buffer start
  void grow(std::size_t capacity);
  bool skip_rest_of_long_line(Line& line);

  fs::path path_;
  int fd_ = -1;
  std::uint64_t end_;
  std::uint64_t max_line_bytes_;
  std::vector<char> buffer_;        // capacity() + kPadding bytes
  std::size_t capacity_ = 0;
  std::size_t lo_ = 0, hi_ = 0;     // unread bytes are buffer_[lo_, hi_)
  std::uint64_t buffer_offset_ = 0; // file offset of buffer_[0]
  std::size_t scanned_ = 0;         // bytes after lo_ already known to hold no '\n'
  bool eof_ = false;
};

// The first line start in [begin, end) of the file, or nullopt when no line starts there (a
// long line covers the whole range). Reads forward from begin-1 only as far as end.
std::optional<std::uint64_t> first_line_start(const fs::path& path, std::uint64_t begin, std::uint64_t end);

}  // namespace xmtf::data
