#include "common/json_util.h"

#include <gtest/gtest.h>

#include <string>

namespace pgagent {
namespace {

std::string Quoted(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

TEST(AppendJsonStringTest, PlainTextIsCopiedBetweenQuotes) {
  EXPECT_EQ(Quoted(""), "\"\"");
  EXPECT_EQ(Quoted("duration: 0.042 ms  statement: SELECT 1"),
            "\"duration: 0.042 ms  statement: SELECT 1\"");
}

TEST(AppendJsonStringTest, QuotesBackslashesAndControlCharactersAreEscaped) {
  EXPECT_EQ(Quoted("a\"b\\c\nd\re\tf"), "\"a\\\"b\\\\c\\nd\\re\\tf\"");
  EXPECT_EQ(Quoted(std::string("x\0y", 3)), "\"x\\u0000y\"");
  EXPECT_EQ(Quoted("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
}

TEST(AppendJsonStringTest, ValidUtf8IsKeptAndInvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(Quoted("caf\xC3\xA9 \xF0\x9F\x98\x80"), "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
  EXPECT_EQ(Quoted("a\xFF" "b"), "\"a\xEF\xBF\xBD" "b\"");
  EXPECT_EQ(Quoted("\xC0\xAF"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");  // overlong '/'
  EXPECT_EQ(Quoted("\xED\xA0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");  // surrogate
  EXPECT_EQ(Quoted("end\xE2\x82"), "\"end\xEF\xBF\xBD\xEF\xBF\xBD\"");  // cut sequence
}

TEST(AppendJsonStringTest, AppendsToWhatIsAlreadyThere) {
  std::string out = "{\"k\":";
  AppendJsonString(out, "v");
  EXPECT_EQ(out, "{\"k\":\"v\"");
}

}  // namespace
}  // namespace pgagent
