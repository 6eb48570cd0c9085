#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tok/regex.hpp"
#include "tok/unicode.hpp"

namespace xmtf::tok {
namespace {

TEST(OnigurumaTranslation, NestedClassesAreFlattenedAndWhiteSpaceIsUnicodes) {
  std::string bloom = translate_oniguruma(R"( ?[^(\s|[.,!?…。，、।۔،])]+)");
  EXPECT_EQ(bloom.find("[.,"), std::string::npos) << bloom;  // no literal nested '['
  Regex regex(R"( ?[^(\s|[.,!?…。，、।۔،])]+)", false);
  std::vector<std::pair<std::size_t, std::size_t>> m;
  regex.find_all("Hello, world. 你好。", m);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0], (std::pair<std::size_t, std::size_t>{0, 5}));
  EXPECT_EQ(m[1], (std::pair<std::size_t, std::size_t>{6, 12}));
  Regex space(R"(\s+)", false);
  space.find_all("a\u0085b", m);  // NEL is White_Space for Oniguruma, not for PCRE2's \s
  EXPECT_EQ(m.size(), 1u);
  EXPECT_THROW(translate_oniguruma("[a[^b]]"), Error);
  EXPECT_THROW(Regex("(unclosed", false), Error);
}

TEST(Utf8, RepairReplacesMaximalSubparts) {
  EXPECT_EQ(repair_utf8("ok"), "ok");
  EXPECT_EQ(repair_utf8("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");
  EXPECT_EQ(repair_utf8("\xE2\x82"), "\uFFFD");
  EXPECT_EQ(repair_utf8("\xF4\x90\x80\x80"), "\uFFFD\uFFFD\uFFFD\uFFFD");
  EXPECT_TRUE(is_valid_utf8("h\u00e9llo \U0001F600"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));
}

TEST(ByteLevel, AlphabetIsABijection) {
  const auto& alphabet = ByteLevelAlphabet::get();
  EXPECT_EQ(alphabet.encode(" \n"), "\u0120\u010A");  // "Ġ" and "Ċ"
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string back;
  ASSERT_TRUE(alphabet.decode(alphabet.encode(all), back));
  EXPECT_EQ(back, all);
}

}  // namespace
}  // namespace xmtf::tok
