#pragma once
// The Unicode pieces tokenizers need: UTF-8 validation and lossy repair, the GPT-2 byte-level
// alphabet, and normalization forms (through ICU).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace xmtf::tok {

// Length of the UTF-8 sequence starting with lead byte b (1 for bytes that cannot start one).
inline int utf8_sequence_length(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b & 0xE0) == 0xC0) return 2;
  if ((b & 0xF0) == 0xE0) return 3;
  if ((b & 0xF8) == 0xF0) return 4;
  return 1;
}

// Decodes the code point at text[pos] (text must be valid UTF-8); advances pos.
char32_t next_code_point(std::string_view text, std::size_t& pos);
void append_utf8(std::string& out, char32_t code_point);

// True when text is well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool is_valid_utf8(std::string_view text);
// Replaces every ill-formed subsequence by U+FFFD, one per maximal subpart (the Unicode
// recommended practice, as Rust's String::from_utf8_lossy and the WHATWG decoder do).
std::string repair_utf8(std::string_view text);

// Unicode White_Space, as Rust's char::is_whitespace and Oniguruma's \s.
bool is_unicode_whitespace(char32_t c);
// Letters, marks, digits and connector punctuation (regex \w), for single_word added tokens.
bool is_word_char(char32_t c);

// GPT-2's reversible map between bytes and printable code points ("Ġ" for ' ', "Ċ" for '\n').
struct ByteLevelAlphabet {
  std::array<char32_t, 256> byte_to_char{};
  static const ByteLevelAlphabet& get();
  // The byte that code point c stands for, or -1 when c is not in the alphabet.
  int char_to_byte(char32_t c) const;
  // Maps each byte of raw to its code point, as UTF-8.
  std::string encode(std::string_view raw) const;
  // Reverse of encode; false (out untouched) when token holds a code point outside the alphabet.
  bool decode(std::string_view token, std::string& out) const;
};

enum class NormalizationForm { nfc, nfd, nfkc, nfkd };
std::string normalize_unicode(std::string_view text, NormalizationForm form);
std::string lowercase_unicode(std::string_view text);

}  // namespace xmtf::tok
