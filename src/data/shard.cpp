#include "data/shard.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/completion.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/progress.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "data/dedup.hpp"
#include "data/hash.hpp"
#include "data/line_reader.hpp"
#include "data/mixture.hpp"
#include "data/part_file.hpp"
#include "data/validate.hpp"

namespace xmtf::data {

using json = nlohmann::ordered_json;

namespace {

constexpr const char* kFormat = "xmtf-shard/1";
constexpr std::size_t kWriteBuffer = std::size_t{1} << 20;

// ---------------------------------------------------------------- names and small helpers

fs::path language_dir(const ShardOptions& options, const LanguageInput& input) {
  return options.output_dir / input.language;
}
fs::path work_dir(const ShardOptions& options, const LanguageInput& input) {
  return language_dir(options, input) / ".work";
}
std::string chunk_stem(const SourceFile& file, std::uint64_t chunk) { return fmt::format("{}.c{:05}", file.name, chunk); }
std::uint64_t chunk_count(const SourceFile& file, std::uint64_t chunk_bytes) {
  return (file.bytes + chunk_bytes - 1) / chunk_bytes;
}
std::string part_name(bool validation, std::size_t index) {
  return fmt::format("{}-{:05}.jsonl", validation ? "validation" : "part", index);
}
bool is_part_file_name(const std::string& name) {
  return (starts_with(name, "part-") || starts_with(name, "validation-")) && name.size() > 6 &&
         name.substr(name.size() - 6) == ".jsonl";
}
// Lines longer than a part could hold are rejected like over-long lines.
std::uint64_t line_limit(const ShardOptions& options) {
  return std::min(options.max_line_bytes, options.max_shard_bytes - 1);
}

// Options that change what step 1 writes; a chunk marker made with other ones is stale.
json chunk_options_json(const ShardOptions& options) {
  return json{{"format", kFormat},
              {"max_line_bytes", options.max_line_bytes},
              {"max_shard_bytes", options.max_shard_bytes},
              {"validation_fraction", options.validation_fraction}};
}
// Options that change the output of a language (recorded in its index.json).
json output_options_json(const ShardOptions& options) {
  json result = chunk_options_json(options);
  result["chunk_bytes"] = options.chunk_bytes;
  result["dedup"] = options.dedup;
  result["shuffle_seed"] = options.shuffle_seed ? json(*options.shuffle_seed) : json(nullptr);
  result["shuffle_bucket_bytes"] = options.shuffle_bucket_bytes;
  result["max_per_prompt"] = options.max_per_prompt;
  return result;
}

// Beside index.json, the language's completion record: each part's size, mtime and sha256.
fs::path language_record_path(const ShardOptions& options, const LanguageInput& input) {
  return language_dir(options, input) / ".xmtf-shard.done";
}
CompletionRecord language_record(const ShardOptions& options) {
  return CompletionRecord("xmtf-shard/1", output_options_json(options).dump());
}

std::optional<json> read_json_if_valid(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  try {
    return json::parse(read_file(path));
  } catch (const std::exception&) {
    return std::nullopt;  // a torn or foreign file counts as absent: the work is redone
  }
}

void write_json_atomic(const fs::path& path, const json& value) { write_file_atomic(path, value.dump(1) + "\n"); }

// Temporary files a killed run left behind (AtomicFile names them "<name>.tmp.<pid>.<n>").
void remove_temp_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().filename().string().find(".tmp.") != std::string::npos)
      fs::remove(entry.path(), ec);
}

bool file_has_size(const fs::path& path, std::uint64_t bytes) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  return !ec && size == bytes;
}

PartFile::Options part_file_options(const ShardOptions& options) {
  return PartFile::Options{.hash_in_background = options.threads > 1, .direct = true};
}

json part_json(const std::string& name, bool validation, const PartRecord& record) {
  return json{{"file", name},
              {"split", validation ? "validation" : "train"},
              {"samples", record.samples},
              {"bytes", record.bytes},
              {"sha256", record.sha256}};
}

// ---------------------------------------------------------------- step 1: one chunk

// Kept lines of one chunk, cut into .work pieces of at most max_shard_bytes.
class PieceWriter {
 public:
  PieceWriter(fs::path work, std::string stem, std::uint64_t max_bytes, PartFile::Options file_options)
      : work_(std::move(work)), stem_(std::move(stem)), max_bytes_(max_bytes), file_options_(file_options) {}

  void add(std::string_view line, bool validation) {
    std::uint64_t size = line.size() + 1;
    if (current_ && current_->bytes() + size > max_bytes_) close();
    if (!current_) {
      current_name_ = fmt::format("{}.p{:03}.jsonl", stem_, pieces_.size());
      current_ = std::make_unique<PartFile>(work_ / current_name_, file_options_);
      record_ = json{{"file", current_name_}, {"validation_samples", 0}, {"validation_bytes", 0}};
    }
    current_->write_line(line);
    if (validation) {
      record_["validation_samples"] = record_["validation_samples"].get<std::uint64_t>() + 1;
      record_["validation_bytes"] = record_["validation_bytes"].get<std::uint64_t>() + size;
    }
  }
  json finish() {
    close();
    return pieces_;
  }

