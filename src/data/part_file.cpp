#include "data/part_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <cstring>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

#include "core/error.hpp"
#include "core/sha256.hpp"

namespace xmtf::data {

namespace {

// O_DIRECT wants buffer address, file offset and length aligned to the device's logical block;
// 4096 (a page: what mmap gives) covers 512-byte and 4K devices.
constexpr std::size_t kAlignment = 4096;

// Mapped, not malloc'ed: page-aligned, and given back to the system when the file is done
// (glibc keeps freed blocks of this size in its heap, which grew peak RSS by 40 MB, measured).
struct AlignedBlock {
  AlignedBlock() {
    // Over-map to start on a 2 MiB boundary, so the block can be two huge pages: the kernel
    // then pins 2 pages per O_DIRECT write instead of 1024.
    constexpr std::size_t kHuge = std::size_t{2} << 20;
    void* mapped = ::mmap(nullptr, PartFile::kBlockBytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) fail("out of memory for a {} byte write block", PartFile::kBlockBytes);
    mapping = static_cast<char*>(mapped);
    data = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(mapping) + kHuge - 1) & ~(kHuge - 1));
    ::madvise(data, PartFile::kBlockBytes, MADV_HUGEPAGE);  // a hint; fine if refused
  }
  ~AlignedBlock() { ::munmap(mapping, PartFile::kBlockBytes + (std::size_t{2} << 20)); }
  char* mapping = nullptr;
  AlignedBlock(const AlignedBlock&) = delete;
  AlignedBlock& operator=(const AlignedBlock&) = delete;
  char* data = nullptr;
  std::size_t size = 0;
};

// One background thread running jobs in the order given. The caller waits only when
// `max_pending` jobs are queued or running (then each block buffer is free again by the time it is
// refilled), so a slow moment of the disk does not stall validation.
class Worker {
 public:
  explicit Worker(std::size_t max_pending) : max_pending_(max_pending), thread_([this] { loop(); }) {}
  ~Worker() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void run(std::function<void()> job) {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return jobs_.size() < max_pending_ || error_; });
    rethrow_error();
    jobs_.push_back(std::move(job));
    wake_.notify_all();
  }
  // Waits for every job given so far; rethrows what one threw.
  void wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return jobs_.empty(); });
    rethrow_error();
  }

 private:
  void rethrow_error() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  void loop() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stopping, nothing left
      std::function<void()>& job = jobs_.front();  // stays valid while the caller appends
      bool skip = failed_;                         // after a failure the rest are dropped
      lock.unlock();
      std::exception_ptr thrown;
      if (!skip) {
        try {
          job();
        } catch (...) {
          thrown = std::current_exception();
        }
      }
      lock.lock();
      if (thrown) {
        error_ = thrown;
        failed_ = true;
      }
      jobs_.pop_front();
      done_.notify_all();
    }
  }
  std::size_t max_pending_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::deque<std::function<void()>> jobs_;  // front: running
  std::exception_ptr error_;  // the first failure, until rethrown to the caller
  bool failed_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members it uses exist
};

}  // namespace

struct PartFile::Impl {
  fs::path final_path, temp_path;
  int fd = -1;
  bool direct = true;
  bool hash_in_background;
  bool committed = false;
  std::uint64_t offset = 0;  // file bytes written (always whole blocks before commit)
  Sha256 sha;
  // blocks[filling] fills while the others wait for, or go to, the disk: with kBlocks - 1 jobs
  // at most in flight, the block about to fill is always free.
  static constexpr std::size_t kBlocks = 4;
  AlignedBlock blocks[kBlocks];
  std::size_t filling = 0;
  Worker io{kBlocks - 1};  // after the members its jobs use

