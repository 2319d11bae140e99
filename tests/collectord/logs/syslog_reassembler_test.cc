// log_destination = syslog: the reassembler alone (parts, processes, offsets) and through a
// LogEntryAssembler (fields, redaction), on lines a real PostgreSQL sent through a real
// rsyslogd (fixtures/README.md) and on hostile input.
#include "collectord/logs/syslog_reassembler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "collectord/logs/log_entry_assembler.h"
#include "collectord/logs/stderr_prefix.h"

namespace pgagent {
namespace {

using std::chrono::steady_clock;
using namespace std::chrono_literals;
using v1::LogEntry;

constexpr char kPrefix[] = "%m [%p] %q%u@%d %a ";
constexpr char kUuid[] = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
// A line's syslog header, as rsyslog's traditional format writes it.
constexpr char kHdr[] = "Dec  4 21:40:33 vm postgres[";

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(PGAGENT_SOURCE_DIR) + "/tests/collectord/logs/fixtures/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_FALSE(ss.str().empty()) << name;
  return ss.str();
}

// One syslog line of PostgreSQL process `pid` with marker "[marker] " and body.
std::string Line(int pid, const std::string& marker, const std::string& body) {
  return std::string(kHdr) + std::to_string(pid) + "]: [" + marker + "] " + body + "\n";
}
// The log_line_prefix as the server prints it for pid.
std::string Pfx(int pid) {
  return "2026-12-04 21:40:33.654 UTC [" + std::to_string(pid) + "] alice@shop psql ";
}

// Feeds text line by line to an assembler of `format`, as the tailer would.
class Feeder {
 public:
  explicit Feeder(LogParserOptions options) {
    auto p = LogParser::Create(options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    parser_ = std::move(p).value();
    assembler_ = std::make_unique<LogEntryAssembler>(*parser_);
  }
  void Feed(std::string_view text) {
    size_t p = 0;
    while (p < text.size()) {
      size_t nl = text.find('\n', p);
      if (nl == std::string_view::npos) nl = text.size();
      offset_ += nl - p + 1;
      assembler_->Push(LogLine{text.substr(p, nl - p), false, offset_}, now_, &out_);
      p = nl + 1;
    }
  }
  std::vector<AssembledEntry>& Finish() {
    assembler_->Flush(&out_);
    return out_;
  }
  LogEntryAssembler& assembler() { return *assembler_; }
  std::vector<AssembledEntry>& out() { return out_; }
  steady_clock::time_point now_{};
  uint64_t offset_ = 0;

 private:
  std::unique_ptr<LogParser> parser_;
  std::unique_ptr<LogEntryAssembler> assembler_;
  std::vector<AssembledEntry> out_;
};

LogParserOptions Options(LogFormat format, std::string prefix = kPrefix) {
  LogParserOptions o;
  o.format = format;
  o.log_line_prefix = std::move(prefix);
  return o;
}

std::vector<LogEntry> Entries(LogFormat format, const std::string& text, bool redact = true) {
  LogParserOptions o = Options(format);
  o.redact = redact;
  Feeder f(o);
  f.Feed(text);
  std::vector<LogEntry> out;
  for (AssembledEntry& a : f.Finish()) out.push_back(a.entry);
  return out;
}

std::string AllText(const std::vector<AssembledEntry>& out) {
  std::string all;
  for (const AssembledEntry& a : out) all += a.entry.DebugString();
  return all;
}

TEST(SyslogHeaderTest, SplitsTraditionalAndHighPrecisionLines) {
  SyslogHeader h;
  ASSERT_TRUE(ParseSyslogHeader("Dec  4 21:40:33 vm postgres[20993]: [7-2]  long", &h));
  EXPECT_EQ(h.time, "Dec  4 21:40:33");
  EXPECT_EQ(h.host, "vm");
  EXPECT_EQ(h.program, "postgres");
  EXPECT_EQ(h.pid, 20993);
  EXPECT_EQ(h.body, "[7-2]  long");
  ASSERT_TRUE(ParseSyslogHeader("2026-12-04T21:40:33.401749+00:00 db1 postgres[7]: x", &h));
  EXPECT_EQ(h.time, "2026-12-04T21:40:33.401749+00:00");
  EXPECT_EQ(h.host, "db1");
  EXPECT_EQ(h.pid, 7);
  ASSERT_TRUE(ParseSyslogHeader("Dec 04 21:40:33 vm kernel: oops", &h));  // journalctl -o short
  EXPECT_EQ(h.program, "kernel");
  EXPECT_EQ(h.pid, 0);
  EXPECT_FALSE(ParseSyslogHeader("2026-12-04 21:40:33.654 UTC [1] LOG:  stderr", &h));
  EXPECT_FALSE(ParseSyslogHeader("Dec  4 21:40:33 vm postgres[12x]: y", &h));
  EXPECT_FALSE(ParseSyslogHeader("", &h));
}

TEST(SyslogHeaderTest, UnescapesRsyslogControlCharactersOnly) {
  std::string out;
  AppendSyslogUnescaped("#011  2#012next #35 #041 #0", &out);
  EXPECT_EQ(out, "\t  2\nnext #35 #041 #0");
}

// Entries in time order, then by pid (processes complete their entries in any order).
std::vector<std::string> Sorted(const std::vector<LogEntry>& entries) {
  std::vector<std::pair<std::tuple<int64_t, int32_t, int32_t>, std::string>> keyed;
  for (const LogEntry& e : entries) {
    keyed.push_back({{e.timestamp().seconds(), e.timestamp().nanos(), e.pid()}, e.DebugString()});
  }
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  for (auto& k : keyed) out.push_back(std::move(k.second));
  return out;
}

// Without the first entry, which only syslog has (it precedes the logging collector).
std::vector<LogEntry> AfterCollectorStart(std::vector<LogEntry> entries) {
  std::erase_if(entries, [](const LogEntry& e) {
    return e.message() == "redirecting log output to logging collector process";
  });
  return entries;
}

// The captured runs: each entry parsed from syslog equals the one parsed from the stderr
// file the logging collector wrote at the same time, field by field (redacted the same way,
// and unredacted too).
TEST(SyslogReassemblerTest, RealRsyslogFilesYieldTheEntriesOfTheStderrTwin) {
  for (const std::string run : {"syslog_", "syslog_concurrent_"}) {
    for (bool redact : {true, false}) {
      const std::vector<std::string> twin =
          Sorted(Entries(LogFormat::kStderr, Fixture(run + "stderr_twin.log"), redact));
      ASSERT_GE(twin.size(), 14u);
      for (const char* file : {"traditional.log", "rfc3339.log"}) {
        SCOPED_TRACE(run + file + (redact ? " redacted" : " raw"));
        const std::vector<LogEntry> got = Entries(LogFormat::kSyslog, Fixture(run + file), redact);
        EXPECT_EQ(Sorted(AfterCollectorStart(got)), twin);
        EXPECT_EQ(got.size(), twin.size() + 1);
      }
    }
  }
}

TEST(SyslogReassemblerTest, InterleavedPartsOfTheCapturedRunNeedNoRepair) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Fixture("syslog_concurrent_traditional.log"));
  std::vector<AssembledEntry>& out = f.Finish();
  EXPECT_GT(out.size(), 60u);
  EXPECT_EQ(f.assembler().stats().unparsed, 0u);
  EXPECT_EQ(f.assembler().stats().syslog_gaps, 0u);
  EXPECT_EQ(f.assembler().stats().truncated, 0u);
  for (const AssembledEntry& a : out) {
    EXPECT_EQ(a.entry.DebugString().find("secret"), std::string::npos) << a.entry.DebugString();
  }
}

