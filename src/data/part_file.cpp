#include "data/part_file.hpp"

#include "core/block_writer.hpp"
#include "core/error.hpp"
#include "core/sha256.hpp"

namespace xmtf::data {

struct PartFile::Impl {
  fs::path final_path, temp_path;
  Sha256 sha;
  std::unique_ptr<BlockWriter> writer;  // after sha: its I/O thread may still hash into it
  bool committed = false;
};

PartFile::PartFile(const fs::path& path, Options options) : impl_(std::make_unique<Impl>()) {
  impl_->final_path = path;
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  impl_->temp_path = temp_path_beside(path);
  BlockWriter::Options writer_options;
  writer_options.direct = options.direct;
  writer_options.create_exclusive = true;
  writer_options.consume = [sha = &impl_->sha](std::string_view bytes) { sha->update(bytes); };
  writer_options.consume_in_background = options.hash_in_background;
  impl_->writer = std::make_unique<BlockWriter>(impl_->temp_path, 0, std::move(writer_options));
}

PartFile::~PartFile() {
  impl_->writer.reset();  // waits for its I/O thread
  if (!impl_->committed) {
    std::error_code ignored;
    fs::remove(impl_->temp_path, ignored);
  }
}

void PartFile::write_line(std::string_view line) {
  impl_->writer->write(line);
  impl_->writer->write("\n");
  ++samples_;
  bytes_ += line.size() + 1;
}

void PartFile::write_block(std::string_view bytes, std::uint64_t lines) {
  impl_->writer->write(bytes);
  samples_ += lines;
  bytes_ += bytes.size();
}

PartRecord PartFile::commit() {
  Impl& impl = *impl_;
  impl.writer->finish();
  std::error_code ec;
  fs::rename(impl.temp_path, impl.final_path, ec);
  if (ec) fail("cannot rename {} to {}: {}", impl.temp_path.string(), impl.final_path.string(), ec.message());
  impl.committed = true;
  fsync_directory(impl.final_path.parent_path());
  return PartRecord{samples_, bytes_, impl.sha.hex_digest()};
}

}  // namespace xmtf::data
