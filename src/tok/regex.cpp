#include "tok/regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "core/error.hpp"
#include "tok/unicode.hpp"

namespace xmtf::tok {

namespace {

// Unicode White_Space (Oniguruma's \s), as the inside of a character class.
constexpr std::string_view kWhiteSpaceClass =
    "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";
constexpr std::string_view kHexDigitClass = "0-9a-fA-F";

}  // namespace

std::string translate_oniguruma(std::string_view pattern) {
  std::string out;
  int class_depth = 0;  // 0 outside a class, 1 inside, 2+ inside nested classes (flattened)
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char e = pattern[++i];
      bool inside = class_depth > 0;
      if (e == 's' || e == 'h') {
        std::string_view set = e == 's' ? kWhiteSpaceClass : kHexDigitClass;
        out += inside ? std::string(set) : "[" + std::string(set) + "]";
      } else if ((e == 'S' || e == 'H') && !inside) {
        out += "[^" + std::string(e == 'S' ? kWhiteSpaceClass : kHexDigitClass) + "]";
      } else if (e == 'H' && inside) {
        fail("regex {:?}: \\H inside a character class is not supported", pattern);
      } else {
        out += '\\';
        out += e;
      }
      continue;
    }
    if (class_depth == 0) {
      if (c == '[') {
        class_depth = 1;
        out += '[';
        if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      } else {
        out += c;
      }
      continue;
    }
    if (c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {  // POSIX [:alpha:]
      std::size_t close = pattern.find(":]", i + 2);
      if (close == std::string_view::npos) fail("regex {:?}: unterminated [: :]", pattern);
      out.append(pattern.substr(i, close + 2 - i));
      i = close + 1;
    } else if (c == '[') {
      if (i + 1 < pattern.size() && pattern[i + 1] == '^')
        fail("regex {:?}: negated nested character classes are not supported", pattern);
      ++class_depth;
    } else if (c == ']') {
      if (--class_depth == 0) out += ']';
    } else if (c == '&' && i + 1 < pattern.size() && pattern[i + 1] == '&') {
      fail("regex {:?}: character class intersection (&&) is not supported", pattern);
    } else {
      out += c;
    }
  }
  if (class_depth != 0) fail("regex {:?}: unterminated character class", pattern);
  return out;
}

Regex::Regex(std::string_view pattern, bool literal) : pattern_(pattern) {
  std::string translated = literal ? std::string(pattern) : translate_oniguruma(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), options,
                                   &error_code, &error_offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error_code, message, sizeof message);
    fail("regex {:?} does not compile (as PCRE2 {:?}, at offset {}): {}", pattern, translated, error_offset,
         reinterpret_cast<const char*>(message));
  }
  jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  code_ = code;
  match_data_ = pcre2_match_data_create_from_pattern(code, nullptr);
}

Regex::~Regex() {
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& matches) {
  matches.clear();
  auto* code = static_cast<pcre2_code*>(code_);
  auto* match_data = static_cast<pcre2_match_data*>(match_data_);
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), start, 0, match_data, nullptr)
                  : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, match_data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      fail("regex {:?}: match failed: {}", pattern_, reinterpret_cast<const char*>(message));
    }
    PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match_data);
    std::size_t match_start = ovector[0], match_end = ovector[1];
    matches.emplace_back(match_start, match_end);
    if (match_end > match_start) {
      start = match_end;
    } else {
      if (match_end >= text.size()) break;
      start = match_end + utf8_sequence_length(static_cast<unsigned char>(text[match_end]));
    }
  }
}

}  // namespace xmtf::tok