TEST(SyslogReassemblerTest, MultiLineStatementIsRedactedAndCorrelatedAsInStderr) {
  const std::vector<LogEntry> got = Entries(LogFormat::kSyslog, Fixture("syslog_traditional.log"));
  const LogEntry* stmt = nullptr;
  for (const LogEntry& e : got) {
    if (e.has_correlation_id()) stmt = &e;
  }
  ASSERT_NE(stmt, nullptr);
  EXPECT_EQ(stmt->correlation_id(), kUuid);
  EXPECT_EQ(stmt->pid(), 20993);
  EXPECT_EQ(stmt->user(), "postgres");
  EXPECT_TRUE(stmt->parsed());
  EXPECT_EQ(stmt->statement().find("secret-literal"), std::string::npos) << stmt->statement();
  EXPECT_NE(stmt->statement().find("\n"), std::string::npos) << "the second line is joined";
  ASSERT_TRUE(stmt->has_duration_ms());
  EXPECT_DOUBLE_EQ(stmt->duration_ms(), 0.312);
}

TEST(SyslogReassemblerTest, PartsOfInterleavedProcessesAreJoinedPerProcess) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Line(10, "3-1", Pfx(10) + "LOG:  statement: select 'aaa',") +
         Line(11, "8-1", Pfx(11) + "ERROR:  boom") + Line(10, "3-2", "#011  'bbb'") +
         Line(11, "8-2", Pfx(11) + "STATEMENT:  select 'ccc'") +
         Line(10, "4-1", Pfx(10) + "LOG:  statement: select 2"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].entry.pid(), 10);
  EXPECT_EQ(out[0].entry.statement(), "select ?,\n  ?");
  EXPECT_EQ(out[1].entry.pid(), 11);
  EXPECT_EQ(out[1].entry.message(), "boom");
  EXPECT_EQ(out[1].entry.statement(), "select ?");
  EXPECT_EQ(out[2].entry.statement(), "select ?");
  EXPECT_EQ(AllText(out).find("aaa"), std::string::npos);
}

