#include "core/block_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "core/error.hpp"

namespace xmtf {

namespace {

// O_DIRECT wants buffer address, file offset and length aligned to the device's logical block;
// 4096 (a page: what mmap gives) covers 512-byte and 4K devices.
constexpr std::size_t kAlignment = 4096;
constexpr std::size_t kHugePage = std::size_t{2} << 20;

// Mapped, not malloc'ed: page-aligned, and given back to the system when the writer is done
// (glibc kept freed blocks of this size in its heap: +40 MB peak RSS, measured). Placed on a
// 2 MiB boundary so it can be two huge pages: the kernel then pins 2 pages per O_DIRECT write
// instead of 1024 (less system time, measured).
struct AlignedBlock {
  AlignedBlock() {
    void* mapped = ::mmap(nullptr, BlockWriter::kBlockBytes + kHugePage, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mapped == MAP_FAILED) fail("out of memory for a {} byte write block", BlockWriter::kBlockBytes);
    mapping = static_cast<char*>(mapped);
    data = reinterpret_cast<char*>((reinterpret_cast<std::uintptr_t>(mapping) + kHugePage - 1) & ~(kHugePage - 1));
    ::madvise(data, BlockWriter::kBlockBytes, MADV_HUGEPAGE);  // a hint; fine if refused
  }
  ~AlignedBlock() { ::munmap(mapping, BlockWriter::kBlockBytes + kHugePage); }
  AlignedBlock(const AlignedBlock&) = delete;
  AlignedBlock& operator=(const AlignedBlock&) = delete;
  char* mapping = nullptr;
  char* data = nullptr;
  std::size_t size = 0;
  std::size_t fresh_from = 0;  // bytes before this were already in the file (not consumed)
};

// One background thread running jobs in the order given. The caller waits only when
// `max_pending` jobs are queued or running, so a slow moment of the disk does not stall it.
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
  std::exception_ptr error_;                // the first failure, until rethrown to the caller
  bool failed_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members it uses exist
};

}  // namespace

struct BlockWriter::Impl {
  std::filesystem::path path;
  Options options;
  int fd = -1;
  bool direct = true;
  std::uint64_t block_start = 0;  // file offset of the filling block's first byte
  // blocks[filling] fills while the others wait for, or go to, the disk: with kBlocks - 1 jobs
  // at most in flight, the block about to fill is always free.
  static constexpr std::size_t kBlocks = 4;
  AlignedBlock blocks[kBlocks];
  std::size_t filling = 0;
  Worker io{kBlocks - 1};  // after the members its jobs use

  void open(std::uint64_t offset) {
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | (options.create_exclusive ? O_EXCL : 0);
    direct = options.direct;
    fd = ::open(path.c_str(), flags | (direct ? O_DIRECT : 0), 0644);
    if (fd < 0 && errno == EINVAL && direct) {  // the file system has no O_DIRECT
      direct = false;
      // Some (ramfs) create the file before refusing; a file we must create is ours to remove.
      if (options.create_exclusive) ::unlink(path.c_str());
      fd = ::open(path.c_str(), flags, 0644);
    }
    if (fd < 0) fail("cannot open {}: {}", path.string(), errno_text(errno));
    // With O_DIRECT the first block starts on an aligned offset: the bytes kept before `offset`
    // are read into it and written back unchanged.
    block_start = direct ? offset / kAlignment * kAlignment : offset;
    AlignedBlock& first = blocks[0];
    std::size_t prefix = static_cast<std::size_t>(offset - block_start);
    if (prefix > 0) {
      ssize_t got = ::pread(fd, first.data, kAlignment, static_cast<off_t>(block_start));
      if (got < static_cast<ssize_t>(prefix)) fail("{}: shorter than the {} bytes to keep", path.string(), offset);
    }
    first.size = first.fresh_from = prefix;
  }

  void drop_direct() {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_DIRECT) != 0)
      fail("cannot write {}: {}", path.string(), errno_text(errno));
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
      if (n <= 0) fail("cannot write {}: {}", path.string(), n < 0 ? errno_text(errno) : "no space written");
      data += n;
      size -= static_cast<std::size_t>(n);
      at += static_cast<std::uint64_t>(n);
    }
  }

  void consume(const AlignedBlock& block) {
    if (options.consume && block.size > block.fresh_from)
      options.consume(std::string_view(block.data + block.fresh_from, block.size - block.fresh_from));
  }

  void hand_over() {
    AlignedBlock& block = blocks[filling];
    if (!options.consume_in_background) consume(block);
    std::uint64_t at = block_start;
    block_start += block.size;
    io.run([this, &block, at] {
      if (options.consume_in_background) consume(block);
      write_at(block.data, block.size, at);
    });
    filling = (filling + 1) % kBlocks;
    blocks[filling].size = blocks[filling].fresh_from = 0;
  }
};

BlockWriter::BlockWriter(const std::filesystem::path& path, std::uint64_t offset, Options options)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->options = std::move(options);
  impl_->open(offset);
}

BlockWriter::~BlockWriter() {
  try {
    impl_->io.wait();
  } catch (...) {  // nobody will finish() this file; its error no longer matters
  }
  if (impl_->fd >= 0) ::close(impl_->fd);
}

void BlockWriter::write(std::string_view bytes) {
  Impl& impl = *impl_;
  while (!bytes.empty()) {
    AlignedBlock& block = impl.blocks[impl.filling];
    std::size_t take = std::min(bytes.size(), kBlockBytes - block.size);
    std::memcpy(block.data + block.size, bytes.data(), take);
    block.size += take;
    bytes.remove_prefix(take);
    if (block.size == kBlockBytes) impl.hand_over();
  }
}

void BlockWriter::restart() {
  Impl& impl = *impl_;
  impl.io.wait();
  if (::ftruncate(impl.fd, 0) != 0) fail("cannot truncate {}: {}", impl.path.string(), errno_text(errno));
  impl.block_start = 0;
  impl.blocks[impl.filling].size = impl.blocks[impl.filling].fresh_from = 0;
}

void BlockWriter::finish() {
  Impl& impl = *impl_;
  impl.io.wait();
  // The last, partial block: with O_DIRECT padded with zeros to the alignment; the file is then
  // cut to its true size (which also drops anything an earlier writer left after it).
  AlignedBlock& block = impl.blocks[impl.filling];
  impl.consume(block);
  std::size_t padded = impl.direct ? (block.size + kAlignment - 1) / kAlignment * kAlignment : block.size;
  std::memset(block.data + block.size, 0, padded - block.size);
  impl.write_at(block.data, padded, impl.block_start);
  std::uint64_t end = impl.block_start + block.size;
  if (::ftruncate(impl.fd, static_cast<off_t>(end)) != 0 || ::fsync(impl.fd) != 0)
    fail("cannot write {}: {}", impl.path.string(), errno_text(errno));
  ::close(impl.fd);
  impl.fd = -1;
}

std::uint64_t BlockWriter::size() const { return impl_->block_start + impl_->blocks[impl_->filling].size; }
bool BlockWriter::direct() const { return impl_->direct; }

}  // namespace xmtf