 private:
  void close() {
    if (!current_) return;
    PartRecord committed = current_->commit();
    record_["samples"] = committed.samples;
    record_["bytes"] = committed.bytes;
    record_["sha256"] = committed.sha256;
    pieces_.push_back(record_);
    current_.reset();
  }
  fs::path work_;
  std::string stem_;
  std::uint64_t max_bytes_;
  PartFile::Options file_options_;
  std::unique_ptr<PartFile> current_;
  std::string current_name_;
  json record_;
  json pieces_ = json::array();
};

bool chunk_marker_matches(const json& marker, const ShardOptions& options, const SourceFile& file,
                          const ChunkTask& task, const fs::path& work) {
  if (marker.value("source", "") != file.name || marker.value("source_bytes", std::uint64_t{0}) != file.bytes ||
      marker.value("mtime_ns", std::int64_t{0}) != file.mtime_ns || marker.value("begin", std::uint64_t{1}) != task.begin ||
      marker.value("end", std::uint64_t{0}) != task.end || marker.value("options", json()) != chunk_options_json(options))
    return false;
  for (const json& piece : marker.value("pieces", json::array()))
    if (!file_has_size(work / piece.value("file", ""), piece.value("bytes", std::uint64_t{0}))) return false;
  return fs::exists(work / (chunk_stem(file, task.chunk) + ".rejects.tsv"));
}

fs::path chunk_marker_path(const fs::path& work, const SourceFile& file, std::uint64_t chunk) {
  return work / (chunk_stem(file, chunk) + ".stat.json");
}

std::string rejection_reason(LineValidator& validator, const Line& line, std::string_view text,
                             const ShardOptions& options) {
  std::string reason;
  if (line.too_long) {
    reason = fmt::format("line of {} bytes is over the limit of {} bytes (--max-line-bytes, --max-shard-bytes)",
                         line.length, line_limit(options));
  } else {
    reason = validator.check(text, /*padded=*/true);
  }
  if (!reason.empty() && !line.has_newline) reason = "truncated last line (no newline at end of file): " + reason;
  return reason;
}

// Every chunk marker of a language, per file, in order; fails if one is missing.
std::vector<std::vector<json>> load_chunk_markers(const ShardOptions& options, const LanguageInput& input) {
  fs::path work = work_dir(options, input);
  std::vector<std::vector<json>> markers(input.files.size());
  for (std::size_t f = 0; f < input.files.size(); ++f) {
    for (std::uint64_t c = 0; c < chunk_count(input.files[f], options.chunk_bytes); ++c) {
      fs::path path = chunk_marker_path(work, input.files[f], c);
      auto marker = read_json_if_valid(path);
      if (!marker) fail("{}: missing after the validation step (did a rank fail?)", path.string());
      markers[f].push_back(std::move(*marker));
    }
  }
  return markers;
}

// ---------------------------------------------------------------- step 2: sequential pass

// Writes lines into parts of at most max_bytes, greedily, in the order they come.
class PartSink {
 public:
  PartSink(fs::path dir, bool validation, std::uint64_t max_bytes, PartFile::Options file_options)
      : dir_(std::move(dir)), validation_(validation), max_bytes_(max_bytes), file_options_(file_options) {}
  void add(std::string_view line) {
    if (current_ && current_->bytes() + line.size() + 1 > max_bytes_) close();
    if (!current_) current_ = std::make_unique<PartFile>(dir_ / part_name(validation_, parts_.size()), file_options_);
    current_->write_line(line);
  }
  json finish() {
    close();
    return parts_;
  }

 private:
  void close() {
    if (!current_) return;
    parts_.push_back(part_json(part_name(validation_, parts_.size()), validation_, current_->commit()));
    current_.reset();
  }
  fs::path dir_;
  bool validation_;
  std::uint64_t max_bytes_;
  PartFile::Options file_options_;
  std::unique_ptr<PartFile> current_;
  json parts_ = json::array();
};

