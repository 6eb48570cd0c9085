#pragma once
// The work of xmtf-tokenize: shard parts (shards/<lang>/part-NNNNN.jsonl, one
// {"inputs": str, "targets": str} object per line) -> tokenized shards
// (<output>/<lang>/part-NNNNN.<name>.h5). MPI-free: the executable spreads parts over ranks.
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/completion.hpp"
#include "core/progress.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::h5 {

struct TokenizeOptions {
  std::filesystem::path tokenizer_path;
  std::filesystem::path input;       // a part file, or a folder searched recursively for
                                     // part-*.jsonl and validation-*.jsonl
  std::filesystem::path output_dir;  // outputs go to <output_dir>/<lang>/
  std::string name;                  // in output file names; "" = from the tokenizer file name
  // Defaults follow the model families: BLOOMZ (tokenizer.json) tokenized targets as
  // " " + targets + eos and inputs as they are; mT5 (SentencePiece) appends eos to both.
  std::optional<std::string> target_prefix;
  std::optional<bool> input_eos;
  std::optional<bool> target_eos;
  bool force = false;  // redo parts even when their output is up to date
};

struct PartJob {
  std::filesystem::path source;
  std::filesystem::path output;
  std::string language;  // the part's folder name
  std::uintmax_t bytes = 0;
};

struct PartStats {
  std::int64_t samples = 0;
  std::int64_t input_tokens = 0;
  std::int64_t target_tokens = 0;
  std::int64_t bytes = 0;
  bool skipped = false;
};

// "bloomstyle_gpt2vocab" for bloomstyle_gpt2vocab.tokenizer.json, "spiece" for spiece.model.
std::string default_tokenizer_name(const std::filesystem::path& tokenizer_path);

// Every part under options.input, in path order; xmtf::Error if there is none.
std::vector<PartJob> plan_parts(const TokenizeOptions& options, const std::string& tokenizer_name);

// With a folder as input: removes <output>/<lang>/*.<tokenizer_name>.h5 files whose source part is
// gone (xmtf-shard rerun with fewer parts), for the languages in parts, so a training glob never
// picks up stale data. Returns the removed paths.
std::vector<std::filesystem::path> remove_stale_outputs(const std::vector<PartJob>& parts, const std::string& tokenizer_name);

// How one {"inputs", "targets"} sample becomes (input_ids, target_ids): the model family's
// defaults above resolved against a tokenizer. Shared by xmtf-tokenize and xmtf-score so that
// scores are computed on exactly the tokens training saw.
class SampleEncoder {
 public:
  SampleEncoder() = default;
  // `origin` (the tokenizer path) is named in errors (no EOS token when one is needed).
  SampleEncoder(const tok::Tokenizer& tokenizer, const TokenizeOptions& options, const std::string& origin);
  // Clears and fills input_ids / target_ids.
  void encode(tok::Tokenizer& tokenizer, std::string_view inputs, std::string_view targets,
              std::vector<std::int32_t>& input_ids, std::vector<std::int32_t>& target_ids);
  std::string options_text() const;  // recorded in shard files
  const std::string& target_prefix() const { return target_prefix_; }
  bool target_eos() const { return target_eos_; }

 private:
  std::string target_prefix_;
  bool input_eos_ = false, target_eos_ = true;
  std::int32_t eos_id_ = -1;
  std::string scratch_;
};

class ShardTokenizer {
 public:
  explicit ShardTokenizer(const TokenizeOptions& options);
  // Tokenizes one part (streaming), or skips it when its output already matches the source,
  // the tokenizer and the options. progress (optional) advances by the part's bytes.
  PartStats run(const PartJob& part, Progress* progress);
  tok::Tokenizer& tokenizer() { return *tokenizer_; }
  const std::string& name() const { return name_; }
  std::string options_text() const { return encoder_.options_text(); }

 private:
  CompletionRecord expected_record(const PartJob& part, const std::string& source_sha256) const;
  bool up_to_date(const PartJob& part, const CompletionRecord& record) const;

  TokenizeOptions options_;
  std::unique_ptr<tok::Tokenizer> tokenizer_;
  std::string name_;
  std::string tokenizer_sha256_;
  SampleEncoder encoder_;
};

// --encode: each input line is a JSON string; writes a JSON array of ids per line (no special
// tokens added). --decode: each line a JSON array of ids; writes a JSON string per line.
// Errors name the line ("stdin:3: ...").
void encode_lines(tok::Tokenizer& tokenizer, std::istream& in, std::ostream& out);
void decode_lines(tok::Tokenizer& tokenizer, std::istream& in, std::ostream& out);

}  // namespace xmtf::h5
