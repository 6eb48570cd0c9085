#include "h5/tokenize_job.hpp"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <fstream>
#include <istream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>

#include "core/completion.hpp"
#include "core/error.hpp"
#include "core/fs.hpp"
#include "core/log.hpp"
#include "core/sha256.hpp"
#include "core/text.hpp"
#include "h5/shard_writer.hpp"

namespace xmtf::h5 {

std::string default_tokenizer_name(const fs::path& tokenizer_path) {
  std::string name = tokenizer_path.filename().string();
  for (const char* suffix : {".json", ".model"})
    if (name.size() > std::strlen(suffix) && name.ends_with(suffix)) name.resize(name.size() - std::strlen(suffix));
  if (name.size() > 10 && name.ends_with(".tokenizer")) name.resize(name.size() - 10);
  return name;
}

namespace {

// What xmtf-shard writes as data: part-NNNNN.jsonl (train) and validation-NNNNN.jsonl; not its
// rejects.jsonl, index.json, temporaries or .work/ pieces.
bool is_part_file(const fs::path& path) {
  std::string name = path.filename().string();
  bool data = name.starts_with("part-") || name.starts_with("validation-");
  return data && name.ends_with(".jsonl") && name.find(".tmp.") == std::string::npos;
}

bool is_hidden(const fs::path& path) { return path.filename().string().starts_with("."); }

// Beside each .h5: ".<name>.h5.done" (hidden: a glob of *.h5 never sees it).
fs::path completion_record_path(const fs::path& output) {
  return output.parent_path() / ("." + output.filename().string() + ".done");
}

PartJob make_job(const fs::path& source, const fs::path& output_dir, const std::string& tokenizer_name) {
  PartJob job;
  job.source = source;
  job.language = source.parent_path().filename().string();
  if (job.language.empty()) job.language = "unknown";
  job.output = output_dir / job.language / (source.stem().string() + "." + tokenizer_name + ".h5");
  job.bytes = fs::file_size(source);
  return job;
}

}  // namespace

std::vector<PartJob> plan_parts(const TokenizeOptions& options, const std::string& tokenizer_name) {
  std::vector<PartJob> parts;
  std::error_code error;
  if (fs::is_regular_file(options.input, error)) {
    parts.push_back(make_job(options.input, options.output_dir, tokenizer_name));
  } else if (fs::is_directory(options.input, error)) {
    for (auto it = fs::recursive_directory_iterator(options.input); it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_directory() && is_hidden(it->path())) {
        it.disable_recursion_pending();
      } else if (is_part_file(it->path())) {
        if (std::string problem = not_a_regular_file(it->path()); !problem.empty())
          fail("{}: shard part is {}, not a file (rerun xmtf-shard, or remove it)", it->path().string(), problem);
        parts.push_back(make_job(it->path(), options.output_dir, tokenizer_name));
      }
    }
    std::sort(parts.begin(), parts.end(), [](const PartJob& a, const PartJob& b) { return a.source < b.source; });
    if (parts.empty()) fail("{}: no shard parts (part-*.jsonl, validation-*.jsonl) found in this folder", options.input.string());
  } else {
    fail("{}: no such file or folder (--input takes a part file or a shard folder)", options.input.string());
  }
  return parts;
}

std::vector<fs::path> remove_stale_outputs(const std::vector<PartJob>& parts, const std::string& tokenizer_name) {
  std::set<fs::path> expected, folders;
  for (const PartJob& part : parts) {
    expected.insert(part.output);
    folders.insert(part.output.parent_path());
  }
  const std::string suffix = "." + tokenizer_name + ".h5";
  std::vector<fs::path> removed;
  for (const fs::path& folder : folders) {
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(folder, error)) {
      std::string name = entry.path().filename().string();
      bool ours = name.ends_with(suffix) && (name.starts_with("part-") || name.starts_with("validation-"));
      if (ours && entry.is_regular_file() && !expected.contains(entry.path())) {
        fs::remove(entry.path());
        fs::remove(completion_record_path(entry.path()), error);
        removed.push_back(entry.path());
        log::info("{}: removed, its source part is gone", entry.path().string());
      }
    }
  }
  return removed;
}