// Seeded external shuffle with bounded memory: lines are dealt at random into bucket files of
// about bucket_bytes each, then each bucket is loaded, Fisher-Yates shuffled and emitted.
class BucketShuffler {
 public:
  BucketShuffler(fs::path work, std::string name, std::uint64_t seed, std::uint64_t expected_bytes,
                 std::uint64_t bucket_bytes)
      : work_(std::move(work)), name_(std::move(name)), seed_(seed) {
    std::uint64_t count = std::max<std::uint64_t>(1, (expected_bytes + bucket_bytes - 1) / bucket_bytes);
    for (std::uint64_t b = 0; b < count; ++b) {
      fs::path path = bucket_path(b);
      std::FILE* file = std::fopen(path.c_str(), "wb");
      if (!file) fail("cannot create {}: {}", path.string(), errno_text(errno));
      buckets_.push_back(file);
    }
    random_state_ = seed_ ^ 0x5eed5eed5eed5eedULL;
  }
  ~BucketShuffler() {
    for (std::FILE* file : buckets_)
      if (file) std::fclose(file);
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      std::error_code ignored;
      fs::remove(bucket_path(b), ignored);
    }
  }
  void add(std::string_view line) {
    std::FILE* bucket = buckets_[bounded(splitmix64(random_state_), buckets_.size())];
    if (std::fwrite(line.data(), 1, line.size(), bucket) != line.size() || std::fputc('\n', bucket) == EOF)
      fail("cannot write shuffle bucket in {}: {}", work_.string(), errno_text(errno));
  }
  void drain_into(PartSink& sink) {
    for (std::size_t b = 0; b < buckets_.size(); ++b) {
      if (std::fclose(buckets_[b]) != 0) fail("cannot write {}: {}", bucket_path(b).string(), errno_text(errno));
      buckets_[b] = nullptr;
      std::string contents = read_file(bucket_path(b));
      std::vector<std::string_view> lines;
      for (std::size_t start = 0; start < contents.size();) {
        std::size_t newline = contents.find('\n', start);
        lines.emplace_back(contents.data() + start, newline - start);
        start = newline + 1;
      }
      std::uint64_t state = seed_ * 0x9e3779b97f4a7c15ULL + b;
      for (std::size_t i = lines.size(); i > 1; --i) std::swap(lines[i - 1], lines[bounded(splitmix64(state), i)]);
      for (std::string_view line : lines) sink.add(line);
      std::error_code ignored;
      fs::remove(bucket_path(b), ignored);
    }
  }

 private:
  fs::path bucket_path(std::size_t b) const { return work_ / fmt::format("shuffle.{}.{:05}.jsonl", name_, b); }
  fs::path work_;
  std::string name_;
  std::uint64_t seed_;
  std::uint64_t random_state_;
  std::vector<std::FILE*> buckets_;
};

// Every kept line of a language in canonical order (from the .work pieces): fn(file, line).
// The line is followed by LineReader::kPadding readable bytes.
template <typename Fn>
void for_each_kept_line(const ShardOptions& options, const LanguageInput& input,
                        const std::vector<std::vector<json>>& markers, Progress& progress, Fn&& fn) {
  fs::path work = work_dir(options, input);
  for (std::size_t f = 0; f < input.files.size(); ++f)
    for (const json& marker : markers[f])
      for (const json& piece : marker["pieces"]) {
        LineReader reader(work / piece["file"].get<std::string>(), 0, UINT64_MAX, options.max_shard_bytes);
        Line line;
        while (reader.next(line)) fn(f, line.bytes);
        progress.add(piece["bytes"].get<std::uint64_t>());
      }
  progress.finish();
}

void run_sequential_pass(const ShardOptions& options, const LanguageInput& input) {
  fs::path work = work_dir(options, input);
  fs::path marker_path = work / "sequential.json";
  if (auto marker = read_json_if_valid(marker_path); marker && marker->value("options", json()) == output_options_json(options)) {
    bool complete = true;
    for (const json& part : (*marker)["parts"])
      complete = complete && file_has_size(language_dir(options, input) / part["file"].get<std::string>(), part["bytes"]);
    if (complete) return;
  }
  auto markers = load_chunk_markers(options, input);
  std::uint64_t split_bytes[2] = {0, 0};
  for (const auto& file_markers : markers)
    for (const json& marker : file_markers)
      for (const json& piece : marker["pieces"]) {
        split_bytes[1] += piece["validation_bytes"].get<std::uint64_t>();
        split_bytes[0] += piece["bytes"].get<std::uint64_t>() - piece["validation_bytes"].get<std::uint64_t>();
      }

  PartSink sinks[2] = {PartSink(language_dir(options, input), false, options.max_shard_bytes, part_file_options(options)),
                       PartSink(language_dir(options, input), true, options.max_shard_bytes, part_file_options(options))};
  std::unique_ptr<BucketShuffler> shufflers[2];
  if (options.shuffle_seed) {
    for (int split = 0; split < 2; ++split)
      shufflers[split] = std::make_unique<BucketShuffler>(work, split ? "validation" : "train", *options.shuffle_seed + split,
                                                          split_bytes[split], options.shuffle_bucket_bytes);
  }
  std::uint64_t kept_lines = 0;
  for (const auto& file_markers : markers)
    for (const json& marker : file_markers)
      for (const json& piece : marker["pieces"]) kept_lines += piece["samples"].get<std::uint64_t>();
  std::unique_ptr<Deduplicator> dedup;
  if (options.dedup) {
    dedup = std::make_unique<Deduplicator>(work / "dedup", kept_lines, options.dedup_memory);
    if (dedup->spills()) {
      Progress progress(input.language + " dedup hashes", split_bytes[0] + split_bytes[1], Progress::Unit::bytes);
      for_each_kept_line(options, input, markers, progress, [&](std::size_t, std::string_view line) { dedup->record(line); });
      dedup->prepare();
    }
  }
  std::map<std::string, std::uint64_t> per_group;
  std::vector<std::uint64_t> file_duplicates(input.files.size(), 0), file_capped(input.files.size(), 0);
  LineValidator validator;
  Progress progress(input.language + " dedup/cap/shuffle", split_bytes[0] + split_bytes[1], Progress::Unit::bytes);
  for_each_kept_line(options, input, markers, progress, [&](std::size_t f, std::string_view line) {
    if (dedup && !dedup->first_occurrence(line)) {
      ++file_duplicates[f];
      return;
    }
    if (options.max_per_prompt > 0 &&
        ++per_group[validator.prompt_group(line, input.files[f].name, true)] > options.max_per_prompt) {
      ++file_capped[f];
      return;
    }
    int split = in_validation_split(line, options.validation_fraction) ? 1 : 0;
    if (shufflers[split]) {
      shufflers[split]->add(line);
    } else {
      sinks[split].add(line);
    }
  });
  json duplicates = json::object(), capped = json::object();
  for (std::size_t f = 0; f < input.files.size(); ++f) {
    duplicates[input.files[f].name] = file_duplicates[f];
    capped[input.files[f].name] = file_capped[f];
  }
  if (dedup)
    log::info("{}: {} distinct lines, de-duplication table {}{}", input.language, dedup->distinct(),
              format_bytes(static_cast<double>(dedup->peak_table_bytes())),
              dedup->spills() ? fmt::format(" (largest of {} partitions on disk)", dedup->partitions()) : "");
  dedup.reset();
  json parts = json::array();
  for (int split = 0; split < 2; ++split) {
    if (shufflers[split]) shufflers[split]->drain_into(sinks[split]);
    for (json& part : sinks[split].finish()) parts.push_back(std::move(part));
  }
  write_json_atomic(marker_path, json{{"options", output_options_json(options)},
                                      {"parts", parts},
                                      {"duplicates", duplicates},
                                      {"capped", capped}});
}

