#pragma once
// SentencePiece models (mT5's spiece.model) through Debian's libsentencepiece. mT5 conventions:
// pad 0, eos 1 ("</s>"), unk 2, no bos; the caller appends eos_id() to each sequence.
#include <filesystem>
#include <memory>

#include "tok/tokenizer.hpp"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace xmtf::tok {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::filesystem::path& model_path);
  ~SentencePieceTokenizer() override;

  TokenizerKind kind() const override { return TokenizerKind::sentencepiece; }
  using Tokenizer::encode;
  void encode(std::string_view text, std::vector<std::int32_t>& ids) override;
  std::string decode(std::span<const std::int32_t> ids) const override;
  std::optional<std::int32_t> token_to_id(std::string_view token) const override;
  std::int32_t vocab_size() const override;
  std::optional<std::int32_t> eos_id() const override;
  std::optional<std::int32_t> pad_id() const;
  std::optional<std::int32_t> unk_id() const;

 private:
  std::filesystem::path path_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::vector<int> scratch_;
};

}  // namespace xmtf::tok
