#include "train/sample_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>

#include "core/error.hpp"
#include "models/json_input.hpp"

#ifdef XMTF_TRAIN_HAVE_H5
#include "train/h5_source.hpp"
#endif

namespace xmtf::train {

std::unique_ptr<SampleSource> open_jsonl_tokenized(const std::filesystem::path& path, std::int64_t vocab_size) {
  std::ifstream in(path);
  if (!in) fail("{}: cannot open", path.string());
  std::vector<Sample> samples;
  std::string line;
  std::int64_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", path.string(), line_number);
    const auto object = models::parse_json_strict(line, where);
    if (!object.is_object() || !object.contains("input_ids") || !object.contains("target_ids"))
      fail("{}: expected {{\"input_ids\": [..], \"target_ids\": [..]}}", where);
    Sample sample;
    sample.inputs = models::json_token_ids(object["input_ids"], where + ": \"input_ids\"", vocab_size);
    sample.targets = models::json_token_ids(object["target_ids"], where + ": \"target_ids\"", vocab_size);
    samples.push_back(std::move(sample));
  }
  if (in.bad()) fail("{}: read error", path.string());
  return std::make_unique<MemorySampleSource>(std::move(samples), path.string());
}

ConcatSampleSource::ConcatSampleSource(std::vector<std::unique_ptr<SampleSource>> parts)
    : parts_(std::move(parts)) {
  for (const auto& part : parts_) {
    starts_.push_back(total_);
    total_ += part->n_samples();
  }
}

void ConcatSampleSource::read(std::int64_t index, Sample& sample) const {
  if (index < 0 || index >= total_) fail("sample {} out of range [0, {})", index, total_);
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), index);
  const auto part = static_cast<std::size_t>(it - starts_.begin() - 1);
  parts_[part]->read(index - starts_[part], sample);
}

std::string ConcatSampleSource::describe() const {
  return parts_.size() == 1 ? parts_[0]->describe() : fmt::format("{} files", parts_.size());
}

std::unique_ptr<SampleSource> open_sample_file(const std::filesystem::path& path, std::int64_t vocab_size) {
  const std::string ext = path.extension().string();
  if (ext == ".jsonl") return open_jsonl_tokenized(path, vocab_size);
  if (ext == ".h5") {
#ifdef XMTF_TRAIN_HAVE_H5
    return open_h5_shard(path, vocab_size);
#else
    fail("{}: this build has no HDF5 support (the h5 area was not built)", path.string());
#endif
  }
  fail("{}: unknown sample file type (expected .h5 tokenized shards or .jsonl with input_ids/target_ids)", path.string());
}

}  // namespace xmtf::train