// ---------------------------------------------------------------- step 2: one packed part

void copy_piece(const fs::path& piece, PartFile& out) {
  std::string block(std::size_t{4} << 20, '\0');
  std::FILE* in = std::fopen(piece.c_str(), "rb");
  if (!in) fail("cannot open {}: {}", piece.string(), errno_text(errno));
  std::size_t n;
  while ((n = std::fread(block.data(), 1, block.size(), in)) > 0) {
    std::string_view bytes(block.data(), n);
    out.write_block(bytes, static_cast<std::uint64_t>(std::count(bytes.begin(), bytes.end(), '\n')));
  }
  bool failed = std::ferror(in);
  std::fclose(in);
  if (failed) fail("cannot read {}", piece.string());
}

}  // namespace

// ---------------------------------------------------------------- public functions

std::uint64_t LanguageInput::bytes() const {
  std::uint64_t total = 0;
  for (const SourceFile& file : files) total += file.bytes;
  return total;
}

std::vector<LanguageInput> discover_inputs(const fs::path& input_dir, const std::vector<std::string>& languages) {
  if (!fs::is_directory(input_dir)) fail("--input {}: not a directory", input_dir.string());
  std::vector<std::string> available;
  for (const auto& entry : fs::directory_iterator(input_dir)) {
    std::string name = entry.path().filename().string();
    if (entry.is_directory() && !starts_with(name, ".")) available.push_back(name);
  }
  std::sort(available.begin(), available.end());
  std::vector<std::string> wanted;  // in the given order, each once
  for (const std::string& language : languages.empty() ? available : languages)
    if (std::find(wanted.begin(), wanted.end(), language) == wanted.end()) wanted.push_back(language);
  std::vector<LanguageInput> inputs;
  for (const std::string& language : wanted) {
    if (std::find(available.begin(), available.end(), language) == available.end()) {
      auto suggestion = closest_match(language, available);
      fail("--languages: no folder {} in {}{}", language, input_dir.string(),
           suggestion ? fmt::format(" (did you mean {}?)", *suggestion) : std::string());
    }
    LanguageInput input{language, {}};
    for (const auto& entry : fs::directory_iterator(input_dir / language)) {
      std::string name = entry.path().filename().string();
      if (name.size() < 6 || name.substr(name.size() - 6) != ".jsonl") continue;
      // A dangling link is exactly an HF snapshot with a missing blob: data lost, not absent.
      if (std::string problem = not_a_regular_file(entry.path()); !problem.empty())
        fail("{}: input is {}, not a file (fetch it again, or remove it)", entry.path().string(), problem);
      input.files.push_back(SourceFile{name, entry.path(), entry.file_size(), mtime_ns(entry.path())});
    }
    std::sort(input.files.begin(), input.files.end(), [](const SourceFile& a, const SourceFile& b) { return a.name < b.name; });
    if (input.files.empty()) {
      if (languages.empty()) continue;  // not a language folder
      fail("{}: no .jsonl file", (input_dir / language).string());
    }
    inputs.push_back(std::move(input));
  }
  if (inputs.empty()) fail("--input {}: no language folder with .jsonl files", input_dir.string());
  return inputs;
}

