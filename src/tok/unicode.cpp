#include "tok/unicode.hpp"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include <vector>

#include "core/error.hpp"

namespace xmtf::tok {

char32_t next_code_point(std::string_view text, std::size_t& pos) {
  auto b = static_cast<unsigned char>(text[pos]);
  int length = utf8_sequence_length(b);
  if (pos + length > text.size()) length = 1;
  char32_t c = length == 1 ? b : length == 2 ? (b & 0x1F) : length == 3 ? (b & 0x0F) : (b & 0x07);
  for (int i = 1; i < length; ++i) c = (c << 6) | (static_cast<unsigned char>(text[pos + i]) & 0x3F);
  pos += length;
  return c;
}

void append_utf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

namespace {

// Number of bytes of the well-formed sequence at text[pos], or the negated length of the
// maximal subpart of an ill-formed one (Unicode 3.9, table 3-7).
int well_formed_length(std::string_view text, std::size_t pos) {
  auto at = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char b = at(pos);
  if (b < 0x80) return 1;
  int length = 0;
  unsigned char low = 0x80, high = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    length = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    length = 3;
    if (b == 0xE0) low = 0xA0;
    if (b == 0xED) high = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    length = 4;
    if (b == 0xF0) low = 0x90;
    if (b == 0xF4) high = 0x8F;
  } else {
    return -1;
  }
  for (int i = 1; i < length; ++i) {
    if (pos + i >= text.size()) return -i;
    unsigned char c = at(pos + i);
    unsigned char lo = i == 1 ? low : 0x80, hi = i == 1 ? high : 0xBF;
    if (c < lo || c > hi) return -i;
  }
  return length;
}

}  // namespace

bool is_valid_utf8(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    // ASCII fast path, 8 bytes at a time.
    while (pos + 8 <= text.size()) {
      std::uint64_t word;
      __builtin_memcpy(&word, text.data() + pos, 8);
      if (word & 0x8080808080808080ULL) break;
      pos += 8;
    }
    if (pos >= text.size()) break;
    int length = well_formed_length(text, pos);
    if (length < 0) return false;
    pos += length;
  }
  return true;
}

std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (std::size_t pos = 0; pos < text.size();) {
    int length = well_formed_length(text, pos);
    if (length > 0) {
      out.append(text.substr(pos, length));
      pos += length;
    } else {
      out += "\xEF\xBF\xBD";
      pos += -length;
    }
  }
  return out;
}

bool is_unicode_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

bool is_word_char(char32_t c) {
  return c == '_' || u_isalnum(static_cast<UChar32>(c)) ||
         (U_GET_GC_MASK(static_cast<UChar32>(c)) & (U_GC_M_MASK | U_GC_PC_MASK)) != 0;
}

const ByteLevelAlphabet& ByteLevelAlphabet::get() {
  static const ByteLevelAlphabet alphabet = [] {
    ByteLevelAlphabet a;
    // Printable bytes keep their code point; the others are shifted to 256 + n in byte order.
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int shifted = 0;
    for (int b = 0; b < 256; ++b) a.byte_to_char[b] = printable(b) ? b : 256 + shifted++;
    return a;
  }();
  return alphabet;
}

int ByteLevelAlphabet::char_to_byte(char32_t c) const {
  if (c < 256) {
    bool printable = (c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
    return printable ? static_cast<int>(c) : -1;
  }
  if (c < 256 + 68) {  // 68 non-printable bytes
    for (int b = 0; b < 256; ++b)
      if (byte_to_char[b] == c) return b;
  }
  return -1;
}

std::string ByteLevelAlphabet::encode(std::string_view raw) const {
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char b : raw) append_utf8(out, byte_to_char[b]);
  return out;
}

bool ByteLevelAlphabet::decode(std::string_view token, std::string& out) const {
  std::string bytes;
  for (std::size_t pos = 0; pos < token.size();) {
    int b = char_to_byte(next_code_point(token, pos));
    if (b < 0) return false;
    bytes += static_cast<char>(b);
  }
  out += bytes;
  return true;
}

namespace {

std::u16string to_utf16(std::string_view text) {
  std::u16string out(text.size() + 1, u'\0');
  int32_t length = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strFromUTF8(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), &length,
                text.data(), static_cast<int32_t>(text.size()), &status);
  if (U_FAILURE(status)) fail("UTF-8 to UTF-16 conversion failed: {}", u_errorName(status));
  out.resize(length);
  return out;
}

std::string to_utf8(const std::u16string& text) {
  std::string out(text.size() * 3 + 1, '\0');
  int32_t length = 0;
  UErrorCode status = U_ZERO_ERROR;
  u_strToUTF8(out.data(), static_cast<int32_t>(out.size()), &length,
              reinterpret_cast<const UChar*>(text.data()), static_cast<int32_t>(text.size()), &status);
  if (U_FAILURE(status)) fail("UTF-16 to UTF-8 conversion failed: {}", u_errorName(status));
  out.resize(length);
  return out;
}

}  // namespace

std::string normalize_unicode(std::string_view text, NormalizationForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const UNormalizer2* normalizer = form == NormalizationForm::nfc    ? unorm2_getNFCInstance(&status)
                                   : form == NormalizationForm::nfd  ? unorm2_getNFDInstance(&status)
                                   : form == NormalizationForm::nfkc ? unorm2_getNFKCInstance(&status)
                                                                     : unorm2_getNFKDInstance(&status);
  if (U_FAILURE(status)) fail("ICU normalizer unavailable: {}", u_errorName(status));
  std::u16string source = to_utf16(text);
  std::u16string result(source.size() * 4 + 16, u'\0');
  status = U_ZERO_ERROR;
  int32_t length = unorm2_normalize(normalizer, reinterpret_cast<const UChar*>(source.data()),
                                    static_cast<int32_t>(source.size()), reinterpret_cast<UChar*>(result.data()),
                                    static_cast<int32_t>(result.size()), &status);
  if (U_FAILURE(status)) fail("Unicode normalization failed: {}", u_errorName(status));
  result.resize(length);
  return to_utf8(result);
}

std::string lowercase_unicode(std::string_view text) {
  std::u16string source = to_utf16(text);
  std::u16string result(source.size() * 3 + 16, u'\0');
  UErrorCode status = U_ZERO_ERROR;
  int32_t length = u_strToLower(reinterpret_cast<UChar*>(result.data()), static_cast<int32_t>(result.size()),
                                reinterpret_cast<const UChar*>(source.data()),
                                static_cast<int32_t>(source.size()), "", &status);
  if (U_FAILURE(status)) fail("lowercasing failed: {}", u_errorName(status));
  result.resize(length);
  return to_utf8(result);
}

}  // namespace xmtf::tok