SampleEncoder::SampleEncoder(const tok::Tokenizer& tokenizer, const TokenizeOptions& options, const std::string& origin) {
  bool sentencepiece = tokenizer.kind() == tok::TokenizerKind::sentencepiece;
  target_prefix_ = options.target_prefix.value_or(sentencepiece ? "" : " ");
  input_eos_ = options.input_eos.value_or(sentencepiece);
  target_eos_ = options.target_eos.value_or(true);
  if (input_eos_ || target_eos_) {
    auto eos = tokenizer.eos_id();
    if (!eos) fail("{}: the tokenizer has no end-of-document token (</s> or <|endoftext|>); pass --target-eos=false",
                   origin);
    eos_id_ = *eos;
  }
}

void SampleEncoder::encode(tok::Tokenizer& tokenizer, std::string_view inputs, std::string_view targets,
                           std::vector<std::int32_t>& input_ids, std::vector<std::int32_t>& target_ids) {
  input_ids.clear();
  target_ids.clear();
  tokenizer.encode(inputs, input_ids);
  if (input_eos_) input_ids.push_back(eos_id_);
  scratch_.assign(target_prefix_);
  scratch_.append(targets);
  tokenizer.encode(scratch_, target_ids);
  if (target_eos_) target_ids.push_back(eos_id_);
}

std::string SampleEncoder::options_text() const {
  return fmt::format("target_prefix={} input_eos={} target_eos={} eos_id={}", shell_quote(target_prefix_),
                     input_eos_ ? 1 : 0, target_eos_ ? 1 : 0, eos_id_);
}

ShardTokenizer::ShardTokenizer(const TokenizeOptions& options) : options_(options) {
  tokenizer_ = tok::load_tokenizer(options.tokenizer_path);
  tokenizer_sha256_ = sha256_file(options.tokenizer_path);
  name_ = options.name.empty() ? default_tokenizer_name(options.tokenizer_path) : options.name;
  encoder_ = SampleEncoder(*tokenizer_, options, options.tokenizer_path.string());
}

CompletionRecord ShardTokenizer::expected_record(const PartJob& part, const std::string& source_sha256) const {
  CompletionRecord record(fmt::format("xmtf-tokenize/{}", kTokenizedShardVersion),
                          fmt::format("name={} {}", name_, options_text()));
  record.add_input(part.source, source_sha256);
  record.add_input(options_.tokenizer_path, tokenizer_sha256_);
  return record;
}

// Up to date only when the part's completion record verifies: same source and tokenizer bytes,
// same options, and the .h5 exactly as written (sha256): a 0-byte, truncated, edited or foreign
// file is redone.
bool ShardTokenizer::up_to_date(const PartJob& part, const CompletionRecord& record) const {
  if (options_.force) return false;
  std::string not_done = record.mismatch(completion_record_path(part.output));
  if (not_done.empty()) return true;
  std::error_code error;
  if (fs::exists(part.output, error)) log::info("{}: redoing ({})", part.output.string(), not_done);
  return false;
}