bool language_up_to_date(const ShardOptions& options, const LanguageInput& input) {
  auto index = read_json_if_valid(language_dir(options, input) / "index.json");
  if (!index || index->value("options", json()) != output_options_json(options)) return false;
  const json& recorded = (*index)["inputs"];
  if (!recorded.is_array() || recorded.size() != input.files.size()) return false;
  for (std::size_t f = 0; f < input.files.size(); ++f) {
    const json& entry = recorded[f];
    if (entry.value("file", "") != input.files[f].name || entry.value("source_bytes", std::uint64_t{0}) != input.files[f].bytes ||
        entry.value("mtime_ns", std::int64_t{0}) != input.files[f].mtime_ns)
      return false;
  }
  // The parts as the completion record stamped them (core's rule): size, then the sha256 where
  // that is cheap (a language of at most 1 GiB), else the mtime. A part edited at the same
  // size, or replaced, is not up to date. (The stamps are not in index.json: it stays the same
  // byte for byte whatever the run.)
  std::uint64_t total = 0;
  for (const json& part : (*index)["parts"]) total += part.value("bytes", std::uint64_t{0});
  Content content = total <= kHashPartsUpToBytes ? Content::hash : Content::stat_only;
  std::string changed = language_record(options).mismatch(language_record_path(options, input), content);
  if (!changed.empty()) {
    log::info("{}: redoing ({})", input.language, changed);
    return false;
  }
  return true;
}

void check_run(const ShardOptions& options, const std::vector<LanguageInput>& inputs) {
  // Parts written into the input (or input read from the output) would be read back as input
  // by the next run, and stale-part removal could delete input files named part-*.jsonl.
  if (paths_overlap(options.input_dir, options.output_dir))
    fail("--output {} and --input {} overlap (the same folder, or one inside the other): use a separate output folder",
         options.output_dir.string(), options.input_dir.string());
  if (options.max_shard_bytes < kMinShardBytes)
    fail("--max-shard-bytes {} is below the minimum of {}", options.max_shard_bytes, kMinShardBytes);
  if (options.chunk_bytes < kMinChunkBytes) fail("--chunk-bytes {} is below the minimum of {}", options.chunk_bytes, kMinChunkBytes);
  std::uint64_t chunks = 0, bytes = 0;
  for (const LanguageInput& input : inputs)
    for (const SourceFile& file : input.files) {
      chunks += chunk_count(file, options.chunk_bytes);
      bytes += file.bytes;
    }
  auto at_least = [&](std::uint64_t limit) { return format_bytes(static_cast<double>(bytes / limit + 1)); };
  if (chunks > kMaxChunksPerRun)
    fail("--chunk-bytes {} cuts the {} of input into {} chunks, more than {}: use at least {}", options.chunk_bytes,
         format_bytes(static_cast<double>(bytes)), chunks, kMaxChunksPerRun, at_least(kMaxChunksPerRun));
  if (bytes / options.max_shard_bytes > kMaxPartsPerRun)
    fail("--max-shard-bytes {} would make more than {} parts of the {} of input: use at least {}", options.max_shard_bytes,
         kMaxPartsPerRun, format_bytes(static_cast<double>(bytes)), at_least(kMaxPartsPerRun));
}

std::vector<ChunkTask> plan_chunks(const std::vector<LanguageInput>& inputs, std::uint64_t chunk_bytes) {
  std::vector<ChunkTask> tasks;
  for (std::size_t l = 0; l < inputs.size(); ++l)
    for (std::size_t f = 0; f < inputs[l].files.size(); ++f) {
      const SourceFile& file = inputs[l].files[f];
      for (std::uint64_t c = 0; c < chunk_count(file, chunk_bytes); ++c)
        tasks.push_back(ChunkTask{l, f, c, c * chunk_bytes, std::min(file.bytes, (c + 1) * chunk_bytes)});
    }
  return tasks;
}