  void open() {
    if (final_path.has_parent_path()) fs::create_directories(final_path.parent_path());
    temp_path = temp_path_beside(final_path);
    fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && errno == EINVAL && direct) {  // the file system has no O_DIRECT
      direct = false;
      ::unlink(temp_path.c_str());  // some (ramfs) create the file before refusing; the name is ours
      fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) fail("cannot create {}: {}", temp_path.string(), errno_text(errno));
  }

  void drop_direct() {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_DIRECT) != 0)
      fail("cannot write {}: {}", temp_path.string(), errno_text(errno));
    direct = false;
  }

  // Writes `size` bytes at `at`; with O_DIRECT size is a multiple of kAlignment.
  void write_at(const char* data, std::size_t size, std::uint64_t at) {
    while (size > 0) {
      ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EINVAL && direct) {  // alignment this file system will not take
        drop_direct();
        continue;
      }
      if (n <= 0) fail("cannot write {}: {}", temp_path.string(), n < 0 ? errno_text(errno) : "no space written");
      data += n;
      size -= static_cast<std::size_t>(n);
      at += static_cast<std::uint64_t>(n);
    }
  }

  void hand_over() {
    AlignedBlock& block = blocks[filling];
    if (block.size == 0) return;
    if (!hash_in_background) sha.update(block.data, block.size);
    std::uint64_t at = offset;
    offset += block.size;
    io.run([this, &block, at] {
      if (hash_in_background) sha.update(block.data, block.size);
      write_at(block.data, block.size, at);
    });
    filling = (filling + 1) % kBlocks;
    blocks[filling].size = 0;
  }

  // The last, partial block: with O_DIRECT padded with zeros to the alignment, then the file
  // cut back to its true size.
  void write_tail() {
    AlignedBlock& block = blocks[filling];
    sha.update(block.data, block.size);
    if (block.size == 0) return;
    std::size_t padded = direct ? (block.size + kAlignment - 1) / kAlignment * kAlignment : block.size;
    std::memset(block.data + block.size, 0, padded - block.size);
    write_at(block.data, padded, offset);
    offset += block.size;
    if (padded != block.size && ::ftruncate(fd, static_cast<off_t>(offset)) != 0)
      fail("cannot write {}: {}", temp_path.string(), errno_text(errno));
  }
};

PartFile::PartFile(const fs::path& path, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->final_path = path;
  impl_->hash_in_background = options.hash_in_background;
  impl_->direct = options.direct;
  impl_->open();
}

PartFile::~PartFile() {
  try {
    impl_->io.wait();
  } catch (...) {  // a write error nobody will commit: the file is removed below
  }
  if (impl_->fd >= 0) ::close(impl_->fd);
  if (!impl_->committed) {
    std::error_code ignored;
    fs::remove(impl_->temp_path, ignored);
  }
}

void PartFile::append(std::string_view bytes) {
  while (!bytes.empty()) {
    auto& block = impl_->blocks[impl_->filling];
    std::size_t take = std::min(bytes.size(), kBlockBytes - block.size);
    std::memcpy(block.data + block.size, bytes.data(), take);
    block.size += take;
    bytes.remove_prefix(take);
    if (block.size == kBlockBytes) impl_->hand_over();
  }
}

void PartFile::write_line(std::string_view line) {
  append(line);
  append("\n");
  ++samples_;
  bytes_ += line.size() + 1;
}

void PartFile::write_block(std::string_view bytes, std::uint64_t lines) {
  append(bytes);
  samples_ += lines;
  bytes_ += bytes.size();
}

PartRecord PartFile::commit() {
  Impl& impl = *impl_;
  impl.io.wait();
  impl.write_tail();
  if (::fsync(impl.fd) != 0) fail("cannot flush {}: {}", impl.temp_path.string(), errno_text(errno));
  ::close(impl.fd);
  impl.fd = -1;
  std::error_code ec;
  fs::rename(impl.temp_path, impl.final_path, ec);
  if (ec) fail("cannot rename {} to {}: {}", impl.temp_path.string(), impl.final_path.string(), ec.message());
  impl.committed = true;
  fsync_directory(impl.final_path.parent_path());
  return PartRecord{samples_, bytes_, impl.sha.hex_digest()};
}

}  // namespace xmtf::data
