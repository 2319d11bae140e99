#include "collectord/logtail/line_splitter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgagent::logtail {
namespace {

std::vector<std::string> Texts(const std::vector<TailLine>& lines) {
  std::vector<std::string> out;
  for (const auto& l : lines) out.push_back(l.text);
  return out;
}

TEST(LineSplitterTest, EmitsEachCompleteLineWithTheOffsetAfterItsNewline) {
  LineSplitter splitter(1024);
  std::vector<TailLine> lines;
  splitter.Feed("ab\ncde\n", &lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, "ab");
  EXPECT_EQ(lines[0].end_offset, 3u);
  EXPECT_EQ(lines[1].text, "cde");
  EXPECT_EQ(lines[1].end_offset, 7u);
  EXPECT_FALSE(lines[1].truncated);
  EXPECT_EQ(splitter.line_start_offset(), 7u);
}

TEST(LineSplitterTest, HoldsAPartialLineUntilItsNewlineArrives) {
  LineSplitter splitter(1024);
  std::vector<TailLine> lines;
  splitter.Feed("first\nsec", &lines);
  EXPECT_EQ(Texts(lines), std::vector<std::string>{"first"});
  EXPECT_EQ(splitter.line_start_offset(), 6u);
  EXPECT_TRUE(splitter.has_partial());
  splitter.Feed("ond\n", &lines);
  EXPECT_EQ(Texts(lines), (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(lines[1].end_offset, 13u);
}

TEST(LineSplitterTest, ChunkBoundariesDoNotChangeTheLines) {
  const std::string data = "alpha\n\nbeta gamma\ndelta\n";
  LineSplitter whole(1024), bytewise(1024);
  std::vector<TailLine> a, b;
  whole.Feed(data, &a);
  for (char c : data) bytewise.Feed(std::string_view(&c, 1), &b);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].end_offset, b[i].end_offset);
  }
  EXPECT_EQ(Texts(a), (std::vector<std::string>{"alpha", "", "beta gamma", "delta"}));
}

TEST(LineSplitterTest, CapsALongLineFlagsItAndSkipsItsRestAcrossChunks) {
  LineSplitter splitter(10);
  std::vector<TailLine> lines;
  const std::string long_line(1000, 'x');
  for (size_t i = 0; i < long_line.size(); i += 7) splitter.Feed(long_line.substr(i, 7), &lines);
  EXPECT_TRUE(lines.empty());
  splitter.Feed("\nnext\n", &lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].text, std::string(10, 'x'));
  EXPECT_TRUE(lines[0].truncated);
  EXPECT_EQ(lines[0].end_offset, 1001u);
  EXPECT_EQ(lines[1].text, "next");
  EXPECT_FALSE(lines[1].truncated);
  EXPECT_EQ(splitter.stats().truncated_lines, 1u);
}

TEST(LineSplitterTest, RemovesNulBytesAndReplacesInvalidUtf8) {
  LineSplitter splitter(1024);
  std::vector<TailLine> lines;
  splitter.Feed(std::string("a\0\0b\n", 5), &lines);
  splitter.Feed("caf\xC3\xA9 ok\n", &lines);
  splitter.Feed("bad \xFF\xC3 end\n", &lines);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "ab");
  EXPECT_EQ(lines[1].text, "caf\xC3\xA9 ok");
  EXPECT_EQ(lines[2].text, "bad \xEF\xBF\xBD\xEF\xBF\xBD end");
  EXPECT_EQ(lines[2].end_offset, 5u + 8u + 12u);
  EXPECT_EQ(splitter.stats().nul_bytes, 2u);
  EXPECT_EQ(splitter.stats().invalid_utf8_lines, 1u);
}

TEST(LineSplitterTest, SkippingFirstLineDropsTheFragmentBeforeTheFirstNewline) {
  LineSplitter splitter(1024);
  splitter.ResetSkippingFirstLine(100);
  std::vector<TailLine> lines;
  splitter.Feed("tail of a line\nwhole\n", &lines);
  EXPECT_EQ(Texts(lines), std::vector<std::string>{"whole"});
  EXPECT_EQ(lines[0].end_offset, 121u);
}

TEST(LineSplitterTest, FlushPartialEmitsTheUnterminatedLastLineOnce) {
  LineSplitter splitter(1024);
  std::vector<TailLine> lines;
  splitter.Feed("done\nunterminated", &lines);
  EXPECT_TRUE(splitter.FlushPartial(&lines));
  EXPECT_FALSE(splitter.FlushPartial(&lines));
  EXPECT_EQ(Texts(lines), (std::vector<std::string>{"done", "unterminated"}));
  EXPECT_EQ(lines[1].end_offset, 17u);
  EXPECT_EQ(splitter.line_start_offset(), 17u);
}

}  // namespace
}  // namespace pgagent::logtail
