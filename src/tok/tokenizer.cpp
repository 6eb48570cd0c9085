#include "tok/tokenizer.hpp"

#include <fstream>

#include "core/error.hpp"
#include "tok/hf_tokenizer.hpp"
#include "tok/sentencepiece_tokenizer.hpp"

namespace xmtf::tok {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open tokenizer file", path.string());
  char first = 0;
  while (in.get(first) && (first == ' ' || first == '\n' || first == '\r' || first == '\t')) {
  }
  if (!in) fail("{}: empty tokenizer file", path.string());
  if (first == '{') return HfTokenizer::from_file(path);
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace xmtf::tok
