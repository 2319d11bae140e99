// csvlog records that never close their quotes (a line cut at log_max_line_bytes inside a
// quoted field, hostile unbalanced quotes, binary junk) must not swallow the records after
// them: the assembler resynchronises at the next record start and counts what it cut.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "collectord/logs/log_entry_assembler.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

// Pushes text line by line into a csvlog assembler; `cut_lines` are pushed flagged truncated,
// as the tailer does for a line longer than max_line_bytes.
class CsvFeeder {
 public:
  explicit CsvFeeder(LogAssemblerOptions options = {}) {
    LogParserOptions po;
    po.format = LogFormat::kCsvlog;
    auto p = LogParser::Create(po);
    EXPECT_TRUE(p.ok());
    parser_ = std::move(p).value();
    assembler_ = std::make_unique<LogEntryAssembler>(*parser_, options);
  }
  void Line(std::string_view text, bool truncated = false) {
    offset_ += text.size() + 1;
    assembler_->Push(LogLine{text, truncated, offset_}, {}, &out_);
  }
  void Lines(std::string_view text) {
    size_t p = 0;
    while (p < text.size()) {
      size_t nl = text.find('\n', p);
      if (nl == std::string_view::npos) nl = text.size();
      Line(text.substr(p, nl - p));
      p = nl + 1;
    }
  }
  std::vector<AssembledEntry>& Finish() {
    assembler_->Flush(&out_);
    return out_;
  }
  const LogParseStats& stats() const { return assembler_->stats(); }
  uint64_t offset() const { return offset_; }

 private:
  std::unique_ptr<LogParser> parser_;
  std::unique_ptr<LogEntryAssembler> assembler_;
  std::vector<AssembledEntry> out_;
  uint64_t offset_ = 0;
};

std::string Quote(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A PG 15 csvlog record (26 columns), without its '\n'.
std::string Record(const std::string& message, int line_num = 1) {
  std::vector<std::string> c = {"2026-11-27 10:26:01.123 UTC",
                                Quote("alice"),
                                Quote("shop"),
                                "4242",
                                Quote("127.0.0.1:5555"),
                                "6746f0a1.1092",
                                std::to_string(line_num),
                                Quote("SELECT"),
                                "2026-11-27 10:25:00 UTC",
                                "3/12",
                                "0",
                                "LOG",
                                "00000",
                                Quote(message),
                                "",
                                "",
                                "",
                                "",
                                "",
                                "",
                                "",
                                "",
                                Quote("psql"),
                                Quote("client backend"),
                                "",
                                "-42"};
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) out += (i ? "," : "") + c[i];
  return out;
}

std::vector<std::string> Messages(const std::vector<AssembledEntry>& out) {
  std::vector<std::string> m;
  for (const auto& a : out) m.push_back(a.entry.parsed() ? a.entry.message() : "?");
  return m;
}

TEST(CsvlogResyncTest, ARecordCutInsideAQuotedFieldIsOneTruncatedEntryAndTheNextOnesArrive) {
  CsvFeeder f;
  // What the tailer hands over for a 1.1 MiB statement cut at 64 KiB: the kept prefix of the
  // line, inside the message's quotes, flagged truncated.
  const std::string big = Record("statement: SELECT '" + std::string(1100 << 10, 'x') + "'");
  f.Line(std::string_view(big).substr(0, 64 << 10), /*truncated=*/true);
  for (int i = 1; i <= 5; ++i) f.Line(Record("after " + std::to_string(i), i + 1));
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 6u) << ::testing::PrintToString(Messages(out));
  // The cut record is an entry of its own: its columns up to the cut, flagged truncated.
  EXPECT_TRUE(out[0].entry.parsed());
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_EQ(out[0].entry.level(), "LOG");
  EXPECT_EQ(out[0].entry.pid(), 4242);
  EXPECT_EQ(out[0].entry.user(), "alice");
  for (int i = 1; i <= 5; ++i) {
    EXPECT_TRUE(out[i].entry.parsed());
    EXPECT_FALSE(out[i].entry.truncated());
    EXPECT_EQ(out[i].entry.message(), "after " + std::to_string(i));
  }
  EXPECT_EQ(f.stats().csv_resyncs, 1u);
  EXPECT_EQ(f.stats().truncated, 1u);
}

