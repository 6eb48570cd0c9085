#pragma once
// Regular expressions for pre-tokenizers, through PCRE2 with JIT. HuggingFace tokenizers uses
// Oniguruma; patterns are translated where the two dialects differ (see translate_oniguruma).
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace xmtf::tok {

// Rewrites an Oniguruma (Ruby syntax) pattern into PCRE2 syntax with the same meaning:
// \s and \S become explicit Unicode White_Space classes (PCRE2's \s lacks U+0085), \h / \H mean
// hex digits as in Ruby, and nested character classes ("[^(\s|[.,!?])]", as in BLOOM's split
// pattern) are flattened into their union. Throws xmtf::Error on constructs with no faithful
// translation (negated nested classes, class intersection "&&").
std::string translate_oniguruma(std::string_view pattern);

class Regex {
 public:
  // pattern is Oniguruma syntax, or a literal string when literal is true.
  Regex(std::string_view pattern, bool literal);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [start, end) of the successive non-overlapping matches in text (valid UTF-8).
  // An empty match advances the search by one character, as Oniguruma's iterator does.
  void find_all(std::string_view text, std::vector<std::pair<std::size_t, std::size_t>>& matches);
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;        // pcre2_code*
  void* match_data_ = nullptr;  // pcre2_match_data*
  bool jit_ = false;
};

}  // namespace xmtf::tok