std::uint64_t run_chunk(const ShardOptions& options, const LanguageInput& input, const ChunkTask& task) {
  const SourceFile& file = input.files[task.file];
  fs::path work = work_dir(options, input);
  fs::create_directories(work);
  fs::path marker_path = chunk_marker_path(work, file, task.chunk);
  if (auto marker = read_json_if_valid(marker_path); marker && chunk_marker_matches(*marker, options, file, task, work))
    return 0;

  std::string stem = chunk_stem(file, task.chunk);
  PieceWriter pieces(work, stem, options.max_shard_bytes, part_file_options(options));
  AtomicFile rejects(work / (stem + ".rejects.tsv"));
  LineValidator validator;
  BatchValidator batch;
  std::uint64_t lines = 0, rejected = 0;
  if (auto start = first_line_start(file.path, task.begin, task.end)) {
    LineReader reader(file.path, *start, task.end, line_limit(options));
    Line line;
    std::size_t vouched = 0;  // lines ahead already known valid by the batch pass
    while (reader.next(line)) {
      std::string_view text = normalize_line(line.bytes, line.offset == 0);
      if (vouched == 0 && !line.too_long) vouched = batch.count_valid_prefix(reader.buffered_from(line), line_limit(options));
      std::string reason;
      if (vouched > 0) {
        --vouched;
      } else {
        reason = rejection_reason(validator, line, text, options);
      }
      if (reason.empty()) {
        pieces.add(text, in_validation_split(text, options.validation_fraction));
      } else {
        rejects.write(fmt::format("{}\t{}\t{}\n", lines, line.offset, reason));
        ++rejected;
      }
      ++lines;
    }
  }
  json piece_records = pieces.finish();
  rejects.commit();
  write_json_atomic(marker_path, json{{"source", file.name},
                                      {"source_bytes", file.bytes},
                                      {"mtime_ns", file.mtime_ns},
                                      {"chunk", task.chunk},
                                      {"begin", task.begin},
                                      {"end", task.end},
                                      {"options", chunk_options_json(options)},
                                      {"lines", lines},
                                      {"rejected", rejected},
                                      {"pieces", piece_records}});
  return task.end - task.begin;
}

std::string check_bad_fraction(const ShardOptions& options, const LanguageInput& input) {
  std::uint64_t lines = 0, rejected = 0;
  for (const auto& file_markers : load_chunk_markers(options, input))
    for (const json& marker : file_markers) {
      lines += marker["lines"].get<std::uint64_t>();
      rejected += marker["rejected"].get<std::uint64_t>();
    }
  if (lines == 0) return fmt::format("{}: no lines in its input files", input.language);
  if (static_cast<double>(rejected) > options.max_bad_fraction * static_cast<double>(lines))
    return fmt::format("{}: {} of {} lines rejected ({:.2f}%), more than --max-bad-fraction {} allows; "
                       "reasons in {} (fix the input or raise --max-bad-fraction)",
                       input.language, rejected, lines, 100.0 * static_cast<double>(rejected) / static_cast<double>(lines),
                       options.max_bad_fraction, (language_dir(options, input) / "rejects.jsonl").string());
  return {};
}

std::vector<PartTask> plan_parts(const ShardOptions& options, const std::vector<LanguageInput>& inputs, std::size_t language) {
  const LanguageInput& input = inputs[language];
  if (options.sequential_language_pass()) return {PartTask{language, "(sequential pass)", {}, input.bytes(), true}};
  auto markers = load_chunk_markers(options, input);
  std::vector<PartTask> tasks;
  for (int split = 0; split < 2; ++split) {
    std::size_t index = 0;
    PartTask current{language, part_name(split == 1, index), {}, 0, false};
    for (const auto& file_markers : markers)
      for (const json& marker : file_markers)
        for (const json& piece : marker["pieces"]) {
          std::uint64_t validation_bytes = piece["validation_bytes"];
          std::uint64_t bytes = split == 1 ? validation_bytes : piece["bytes"].get<std::uint64_t>() - validation_bytes;
          if (bytes == 0) continue;
          if (!current.pieces.empty() && current.bytes + bytes > options.max_shard_bytes) {
            tasks.push_back(current);
            current = PartTask{language, part_name(split == 1, ++index), {}, 0, false};
          }
          current.pieces.push_back(piece["file"]);
          current.bytes += bytes;
        }
    if (!current.pieces.empty()) tasks.push_back(current);
  }
  return tasks;
}

namespace {
// The record of a piece in its chunk's marker ("<file>.cNNNNN.pNNN.jsonl").
json find_piece(const ShardOptions& options, const LanguageInput& input, const std::string& piece_name) {
  std::string chunk_stem_name = piece_name.substr(0, piece_name.rfind(".p"));
  auto marker = read_json_if_valid(work_dir(options, input) / (chunk_stem_name + ".stat.json"));
  if (marker)
    for (const json& piece : (*marker)["pieces"])
      if (piece["file"] == piece_name) return piece;
  fail("{}: no record of piece {}", work_dir(options, input).string(), piece_name);
}
}  // namespace

