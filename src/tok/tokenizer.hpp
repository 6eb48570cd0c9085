#pragma once
// One interface over the two tokenizer families the pipeline needs:
//   - HuggingFace tokenizer.json (byte-level BPE: BLOOM, GPT-2), see hf_tokenizer.hpp
//   - SentencePiece models (spiece.model: mT5 / mT0), see sentencepiece_tokenizer.hpp
// An instance keeps caches and scratch buffers: use one per thread.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace xmtf::tok {

enum class TokenizerKind { hf_json, sentencepiece };

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual TokenizerKind kind() const = 0;

  // Appends the ids of text to ids, without adding special tokens (special tokens written in
  // the text are recognised). Invalid UTF-8 is first repaired (U+FFFD per maximal subpart).
  virtual void encode(std::string_view text, std::vector<std::int32_t>& ids) = 0;
  std::vector<std::int32_t> encode(std::string_view text) {
    std::vector<std::int32_t> ids;
    encode(text, ids);
    return ids;
  }
  // The text of ids (special tokens included as their text).
  virtual std::string decode(std::span<const std::int32_t> ids) const = 0;

  virtual std::optional<std::int32_t> token_to_id(std::string_view token) const = 0;
  virtual std::int32_t vocab_size() const = 0;  // one past the largest id
  // The end-of-document token appended to targets: "</s>" (BLOOM, mT5) or "<|endoftext|>".
  virtual std::optional<std::int32_t> eos_id() const = 0;
};

// Chooses by content: a JSON object is a tokenizer.json, anything else is tried as a
// SentencePiece model. Throws xmtf::Error naming the file on anything unreadable/unsupported.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

}  // namespace xmtf::tok