// While process 10's entry is open, entries of other processes carry an offset before its
// first line: committing them never skips it.
TEST(SyslogReassemblerTest, OffsetsNeverPassAnOpenEntryOfAnotherProcess) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Line(12, "1-1", Pfx(12) + "LOG:  checkpoint starting: time"));
  f.assembler().FlushIfIdle(f.now_ + 1s, &f.out());
  const uint64_t before_a = f.offset_;
  f.Feed(Line(10, "3-1", Pfx(10) + "LOG:  statement: select 1,") +
         Line(11, "8-1", Pfx(11) + "LOG:  statement: select 2") +
         Line(11, "9-1", Pfx(11) + "LOG:  statement: select 3"));
  ASSERT_EQ(f.out().size(), 2u);  // 12's (idle) and 11's first
  EXPECT_EQ(f.out()[0].end_offset, before_a);
  EXPECT_EQ(f.out()[1].end_offset, before_a) << "10's entry is still open";
  f.Feed(Line(10, "3-2", "#011 4"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[2].entry.statement(), "select ?,\n ?");
  uint64_t last = 0;
  for (const AssembledEntry& a : out) {
    EXPECT_GE(a.end_offset, last);
    last = a.end_offset;
  }
  EXPECT_EQ(out.back().end_offset, f.offset_);
}

TEST(SyslogReassemblerTest, LongLineCutBy900BytePartsIsJoinedWithoutANewline) {
  const std::vector<LogEntry> got =
      Entries(LogFormat::kSyslog, Fixture("syslog_traditional.log"), /*redact=*/false);
  const LogEntry* long_stmt = nullptr;
  for (const LogEntry& e : got) {
    if (e.statement().size() > 1500) long_stmt = &e;
  }
  ASSERT_NE(long_stmt, nullptr);
  EXPECT_EQ(long_stmt->statement().find('\n'), std::string::npos);
  EXPECT_NE(long_stmt->statement().find("long long long"), std::string::npos);
  EXPECT_EQ(long_stmt->statement().find("longlong"), std::string::npos);
  EXPECT_FALSE(long_stmt->truncated());
}

TEST(SyslogReassemblerTest, PartsArrivingOutOfOrderAreSorted) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Line(10, "3-1", Pfx(10) + "LOG:  statement: select 1,") + Line(10, "3-3", "#011 3") +
         Line(10, "3-2", "#011 2,"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.statement(), "select ?,\n ?,\n ?");
  EXPECT_FALSE(out[0].entry.truncated());
}