void run_part(const ShardOptions& options, const LanguageInput& input, const PartTask& task) {
  if (task.whole_language) return run_sequential_pass(options, input);
  fs::path work = work_dir(options, input);
  fs::path marker_path = work / (task.name + ".json");
  fs::path out_path = language_dir(options, input) / task.name;
  if (auto marker = read_json_if_valid(marker_path);
      marker && marker->value("options", json()) == output_options_json(options) && (*marker)["pieces"] == json(task.pieces) &&
      file_has_size(out_path, (*marker)["part"].value("bytes", std::uint64_t{0})))
    return;
  bool validation = starts_with(task.name, "validation-");
  if (task.pieces.size() == 1 && options.validation_fraction <= 0) {
    // The part is exactly one piece: move it instead of copying (its chunk is redone if we die
    // before the marker below is written).
    json piece = find_piece(options, input, task.pieces[0]);
    fs::rename(work / task.pieces[0], out_path);
    fsync_directory(out_path.parent_path());
    json part{{"file", task.name}, {"split", "train"}, {"samples", piece["samples"]}, {"bytes", piece["bytes"]},
              {"sha256", piece["sha256"]}};
    write_json_atomic(marker_path, json{{"options", output_options_json(options)}, {"pieces", task.pieces}, {"part", part}});
    return;
  }
  PartFile out(out_path, part_file_options(options));
  for (const std::string& piece : task.pieces) {
    if (options.validation_fraction <= 0) {
      copy_piece(work / piece, out);
      continue;
    }
    LineReader reader(work / piece, 0, UINT64_MAX, options.max_shard_bytes);
    Line line;
    while (reader.next(line))
      if (in_validation_split(line.bytes, options.validation_fraction) == validation) out.write_line(line.bytes);
  }
  json part = part_json(task.name, validation, out.commit());
  write_json_atomic(marker_path, json{{"options", output_options_json(options)}, {"pieces", task.pieces}, {"part", part}});
}

namespace {

// rejects.jsonl from the chunks' rejects.tsv, with line numbers made global (1-based).
json write_rejects(const ShardOptions& options, const LanguageInput& input, const std::vector<std::vector<json>>& markers) {
  fs::path work = work_dir(options, input);
  AtomicFile out(language_dir(options, input) / "rejects.jsonl");
  std::setvbuf(out.stream(), nullptr, _IOFBF, kWriteBuffer);
  std::map<std::string, std::uint64_t> by_reason;
  std::uint64_t count = 0;
  for (std::size_t f = 0; f < input.files.size(); ++f) {
    std::uint64_t first_line = 1;
    for (std::size_t c = 0; c < markers[f].size(); ++c) {
      fs::path tsv = work / (chunk_stem(input.files[f], c) + ".rejects.tsv");
      for (const std::string& row : split(read_file(tsv), '\n')) {
        if (row.empty()) continue;
        auto fields = split(row, '\t');
        if (fields.size() < 3) fail("{}: malformed row '{}'", tsv.string(), row);
        std::string reason = fields[2];
        for (std::size_t i = 3; i < fields.size(); ++i) reason += "\t" + fields[i];
        json entry{{"source", input.files[f].name},
                   {"line", first_line + std::stoull(fields[0])},
                   {"offset", std::stoull(fields[1])},
                   {"reason", reason}};
        out.write(entry.dump(-1, ' ', false, json::error_handler_t::replace) + "\n");
        ++by_reason[reason];
        ++count;
      }
      first_line += markers[f][c]["lines"].get<std::uint64_t>();
    }
  }
  out.commit();
  return json{{"file", "rejects.jsonl"}, {"count", count}, {"by_reason", by_reason}};
}

json collect_parts(const ShardOptions& options, const LanguageInput& input, json& duplicates, json& capped) {
  fs::path work = work_dir(options, input);
  if (options.sequential_language_pass()) {
    auto marker = read_json_if_valid(work / "sequential.json");
    if (!marker) fail("{}: missing after the part step", (work / "sequential.json").string());
    duplicates = (*marker)["duplicates"];
    capped = (*marker)["capped"];
    return (*marker)["parts"];
  }
  json parts = json::array();
  std::vector<LanguageInput> single{input};
  for (const PartTask& task : plan_parts(options, single, 0)) {
    auto marker = read_json_if_valid(work / (task.name + ".json"));
    if (!marker) fail("{}: missing after the part step", (work / (task.name + ".json")).string());
    parts.push_back((*marker)["part"]);
  }
  return parts;
}

void remove_stale_parts(const ShardOptions& options, const LanguageInput& input, const json& parts) {
  std::vector<std::string> keep;
  for (const json& part : parts) keep.push_back(part["file"]);
  for (const auto& entry : fs::directory_iterator(language_dir(options, input))) {
    std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && is_part_file_name(name) && std::find(keep.begin(), keep.end(), name) == keep.end())
      fs::remove(entry.path());
  }
}

}  // namespace

