#pragma once
// A HuggingFace tokenizer.json, encoded exactly as the tokenizers library does for byte-level
// BPE pipelines (BLOOM, GPT-2):
//   1. added tokens (special or not) are cut out first and never split: non-normalized ones on
//      the raw text, normalized ones on the normalized text (leftmost-longest, with
//      single_word / lstrip / rstrip);
//   2. normalizer: null, NFC, NFD, NFKC, NFKD, Lowercase, Strip, Prepend, Replace, Sequence;
//   3. pre-tokenizer: null, Split (String or Regex pattern; Removed / Isolated /
//      MergedWithPrevious / MergedWithNext / Contiguous; invert), ByteLevel (add_prefix_space,
//      use_regex), Sequence;
//   4. model BPE (merges by rank, unk / fuse_unk, byte_fallback, affixes, ignore_merges);
//   5. decoder ByteLevel (or none: tokens joined by spaces).
// Anything else in the file is rejected at load time with the path and the unsupported type.
#include <simdjson.h>

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tok/bpe.hpp"
#include "tok/regex.hpp"
#include "tok/tokenizer.hpp"

namespace xmtf::tok {

class HfTokenizer final : public Tokenizer {
 public:
  static std::unique_ptr<HfTokenizer> from_file(const std::filesystem::path& path);
  // json is the whole file; source names it in error messages.
  static std::unique_ptr<HfTokenizer> from_json(const std::string& json, const std::string& source);

  TokenizerKind kind() const override { return TokenizerKind::hf_json; }
  using Tokenizer::encode;
  void encode(std::string_view text, std::vector<std::int32_t>& ids) override;
  std::string decode(std::span<const std::int32_t> ids) const override;
  std::optional<std::int32_t> token_to_id(std::string_view token) const override;
  std::int32_t vocab_size() const override;
  std::optional<std::int32_t> eos_id() const override;

 private:
  struct AddedToken {
    std::int32_t id;
    std::string content;  // as matched (normalized tokens: their normalized content)
    std::string original_content;
    bool single_word, lstrip, rstrip, normalized, special;
  };
  // Leftmost-longest matching of a set of added tokens, as HuggingFace's AddedVocabulary.
  class AddedTokenMatcher {
   public:
    void add(const AddedToken* token);
    // Splits text into (token id or -1 for plain text, byte range) pieces, empty ones dropped.
    void split(std::string_view text, std::vector<std::pair<std::int32_t, std::pair<std::size_t, std::size_t>>>& out) const;
    bool empty() const { return tokens_.empty(); }

   private:
    std::vector<const AddedToken*> tokens_;
    std::array<bool, 256> first_byte_{};
  };
  struct NormalizerStep {
    enum class Type { nfc, nfd, nfkc, nfkd, lowercase, strip, prepend, replace } type;
    std::string content;  // prepend / replace content
    std::shared_ptr<Regex> pattern;
    bool strip_left = false, strip_right = false;
  };
  enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };
  struct PreTokenizerStep {
    enum class Type { split, byte_level } type;
    std::shared_ptr<Regex> pattern;  // split pattern, or the GPT-2 regex for ByteLevel use_regex
    SplitBehavior behavior = SplitBehavior::isolated;
    bool invert = false;
    bool add_prefix_space = false;
    bool map_bytes = true;  // false for the last ByteLevel: the model then works on raw bytes
  };

  HfTokenizer() = default;
  void load(simdjson::dom::element root);
  void load_normalizer(simdjson::dom::element normalizer);
  void load_pre_tokenizer(simdjson::dom::element pre_tokenizer);
  void load_added_tokens(simdjson::dom::element added_tokens);
  std::string normalize(std::string_view text) const;
  void pre_tokenize(std::string_view text);  // fills pieces_
  void split_piece(const PreTokenizerStep& step, const std::string& piece, std::vector<std::string>& out);
  void encode_normalized_segment(std::string_view segment, std::vector<std::int32_t>& ids);

  std::string source_;
  std::vector<NormalizerStep> normalizer_;
  std::vector<PreTokenizerStep> pre_tokenizer_;
  bool byte_mode_ = false;
  bool byte_level_decoder_ = false;
  BpeModel model_;
  std::vector<std::unique_ptr<AddedToken>> added_tokens_;
  std::unordered_map<std::int32_t, const AddedToken*> added_by_id_;
  AddedTokenMatcher raw_matcher_, normalized_matcher_;

  // Scratch buffers.
  std::vector<std::string> pieces_, next_pieces_;
  std::vector<std::pair<std::size_t, std::size_t>> matches_;
};

}  // namespace xmtf::tok