TEST(SyslogReassemblerTest, MissingPartFlagsTheEntryTruncatedAndCountsIt) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Line(10, "3-1", Pfx(10) + "LOG:  statement: select 'x',") + Line(10, "3-3", "#011 'y'"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_TRUE(out[0].entry.parsed());
  EXPECT_EQ(out[0].entry.statement(), "select ?,\n ?");
  EXPECT_EQ(f.assembler().stats().syslog_gaps, 1u);
}

// Reading starts in the middle of an entry (or its first part was lost): what is left
// cannot be understood and is masked, not passed through.
TEST(SyslogReassemblerTest, EntryWithoutItsFirstPartIsMaskedUnparsed) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Line(10, "3-2", "#011 password 'hunter2' and 987654") +
         Line(10, "4-1", Pfx(10) + "LOG:  statement: select 1"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].entry.parsed());
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_EQ(AllText(out).find("hunter2"), std::string::npos) << AllText(out);
  EXPECT_EQ(AllText(out).find("987654"), std::string::npos);
  EXPECT_TRUE(out[1].entry.parsed());
}

TEST(SyslogReassemblerTest, LinesWithoutASyslogHeaderAreMaskedUnparsed) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed("garbage with 'secret' and 12345\n" + Line(10, "1-1", Pfx(10) + "LOG:  ok"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(out[0].entry.parsed());
  EXPECT_EQ(AllText(out).find("secret"), std::string::npos);
  EXPECT_EQ(AllText(out).find("12345"), std::string::npos);
  EXPECT_EQ(f.assembler().stats().unparsed, 1u);
}

TEST(SyslogReassemblerTest, OtherProgramsLinesAreSkippedAndCounted) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(
      "Dec  4 21:40:33 vm sshd[99]: Accepted password for root\n"
      "Dec  4 21:40:33 vm kernel: eth0 up\n" +
      Line(10, "1-1", Pfx(10) + "LOG:  ok"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.message(), "ok");
  EXPECT_EQ(f.assembler().stats().syslog_foreign, 2u);
}

TEST(SyslogReassemblerTest, ConfiguredIdentSelectsTheServersLines) {
  LogParserOptions o = Options(LogFormat::kSyslog);
  o.syslog_ident = "pg-main";
  Feeder f(o);
  f.Feed("Dec  4 21:40:33 vm pg-main[10]: [1-1] " + Pfx(10) + "LOG:  mine\n" +
         Line(11, "1-1", Pfx(11) + "LOG:  another cluster's"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.message(), "mine");
}

// syslog_split_messages = off: the entry in one message, newlines escaped by rsyslog.
TEST(SyslogReassemblerTest, EntrySentWholeIsSplitAtItsEscapedNewlines) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(
      Line(10, "5", Pfx(10) + "ERROR:  boom#012" + Pfx(10) + "STATEMENT:  select 'a',#012#011'b'") +
      Line(10, "6", Pfx(10) + "LOG:  next"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].entry.message(), "boom");
  EXPECT_EQ(out[0].entry.statement(), "select ?,\n?");
  EXPECT_EQ(out[1].entry.message(), "next");
}

// syslog_sequence_numbers = off: "[part]" alone.
TEST(SyslogReassemblerTest, PartNumbersWithoutSequenceNumbersAreJoined) {
  LogParserOptions o = Options(LogFormat::kSyslog);
  o.syslog_sequence_numbers = false;
  Feeder f(o);
  f.Feed(Line(10, "1", Pfx(10) + "ERROR:  boom") + Line(10, "2", Pfx(10) + "STATEMENT:  select 1") +
         Line(10, "1", Pfx(10) + "LOG:  next"));
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].entry.statement(), "select ?");
  EXPECT_EQ(out[1].entry.message(), "next");
}