TEST(CsvlogResyncTest, TheContinuationLinesOfACutRecordAreDroppedAndCounted) {
  CsvFeeder f;
  f.Line(Record("statement: SELECT '" + std::string(5000, 'x')).substr(0, 300), true);
  const std::string more = "  more of the statement, still inside the quotes";
  const std::string end = "  and more'\",,,,,,,,,\"psql\",\"client backend\",,-42";
  f.Line(more);
  f.Line(end);
  f.Line(Record("next"));
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_EQ(out[1].entry.message(), "next");
  EXPECT_EQ(f.stats().cut_bytes, more.size() + 1 + end.size() + 1);
  // The cut entry covers the bytes up to the next record.
  EXPECT_EQ(out[0].end_offset, f.offset() - Record("next").size() - 1);
}

TEST(CsvlogResyncTest, AnUnbalancedQuoteDoesNotSwallowTheRecordsAfterIt) {
  CsvFeeder f;
  f.Lines(Record("first") + "\n");
  // A hostile line: a record start with one quote too many, then junk with quotes.
  f.Lines(
      "2026-11-27 10:26:02.000 UTC,\"mallory\",\"shop\",1,\"x\",s,1,\"\",,,0,LOG,00000,\"he said "
      "\"\"hi\n");
  f.Lines("\"\"\"\" junk \n");
  for (int i = 1; i <= 5; ++i) f.Lines(Record("after " + std::to_string(i)) + "\n");
  auto& out = f.Finish();
  const auto m = Messages(out);
  ASSERT_GE(out.size(), 7u) << ::testing::PrintToString(m);
  EXPECT_EQ(m.front(), "first");
  for (int i = 1; i <= 5; ++i) {
    EXPECT_EQ(m[m.size() - 6 + i], "after " + std::to_string(i)) << ::testing::PrintToString(m);
  }
  EXPECT_GE(f.stats().csv_resyncs, 1u);
}

TEST(CsvlogResyncTest, BinaryJunkBetweenRecordsLosesNoRecord) {
  CsvFeeder f;
  std::string junk;
  for (int i = 0; i < 4096; ++i) junk.push_back(static_cast<char>((i * 37 + 11) % 256));
  junk.erase(std::remove(junk.begin(), junk.end(), '\n'), junk.end());
  for (int i = 1; i <= 20; ++i) {
    f.Lines(Record("record " + std::to_string(i)) + "\n");
    f.Line(junk);
    if (i % 3 == 0) f.Line("\"", false);  // a lone quote opens a field that never closes
  }
  auto& out = f.Finish();
  std::vector<std::string> records;
  for (const auto& a : out) {
    if (a.entry.parsed() && a.entry.message().starts_with("record ")) {
      records.push_back(a.entry.message());
    }
  }
  ASSERT_EQ(records.size(), 20u) << ::testing::PrintToString(Messages(out));
  for (int i = 1; i <= 20; ++i) EXPECT_EQ(records[i - 1], "record " + std::to_string(i));
}

TEST(CsvlogResyncTest, AMultiLineQuotedFieldStillJoinsItsLines) {
  CsvFeeder f;
  f.Lines(Record("statement: SELECT a,\n  b,\n  \"x\"\n2026-11-27 10:26:01 is no record start") +
          "\n");
  f.Lines(Record("second") + "\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u) << ::testing::PrintToString(Messages(out));
  EXPECT_TRUE(out[0].entry.message().starts_with("statement: SELECT a,\n  b,\n  \"x\"\n"))
      << out[0].entry.message();
  EXPECT_TRUE(out[0].entry.message().ends_with(" is no record start")) << out[0].entry.message();
  EXPECT_FALSE(out[0].entry.truncated());
  EXPECT_EQ(f.stats().csv_resyncs, 0u);
}

TEST(CsvlogResyncTest, ARecordOverTheEntryCapIsCutAndTheNextRecordArrives) {
  CsvFeeder f(LogAssemblerOptions{250ms, 1000});
  f.Lines(Record("statement: SELECT '\n" + std::string(3000, 'y') + "\n" + std::string(3000, 'z') +
                 "'") +
          "\n");
  f.Lines(Record("next") + "\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u) << ::testing::PrintToString(Messages(out));
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_LE(out[0].entry.ByteSizeLong(), 1200u);
  EXPECT_EQ(out[1].entry.message(), "next");
  EXPECT_GT(f.stats().cut_bytes, 5000u);
}

}  // namespace
}  // namespace pgagent
