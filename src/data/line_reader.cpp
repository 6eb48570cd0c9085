#include "data/line_reader.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/error.hpp"

namespace xmtf::data {

namespace {
constexpr std::size_t kInitialCapacity = std::size_t{4} << 20;
// A buffer grown for one long line is given back once it passes this size, so a single
// pathological line does not keep memory for the rest of the run.
constexpr std::size_t kShrinkAbove = std::size_t{16} << 20;

int open_for_reading(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open: {}", path.string(), errno_text(errno));
  return fd;
}

std::size_t read_at(int fd, const fs::path& path, char* out, std::size_t size, std::uint64_t offset) {
  while (true) {
    ssize_t n = ::pread(fd, out, size, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) fail("{}: read failed at byte {}: {}", path.string(), offset, errno_text(errno));
  }
}
}  // namespace

LineReader::LineReader(const fs::path& path, std::uint64_t begin, std::uint64_t end, std::uint64_t max_line_bytes)
    : path_(path), end_(end), max_line_bytes_(max_line_bytes) {
  fd_ = open_for_reading(path);
  ::posix_fadvise(fd_, static_cast<off_t>(begin), 0, POSIX_FADV_SEQUENTIAL);
  buffer_offset_ = begin;
  grow(kInitialCapacity);
}

LineReader::~LineReader() {
  if (fd_ >= 0) ::close(fd_);
}

void LineReader::grow(std::size_t capacity) {
  std::vector<char> bigger(capacity + kPadding, '\0');
  std::memcpy(bigger.data(), buffer_.data() + lo_, hi_ - lo_);
  buffer_offset_ += lo_;
  hi_ -= lo_;
  lo_ = 0;
  buffer_.swap(bigger);
  capacity_ = capacity;
}

void LineReader::compact() {
  if (lo_ == 0) return;
  std::memmove(buffer_.data(), buffer_.data() + lo_, hi_ - lo_);
  buffer_offset_ += lo_;
  hi_ -= lo_;
  lo_ = 0;
}

std::size_t LineReader::fill() {
  if (eof_) return 0;
  if (hi_ == capacity_) compact();
  std::size_t n = read_at(fd_, path_, buffer_.data() + hi_, capacity_ - hi_, buffer_offset_ + hi_);
  if (n == 0) eof_ = true;
  hi_ += n;
  std::memset(buffer_.data() + hi_, 0, kPadding);
  return n;
}

bool LineReader::skip_rest_of_long_line(Line& line) {
  // Drop what we hold and read on until the '\n', counting bytes: memory stays at capacity_.
  std::uint64_t length = hi_ - lo_;
  lo_ = hi_ = 0;
  buffer_offset_ = line.offset + length;
  scanned_ = 0;
  while (true) {
    if (fill() == 0) {
      line.has_newline = false;
      break;
    }
    const char* newline = static_cast<const char*>(std::memchr(buffer_.data(), '\n', hi_));
    if (newline != nullptr) {
      std::size_t used = static_cast<std::size_t>(newline - buffer_.data());
      length += used;
      lo_ = used + 1;
      break;
    }
    length += hi_;
    buffer_offset_ += hi_;
    hi_ = 0;
  }
  line.length = length;
  line.too_long = true;
  line.bytes = {};
  if (capacity_ > kShrinkAbove) grow(kInitialCapacity);
  return true;
}

bool LineReader::next(Line& line) {
  if (capacity_ > kShrinkAbove && hi_ - lo_ < kInitialCapacity) grow(kInitialCapacity);
  std::uint64_t line_offset = buffer_offset_ + lo_;
  if (line_offset >= end_) return false;
  scanned_ = 0;
  while (true) {
    const char* start = buffer_.data() + lo_ + scanned_;
    const char* newline = static_cast<const char*>(std::memchr(start, '\n', hi_ - lo_ - scanned_));
    if (newline != nullptr) {
      std::size_t length = static_cast<std::size_t>(newline - (buffer_.data() + lo_));
      line = Line{};
      line.offset = line_offset;
      line.length = length;
      line.has_newline = true;
      if (length > max_line_bytes_) {
        line.too_long = true;
      } else {
        line.bytes = std::string_view(buffer_.data() + lo_, length);
      }
      lo_ += length + 1;
      return true;
    }
    scanned_ = hi_ - lo_;
    if (scanned_ > max_line_bytes_) {
      line = Line{};
      line.offset = line_offset;
      return skip_rest_of_long_line(line);
    }
    if (lo_ == 0 && hi_ == capacity_) {
      std::size_t wanted = std::min<std::size_t>(capacity_ * 2, max_line_bytes_ + 1);
      grow(std::max(wanted, capacity_ + 1));
      line_offset = buffer_offset_ + lo_;
    }
    if (fill() == 0) break;
    line_offset = buffer_offset_ + lo_;
  }
  // End of file: what is left is a last line without '\n' (or nothing).
  if (hi_ == lo_) return false;
  std::size_t length = hi_ - lo_;
  line = Line{};
  line.offset = line_offset;
  line.length = length;
  line.has_newline = false;
  if (length > max_line_bytes_) {
    line.too_long = true;
  } else {
    line.bytes = std::string_view(buffer_.data() + lo_, length);
  }
  lo_ = hi_;
  return true;
}

std::optional<std::uint64_t> first_line_start(const fs::path& path, std::uint64_t begin, std::uint64_t end) {
  if (begin == 0) return end > 0 ? std::optional<std::uint64_t>(0) : std::nullopt;
  int fd = open_for_reading(path);
  std::vector<char> block(std::size_t{1} << 20);
  std::uint64_t position = begin - 1;  // a '\n' here means a line starts exactly at begin
  std::optional<std::uint64_t> found;
  while (position < end && !found) {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), end - position));
    std::size_t n = read_at(fd, path, block.data(), want, position);
    if (n == 0) break;
    const char* newline = static_cast<const char*>(std::memchr(block.data(), '\n', n));
    if (newline != nullptr) {
      std::uint64_t start = position + static_cast<std::uint64_t>(newline - block.data()) + 1;
      if (start < end) found = start;
      break;
    }
    position += n;
  }
  ::close(fd);
  return found;
}

}  // namespace xmtf::data
