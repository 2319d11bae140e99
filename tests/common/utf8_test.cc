#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace pgagent {
namespace {

TEST(Utf8Test, FirstInvalidUtf8FindsTheOffsetPastLongAsciiRuns) {
  const std::string ascii(37, 'a');
  EXPECT_EQ(FirstInvalidUtf8(ascii), std::string::npos);
  EXPECT_EQ(FirstInvalidUtf8(ascii + "\xC3\xA9" + ascii), std::string::npos);
  EXPECT_EQ(FirstInvalidUtf8(ascii + "\xC3\xA9" + ascii + "\xFF"), 37u + 2 + 37);
  EXPECT_EQ(FirstInvalidUtf8(ascii + "\xED\xA0\x80"), 37u);      // a surrogate
  EXPECT_EQ(FirstInvalidUtf8(ascii + "\xC0\xAF"), 37u);          // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8(ascii + "\xF4\x90\x80\x80"), 37u);  // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8(ascii + "\xE2\x82"), 37u);          // cut short
}

TEST(Utf8Test, SanitizeReplacesEachInvalidByteAndLeavesValidTextUntouched) {
  std::string valid = std::string(20, 'x') + "\xE2\x82\xAC \xF0\x9F\x98\x80 end";
  const std::string copy = valid;
  EXPECT_FALSE(SanitizeUtf8(&valid));
  EXPECT_EQ(valid, copy);
  std::string bad = std::string(20, 'x') + "\xFF\xE2\x82 ok \xC3\xA9";
  EXPECT_TRUE(SanitizeUtf8(&bad));
  EXPECT_EQ(bad, std::string(20, 'x') + "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD ok \xC3\xA9");
  EXPECT_EQ(FirstInvalidUtf8(bad), std::string::npos);
}

TEST(Utf8Test, CutPointNeverSplitsACharacter) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  for (size_t n = 0; n <= text.size() + 2; ++n) {
    const size_t k = Utf8CutPoint(text, n);
    EXPECT_LE(k, n);
    EXPECT_EQ(FirstInvalidUtf8(std::string_view(text).substr(0, k)), std::string::npos) << n;
  }
  EXPECT_EQ(Utf8CutPoint(text, 2), 1u);    // inside é
  EXPECT_EQ(Utf8CutPoint(text, 3), 3u);    // after é
  EXPECT_EQ(Utf8CutPoint(text, 9), 6u);    // inside the emoji
  EXPECT_EQ(Utf8CutPoint(text, 99), 99u);  // past the end: as asked
}

}  // namespace
}  // namespace pgagent
