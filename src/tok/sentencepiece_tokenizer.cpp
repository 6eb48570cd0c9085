#include "tok/sentencepiece_tokenizer.hpp"

#include <sentencepiece_processor.h>

#include "core/error.hpp"
#include "tok/unicode.hpp"

namespace xmtf::tok {

SentencePieceTokenizer::SentencePieceTokenizer(const std::filesystem::path& model_path)
    : path_(model_path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  auto status = processor_->Load(model_path.string());
  if (!status.ok()) fail("{}: not a SentencePiece model: {}", model_path.string(), status.ToString());
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::encode(std::string_view text, std::vector<std::int32_t>& ids) {
  std::string repaired;
  if (!is_valid_utf8(text)) {
    repaired = repair_utf8(text);
    text = repaired;
  }
  scratch_.clear();
  auto status = processor_->Encode(text, &scratch_);
  if (!status.ok()) fail("{}: SentencePiece encode failed: {}", path_.string(), status.ToString());
  ids.insert(ids.end(), scratch_.begin(), scratch_.end());
}

std::string SentencePieceTokenizer::decode(std::span<const std::int32_t> ids) const {
  std::vector<int> pieces(ids.begin(), ids.end());
  std::string text;
  auto status = processor_->Decode(pieces, &text);
  if (!status.ok()) fail("{}: SentencePiece decode failed: {}", path_.string(), status.ToString());
  return text;
}

std::optional<std::int32_t> SentencePieceTokenizer::token_to_id(std::string_view token) const {
  int id = processor_->PieceToId(token);
  if (processor_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

std::int32_t SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }

static std::optional<std::int32_t> valid(int id) {
  return id >= 0 ? std::optional<std::int32_t>(id) : std::nullopt;
}
std::optional<std::int32_t> SentencePieceTokenizer::eos_id() const { return valid(processor_->eos_id()); }
std::optional<std::int32_t> SentencePieceTokenizer::pad_id() const { return valid(processor_->pad_id()); }
std::optional<std::int32_t> SentencePieceTokenizer::unk_id() const { return valid(processor_->unk_id()); }

}  // namespace xmtf::tok