void finish_language(const ShardOptions& options, const LanguageInput& input, bool failed) {
  auto markers = load_chunk_markers(options, input);
  json rejects = write_rejects(options, input, markers);
  if (failed) return;
  json duplicates = json::object(), capped = json::object();
  json parts = collect_parts(options, input, duplicates, capped);

  json inputs = json::array();
  std::uint64_t lines_read = 0, rejected_total = 0, duplicates_total = 0, capped_total = 0;
  for (std::size_t f = 0; f < input.files.size(); ++f) {
    const SourceFile& file = input.files[f];
    std::uint64_t read = 0, rejected = 0;
    for (const json& marker : markers[f]) {
      read += marker["lines"].get<std::uint64_t>();
      rejected += marker["rejected"].get<std::uint64_t>();
    }
    std::uint64_t file_duplicates = duplicates.value(file.name, std::uint64_t{0});
    std::uint64_t file_capped = capped.value(file.name, std::uint64_t{0});
    inputs.push_back(json{{"file", file.name},
                          {"source_bytes", file.bytes},
                          {"mtime_ns", file.mtime_ns},
                          {"lines_read", read},
                          {"kept", read - rejected - file_duplicates - file_capped},
                          {"rejected", rejected},
                          {"duplicates", file_duplicates},
                          {"capped", file_capped}});
    lines_read += read;
    rejected_total += rejected;
    duplicates_total += file_duplicates;
    capped_total += file_capped;
  }
  json totals{{"lines_read", lines_read}, {"rejected", rejected_total}, {"duplicates", duplicates_total}, {"capped", capped_total}};
  for (const char* split : {"train", "validation"}) {
    std::uint64_t samples = 0, bytes = 0, count = 0;
    for (const json& part : parts)
      if (part["split"] == split) {
        samples += part["samples"].get<std::uint64_t>();
        bytes += part["bytes"].get<std::uint64_t>();
        ++count;
      }
    totals[split] = json{{"parts", count}, {"samples", samples}, {"bytes", bytes}};
  }
  remove_stale_parts(options, input, parts);
  write_json_atomic(language_dir(options, input) / "index.json", json{{"format", kFormat},
                                                                      {"language", input.language},
                                                                      {"options", output_options_json(options)},
                                                                      {"totals", totals},
                                                                      {"parts", parts},
                                                                      {"inputs", inputs},
                                                                      {"rejects", rejects}});
  CompletionRecord record = language_record(options);
  for (const json& part : parts)
    record.add_output(language_dir(options, input), part["file"].get<std::string>(), part["sha256"].get<std::string>());
  record.write(language_record_path(options, input));
  fs::remove_all(work_dir(options, input));
  log::info("{}: {} lines read, {} rejected, {} duplicates, {} capped -> {} train + {} validation samples in {} parts",
            input.language, lines_read, rejected_total, duplicates_total, capped_total,
            totals["train"]["samples"].get<std::uint64_t>(), totals["validation"]["samples"].get<std::uint64_t>(),
            parts.size());
}

void invalidate_language(const ShardOptions& options, const LanguageInput& input) {
  std::error_code ignored;
  fs::remove(language_dir(options, input) / "index.json", ignored);
  fs::remove(language_record_path(options, input), ignored);
  remove_temp_files(language_dir(options, input));
}

void write_run_index(const ShardOptions& options) {
  fs::create_directories(options.output_dir);
  fs::path lock_path = options.output_dir / ".index.lock";
  int lock = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  if (lock < 0) fail("cannot open {}: {}", lock_path.string(), errno_text(errno));
  while (::flock(lock, LOCK_EX) != 0 && errno == EINTR) {
  }
  try {
    fs::path index_path = options.output_dir / "index.json";
    remove_temp_files(options.output_dir);  // safe: we hold the lock every writer takes
    std::map<std::string, double> upsample;
    if (auto previous = read_json_if_valid(index_path))
      for (const auto& [language, entry] : (*previous)["languages"].items())
        if (entry.contains("upsample")) upsample[language] = entry["upsample"].get<double>();
    for (const auto& [language, factor] : options.upsample) upsample[language] = factor;

    std::map<std::string, json> language_totals;
    std::map<std::string, std::uint64_t> train_bytes;
    for (const auto& entry : fs::directory_iterator(options.output_dir)) {
      if (!entry.is_directory()) continue;
      auto index = read_json_if_valid(entry.path() / "index.json");
      if (!index || index->value("format", "") != kFormat) continue;
      std::string language = entry.path().filename().string();
      language_totals[language] = (*index)["totals"];
      train_bytes[language] = (*index)["totals"]["train"]["bytes"];
    }
    json languages = json::object();
    std::uint64_t all_train_bytes = 0, all_train_samples = 0;
    for (const auto& [language, mixture] : mixture_weights(train_bytes, upsample)) {
      const json& totals = language_totals[language];
      languages[language] = json{{"index", language + "/index.json"},
                                 {"train", totals["train"]},
                                 {"validation", totals["validation"]},
                                 {"byte_share", mixture.byte_share},
                                 {"upsample", mixture.upsample},
                                 {"weight", mixture.weight},
                                 {"normalized_weight", mixture.normalized_weight}};
      all_train_bytes += mixture.bytes;
      all_train_samples += totals["train"]["samples"].get<std::uint64_t>();
    }
    std::string contents = json{{"format", "xmtf-shards/1"},
                                {"weights", "byte share of train bytes x upsample (as BLOOMZ; not renormalised)"},
                                {"train_bytes", all_train_bytes},
                                {"train_samples", all_train_samples},
                                {"languages", languages}}
                               .dump(1) +
                           "\n";
    std::error_code ec;
    bool unchanged = fs::exists(index_path, ec) && read_file(index_path) == contents;
    if (!unchanged) write_file_atomic(index_path, contents);  // a rerun leaves the file untouched
  } catch (...) {
    ::close(lock);
    throw;
  }
  ::close(lock);
}

}  // namespace xmtf::data