// A prefix without %m/%p: the time (when the header has a zone) and pid come from syslog.
TEST(SyslogReassemblerTest, HeaderFillsPidAndTimeThePrefixLacks) {
  Feeder f(Options(LogFormat::kSyslog, "%u@%d "));
  f.Feed("2026-12-04T21:40:33.250000+01:00 vm postgres[4242]: [1-1] alice@shop LOG:  hi\n");
  std::vector<AssembledEntry>& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.pid(), 4242);
  EXPECT_EQ(out[0].entry.user(), "alice");
  EXPECT_EQ(out[0].entry.timestamp().seconds(), 1796420433 - 3600);
  EXPECT_EQ(out[0].entry.timestamp().nanos(), 250000000);
}

TEST(SyslogReassemblerTest, QuietProcessEntryIsEmittedAfterTheIdleTimeout) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Line(10, "1-1", Pfx(10) + "LOG:  alone"));
  EXPECT_TRUE(f.out().empty());
  EXPECT_TRUE(f.assembler().has_pending());
  f.assembler().FlushIfIdle(f.now_ + 100ms, &f.out());
  EXPECT_TRUE(f.out().empty());
  f.assembler().FlushIfIdle(f.now_ + 250ms, &f.out());
  ASSERT_EQ(f.out().size(), 1u);
  EXPECT_EQ(f.out()[0].entry.message(), "alone");
  EXPECT_FALSE(f.assembler().has_pending());
}

// A busy server never leaves the file idle: the quiet process's entry (and the offset it
// holds back) goes out anyway once it is idle_timeout old.
TEST(SyslogReassemblerTest, QuietProcessEntryIsEmittedWhileOthersKeepLogging) {
  Feeder f(Options(LogFormat::kSyslog));
  f.Feed(Line(10, "1-1", Pfx(10) + "LOG:  disconnection"));
  for (int i = 0; i < 6; ++i) {
    f.now_ += 100ms;
    f.Feed(Line(11, std::to_string(i + 1) + "-1", Pfx(11) + "LOG:  busy"));
  }
  int quiet = 0;
  for (const AssembledEntry& a : f.out()) quiet += a.entry.message() == "disconnection" ? 1 : 0;
  EXPECT_EQ(quiet, 1) << "before any pause of the file";
}

TEST(SyslogReassemblerTest, ManyOpenProcessesAreBoundedOldestFirst) {
  auto matcher = StderrPrefixMatcher::Compile(kPrefix);
  ASSERT_TRUE(matcher.ok());
  SyslogReassemblerOptions o;
  o.max_pending_processes = 4;
  SyslogReassembler r(**matcher, o);
  std::vector<SyslogEntry> out;
  uint64_t offset = 0;
  for (int pid = 1; pid <= 6; ++pid) {
    const std::string l = Line(pid, "1-1", Pfx(pid) + "LOG:  x");
    offset += l.size();
    r.Push(LogLine{std::string_view(l).substr(0, l.size() - 1), false, offset}, {}, &out);
  }
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].pid, 1);
  EXPECT_EQ(out[1].pid, 2);
  EXPECT_EQ(r.stats().evicted, 2u);
}

// The hostile seed of the fuzz target (fuzz_seeds/syslog): every entry serializes, offsets
// never go backwards, and no literal of it leaves unmasked.
TEST(SyslogReassemblerTest, HostileSeedKeepsTheInvariants) {
  std::ifstream in(std::string(PGAGENT_SOURCE_DIR) +
                   "/collectord/logs/fuzz_seeds/syslog/hostile.log");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string seed = ss.str();
  ASSERT_FALSE(seed.empty());
  const size_t nl = seed.find('\n');
  Feeder f(Options(LogFormat::kSyslog, seed.substr(0, nl)));
  f.Feed(std::string_view(seed).substr(nl + 1));
  std::vector<AssembledEntry>& out = f.Finish();
  EXPECT_GE(out.size(), 8u);
  uint64_t last = 0;
  for (const AssembledEntry& a : out) {
    std::string bytes;
    LogEntry back;
    EXPECT_TRUE(a.entry.SerializeToString(&bytes) && back.ParseFromString(bytes));
    EXPECT_GE(a.end_offset, last);
    last = a.end_offset;
  }
  EXPECT_EQ(AllText(out).find("SECRET"), std::string::npos) << AllText(out);
}

}  // namespace
}  // namespace pgagent