PartStats ShardTokenizer::run(const PartJob& part, Progress* progress) {
  PartStats stats;
  stats.bytes = static_cast<std::int64_t>(part.bytes);
  std::string source_sha256 = sha256_file(part.source);
  CompletionRecord record = expected_record(part, source_sha256);
  if (up_to_date(part, record)) {
    stats.skipped = true;
    ShardInfo info = read_shard_info(part.output);
    stats.samples = info.n_samples;
    if (progress) progress->add(part.bytes);
    log::info("{}: up to date, skipped", part.output.string());
    return stats;
  }
  fs::create_directories(part.output.parent_path());
  // Only this rank writes this part: any temporary of it here is a killed run's.
  for (const fs::path& stale : remove_stale_temp_files(part.output.parent_path(), part.output.filename().string()))
    log::info("{}: removed (left by a killed run)", stale.string());
  ShardInfo info;
  info.tokenizer_name = options_.tokenizer_path.filename().string();
  info.tokenizer_sha256 = tokenizer_sha256_;
  info.language = part.language;
  info.source_sha256 = source_sha256;
  info.options = options_text();
  // Chunks sized to the part (about a token per 4 bytes of text): small parts stay small on
  // disk, large ones get 1 MiB chunks.
  std::int64_t chunk_tokens = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::bit_ceil(part.bytes / 8 + 1)), 4096, 1 << 18);
  TokenizedShardWriter writer(part.output, info, chunk_tokens);

  std::ifstream in(part.source, std::ios::binary);
  if (!in) fail("{}: cannot open: {}", part.source.string(), errno_text(errno));
  simdjson::dom::parser parser;
  std::vector<std::int32_t> input_ids, target_ids;
  std::string block, carry;
  block.resize(8 << 20);
  std::int64_t line_number = 0;
  auto process_line = [&](std::string_view line) {
    ++line_number;
    if (trim(line).empty()) return;
    simdjson::dom::element row;
    if (auto error = parser.parse(line.data(), line.size()).get(row))
      fail("{}:{}: invalid JSON: {}", part.source.string(), line_number, simdjson::error_message(error));
    std::string_view inputs, targets;
    if (row["inputs"].get(inputs)) fail("{}:{}: missing string field \"inputs\"", part.source.string(), line_number);
    if (row["targets"].get(targets)) fail("{}:{}: missing string field \"targets\"", part.source.string(), line_number);
    encoder_.encode(*tokenizer_, inputs, targets, input_ids, target_ids);
    writer.append(input_ids, target_ids);
  };
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    std::size_t got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    std::string_view data(block.data(), got);
    std::size_t start = 0;
    for (std::size_t newline; (newline = data.find('\n', start)) != std::string_view::npos; start = newline + 1) {
      if (!carry.empty()) {
        carry.append(data.substr(start, newline - start));
        process_line(carry);
        carry.clear();
      } else {
        process_line(data.substr(start, newline - start));
      }
    }
    carry.append(data.substr(start));
    if (progress) progress->add(got);
  }
  if (!carry.empty()) process_line(carry);
  writer.commit();
  record.add_output(part.output.parent_path(), part.output.filename().string());
  record.write(completion_record_path(part.output));
  stats.samples = writer.n_samples();
  stats.input_tokens = writer.n_input_tokens();
  stats.target_tokens = writer.n_target_tokens();
  log::info("{}: {} samples, {} input + {} target tokens", part.output.string(), stats.samples, stats.input_tokens,
            stats.target_tokens);
  return stats;
}

void encode_lines(tok::Tokenizer& tokenizer, std::istream& in, std::ostream& out) {
  std::vector<std::int32_t> ids;
  std::int64_t line_number = 0, n_tokens = 0, n_bytes = 0;
  double encode_seconds = 0;  // tokenizer time alone, without JSON reading and writing
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      fail("stdin:{}: not a JSON string: {}", line_number, e.what());
    }
    if (!value.is_string()) fail("stdin:{}: expected a JSON string (\"text\"), got {}", line_number, value.type_name());
    ids.clear();
    const std::string& text = value.get_ref<const std::string&>();
    auto start = std::chrono::steady_clock::now();
    tokenizer.encode(text, ids);
    encode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    n_tokens += static_cast<std::int64_t>(ids.size());
    n_bytes += static_cast<std::int64_t>(text.size());
    out << '[';
    for (std::size_t i = 0; i < ids.size(); ++i) out << (i ? "," : "") << ids[i];
    out << "]\n";
  }
  out.flush();
  log::info("encoded {} lines, {} bytes, {} tokens in {:.3f}s of tokenizer time ({:.0f} tokens/s)", line_number,
            n_bytes, n_tokens, encode_seconds, n_tokens / std::max(encode_seconds, 1e-9));
}

void decode_lines(tok::Tokenizer& tokenizer, std::istream& in, std::ostream& out) {
  std::int64_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    std::vector<std::int32_t> ids;
    try {
      ids = nlohmann::json::parse(line).get<std::vector<std::int32_t>>();
    } catch (const nlohmann::json::exception& e) {
      fail("stdin:{}: expected a JSON array of token ids: {}", line_number, e.what());
    }
    for (std::int32_t id : ids)
      if (id < 0 || id >= tokenizer.vocab_size())
        fail("stdin:{}: token id {} out of range (vocabulary size {})", line_number, id, tokenizer.vocab_size());
    out << nlohmann::json(tokenizer.decode(ids)).dump() << '\n';
  }
  out.flush();
}

}  // namespace xmtf::h5
