#include "collectord/logs/log_entry_assembler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

using std::chrono::steady_clock;
using namespace std::chrono_literals;
using v1::LogEntry;

constexpr char kUuid[] = "3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b";

// Feeds text to an assembler line by line, as the tailer would, and collects the entries.
class Feeder {
 public:
  explicit Feeder(LogParserOptions options, LogAssemblerOptions aopts = {}) {
    auto p = LogParser::Create(options);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    parser_ = std::move(p).value();
    assembler_ = std::make_unique<LogEntryAssembler>(*parser_, aopts);
  }
  // Pushes every '\n'-terminated line of text.
  void Feed(std::string_view text, bool truncated = false) {
    size_t p = 0;
    while (p < text.size()) {
      size_t nl = text.find('\n', p);
      if (nl == std::string_view::npos) nl = text.size();
      offset_ += nl - p + 1;
      assembler_->Push(LogLine{text.substr(p, nl - p), truncated, offset_}, now_, &out_);
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

LogParserOptions Stderr(std::string prefix = "%m [%p] %q%u@%d %a ") {
  LogParserOptions o;
  o.format = LogFormat::kStderr;
  o.log_line_prefix = std::move(prefix);
  return o;
}
LogParserOptions Format(LogFormat f) {
  LogParserOptions o;
  o.format = f;
  return o;
}

std::string CsvQuote(const std::string& v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A PG 15 csvlog record (26 columns); unnamed columns are empty.
std::string CsvRecord(const std::string& level, const std::string& message,
                      const std::string& detail = "", const std::string& query = "",
                      const std::string& app = "psql", const std::string& sqlstate = "00000") {
  std::vector<std::string> c = {"2026-11-27 10:26:01.123 UTC",
                                CsvQuote("alice"),
                                CsvQuote("shop"),
                                "4242",
                                CsvQuote("127.0.0.1:5555"),
                                "6746f0a1.1092",
                                "3",
                                CsvQuote("SELECT"),
                                "2026-11-27 10:25:00 UTC",
                                "3/12",
                                "0",
                                level,
                                sqlstate,
                                CsvQuote(message),
                                detail.empty() ? "" : CsvQuote(detail),
                                "",
                                "",
                                "",
                                "",
                                query.empty() ? "" : CsvQuote(query),
                                "",
                                "",
                                CsvQuote(app),
                                CsvQuote("client backend"),
                                "",
                                "-42"};
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) out += (i ? "," : "") + c[i];
  return out + "\n";
}

// ---- stderr -------------------------------------------------------------------------

TEST(LogEntryAssemblerTest, StderrEntryGetsAllPrefixFields) {
  Feeder f(Stderr());
  f.Feed("2026-11-27 10:26:01.123 UTC [4242] alice@shop psql LOG:  checkpoint starting: time\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  const LogEntry& e = out[0].entry;
  EXPECT_TRUE(e.parsed());
  EXPECT_EQ(e.timestamp().seconds(), 1795775161);
  EXPECT_EQ(e.timestamp().nanos(), 123000000);
  EXPECT_EQ(e.pid(), 4242);
  EXPECT_EQ(e.user(), "alice");
  EXPECT_EQ(e.database(), "shop");
  EXPECT_EQ(e.application_name(), "psql");
  EXPECT_EQ(e.level(), "LOG");
  EXPECT_EQ(e.event_class(), v1::LOG_EVENT_CLASS_CHECKPOINT);
  EXPECT_EQ(out[0].end_offset, f.offset_);
}

TEST(LogEntryAssemblerTest, StderrFollowUpLinesAndTabContinuationsJoinTheirEntry) {
  Feeder f(Stderr());
  f.Feed(
      "2026-11-27 10:26:01.123 UTC [7] a@d psql ERROR:  duplicate key value violates unique "
      "constraint \"t_pkey\"\n"
      "2026-11-27 10:26:01.123 UTC [7] a@d psql DETAIL:  Key (id)=(42) already exists.\n"
      "2026-11-27 10:26:01.123 UTC [7] a@d psql STATEMENT:  insert into t\n"
      "\tvalues (42, 'secret')\n"
      "2026-11-27 10:26:02.000 UTC [8] LOG:  next entry\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  const LogEntry& e = out[0].entry;
  EXPECT_EQ(e.level(), "ERROR");
  EXPECT_EQ(e.detail(), "Key (id)=(?) already exists.");
  EXPECT_EQ(e.statement(), "insert into t\nvalues (?, ?)");
  EXPECT_EQ(e.event_class(), v1::LOG_EVENT_CLASS_CONSTRAINT_ERROR);
  EXPECT_LT(out[0].end_offset, out[1].end_offset);
  EXPECT_EQ(out[1].entry.message(), "next entry");
}

TEST(LogEntryAssemblerTest, FollowUpFromAnotherPidStartsItsOwnEntry) {
  Feeder f(Stderr("%m [%p] "));
  f.Feed(
      "2026-11-27 10:26:01.123 UTC [7] ERROR:  a\n"
      "2026-11-27 10:26:01.123 UTC [8] STATEMENT:  select 1\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].entry.level(), "STATEMENT");
  EXPECT_TRUE(out[0].entry.statement().empty());
}

TEST(LogEntryAssemblerTest, MultiLineMessageKeepsItsLines) {
  Feeder f(Stderr("%m [%p] "));
  f.Feed("2026-11-27 10:26:01.123 UTC [7] LOG:  statement: select 1\n\t, 2\n\t, 3\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.message(), "statement: select ?\n, ?\n, ?");
  EXPECT_EQ(out[0].entry.statement(), "select ?\n, ?\n, ?");
}

TEST(LogEntryAssemblerTest, PendingEntryWaitsForIdleTimeout) {
  Feeder f(Stderr("%m [%p] "), LogAssemblerOptions{250ms, 1 << 20});
  f.Feed("2026-11-27 10:26:01.123 UTC [7] LOG:  alone\n");
  EXPECT_TRUE(f.out().empty());
  f.assembler().FlushIfIdle(f.now_ + 100ms, &f.out());
  EXPECT_TRUE(f.out().empty());
  f.assembler().FlushIfIdle(f.now_ + 250ms, &f.out());
  ASSERT_EQ(f.out().size(), 1u);
  EXPECT_FALSE(f.assembler().has_pending());
}

TEST(LogEntryAssemblerTest, LinesThatMatchNothingAreKeptUnparsedAndCounted) {
  Feeder f(Stderr("%m [%p] "));
  f.Feed(
      "2026-11-27 10:26:01.123 UTC [7] LOG:  ok\n"
      "cp: cannot stat 'x': password=hunter2\n"
      "2026-11-27 10:26:01.123 UTC [7] LOG:  ok again\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(out[1].entry.parsed());
  EXPECT_EQ(out[1].entry.message().find("hunter2"), std::string::npos);
  EXPECT_EQ(f.assembler().stats().unparsed, 1u);
  EXPECT_EQ(f.assembler().stats().entries, 3u);
  EXPECT_EQ(f.assembler().stats().lines, 3u);
}

TEST(LogEntryAssemblerTest, VerboseErrorsCarrySqlstateAndLocation) {
  Feeder f(Stderr("%m [%p] "));
  f.Feed(
      "2026-11-27 10:26:01.123 UTC [7] ERROR:  42601: syntax error at or near \"selec\"\n"
      "2026-11-27 10:26:01.123 UTC [7] LOCATION:  scanner_yyerror, scan.l:1188\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.sqlstate(), "42601");
  EXPECT_EQ(out[0].entry.message(), "syntax error at or near \"selec\"");
  EXPECT_EQ(out[0].entry.location(), "scanner_yyerror, scan.l:1188");
  EXPECT_EQ(out[0].entry.event_class(), v1::LOG_EVENT_CLASS_SYNTAX_ERROR);
}

TEST(LogEntryAssemblerTest, TruncatedLineFlagsItsEntry) {
  Feeder f(Stderr("%m [%p] "));
  f.Feed("2026-11-27 10:26:01.123 UTC [7] LOG:  statement: select 'aaaa\n", true);
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_EQ(f.assembler().stats().truncated, 1u);
}

TEST(LogEntryAssemblerTest, EntryLargerThanTheCapIsCutAndFlagged) {
  Feeder f(Stderr("%m [%p] "), LogAssemblerOptions{250ms, 100});
  f.Feed("2026-11-27 10:26:01.123 UTC [7] LOG:  statement: select\n");
  for (int i = 0; i < 50; ++i) f.Feed("\t, 1234567890\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_LE(out[0].entry.message().size(), 120u);
  EXPECT_EQ(out[0].end_offset, f.offset_);
}

// ---- bad input ----------------------------------------------------------------------

TEST(LogEntryAssemblerTest, GarbageNulAndInvalidUtf8NeverCrashAndComeOutValid) {
  for (LogFormat fmt : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    Feeder f(Format(fmt));
    std::string nul(1000, '\0');
    f.Feed(nul + "\n");
    f.Feed("\xff\xfe\xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 tail\n");
    f.Feed("2026-11-27 10:26:01.123 UTC [7] LOG:  bad \xc3 byte\n");
    f.Feed("{\"error_severity\":\"LOG\",\"message\":\"bad \xc3 byte \\ud800\"}\n");
    f.Feed("\"unterminated,csv\n");
    auto& out = f.Finish();
    ASSERT_FALSE(out.empty());
    for (const AssembledEntry& a : out) {
      std::string bytes;
      EXPECT_TRUE(a.entry.SerializeToString(&bytes));
      v1::LogEntry back;
      EXPECT_TRUE(back.ParseFromString(bytes))
          << "invalid UTF-8 leaked in format " << LogFormatName(fmt);
    }
    EXPECT_GT(f.assembler().stats().invalid_utf8, 0u);
  }
}

TEST(LogEntryAssemblerTest, TenMegabyteLineIsHandled) {
  for (LogFormat fmt : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    Feeder f(Format(fmt));
    std::string big = "2026-11-27 10:26:01.123 UTC [7] LOG:  statement: select '" +
                      std::string(10 << 20, 'x') + "'";
    f.Feed(big + "\n");
    f.Feed("2026-11-27 10:26:01.123 UTC [7] LOG:  after\n");
    auto& out = f.Finish();
    ASSERT_FALSE(out.empty());
    EXPECT_TRUE(out[0].entry.truncated() || out[0].entry.message().size() < (10u << 20));
    EXPECT_LE(out[0].entry.ByteSizeLong(), (size_t{4} << 20) + 1024);
  }
}

// ---- csvlog -------------------------------------------------------------------------

TEST(LogEntryAssemblerTest, CsvRecordMapsEveryColumn) {
  Feeder f(Format(LogFormat::kCsvlog));
  f.Feed(CsvRecord("ERROR", "syntax error at or near \"selec\"", "", "selec 1", "psql", "42601"));
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  const LogEntry& e = out[0].entry;
  EXPECT_TRUE(e.parsed());
  EXPECT_EQ(e.timestamp().seconds(), 1795775161);
  EXPECT_EQ(e.user(), "alice");
  EXPECT_EQ(e.database(), "shop");
  EXPECT_EQ(e.pid(), 4242);
  EXPECT_EQ(e.remote_host(), "127.0.0.1");
  EXPECT_EQ(e.session_id(), "6746f0a1.1092");
  EXPECT_EQ(e.session_line_num(), 3u);
  EXPECT_EQ(e.command_tag(), "SELECT");
  EXPECT_EQ(e.virtual_transaction_id(), "3/12");
  EXPECT_EQ(e.level(), "ERROR");
  EXPECT_EQ(e.sqlstate(), "42601");
  EXPECT_EQ(e.message(), "syntax error at or near \"selec\"");
  EXPECT_EQ(e.statement(), "selec ?");
  EXPECT_EQ(e.application_name(), "psql");
  EXPECT_EQ(e.backend_type(), "client backend");
  EXPECT_EQ(e.query_id(), -42);
  EXPECT_EQ(e.event_class(), v1::LOG_EVENT_CLASS_SYNTAX_ERROR);
}

TEST(LogEntryAssemblerTest, CsvFieldsWithNewlinesSpanPhysicalLines) {
  Feeder f(Format(LogFormat::kCsvlog));
  f.Feed(CsvRecord("LOG", "statement: select 1,\n 2,\n \"x\"") + CsvRecord("LOG", "second"));
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].entry.message(), "statement: select ?,\n ?,\n \"x\"");
  EXPECT_EQ(out[1].entry.message(), "second");
  EXPECT_EQ(f.assembler().stats().lines, 4u);
  EXPECT_EQ(out[1].end_offset, f.offset_);
}

TEST(LogEntryAssemblerTest, CsvColumnCountsOfOlderVersionsAreAccepted) {
  std::string pg15 = CsvRecord("LOG", "m");
  pg15.pop_back();
  std::string pg13 = pg15.substr(0, pg15.rfind(',', pg15.rfind(',') - 1));
  std::string pg12 = pg13.substr(0, pg13.rfind(','));
  Feeder f(Format(LogFormat::kCsvlog));
  f.Feed(pg13 + "\n" + pg12 + "\n" + "a,b,c\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[0].entry.parsed());
  EXPECT_EQ(out[0].entry.backend_type(), "client backend");
  EXPECT_TRUE(out[1].entry.parsed());
  EXPECT_EQ(out[1].entry.backend_type(), "");
  EXPECT_FALSE(out[2].entry.parsed());
}

TEST(LogEntryAssemblerTest, UnterminatedCsvQuoteIsBoundedAndEmittedUnparsed) {
  Feeder f(Format(LogFormat::kCsvlog), LogAssemblerOptions{250ms, 1000});
  f.Feed("2026-11-27 10:26:01.123 UTC,\"never closed\n");
  for (int i = 0; i < 100; ++i) f.Feed(std::string(100, 'y') + "\n");
  EXPECT_TRUE(f.assembler().has_pending());
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].entry.parsed());
  EXPECT_TRUE(out[0].entry.truncated());
  EXPECT_LE(out[0].entry.message().size(), 1000u);
}

// ---- jsonlog ------------------------------------------------------------------------

TEST(LogEntryAssemblerTest, JsonlogObjectMapsEveryKey) {
  Feeder f(Format(LogFormat::kJsonlog));
  f.Feed(R"({"timestamp":"2026-11-27 10:26:01.123 UTC","user":"alice","dbname":"shop",)"
         R"("pid":4242,"remote_host":"127.0.0.1","remote_port":5555,"session_id":"6746f0a1.1092",)"
         R"("line_num":3,"ps":"SELECT","session_start":"2026-11-27 10:25:00 UTC","vxid":"3/12",)"
         R"("txid":0,"error_severity":"ERROR","state_code":"42601",)"
         R"("message":"syntax error at or near \"selec\"","statement":"selec 1\n\t2",)"
         R"("cursor_position":1,"func_name":"scanner_yyerror","file_name":"scan.l",)"
         R"("file_line_num":1188,"application_name":"psql","backend_type":"client backend",)"
         R"("leader_pid":12,"query_id":-42})"
         "\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  const LogEntry& e = out[0].entry;
  EXPECT_TRUE(e.parsed());
  EXPECT_EQ(e.timestamp().seconds(), 1795775161);
  EXPECT_EQ(e.user(), "alice");
  EXPECT_EQ(e.pid(), 4242);
  EXPECT_EQ(e.remote_host(), "127.0.0.1");
  EXPECT_EQ(e.session_line_num(), 3u);
  EXPECT_EQ(e.command_tag(), "SELECT");
  EXPECT_EQ(e.sqlstate(), "42601");
  EXPECT_EQ(e.message(), "syntax error at or near \"selec\"");
  EXPECT_EQ(e.statement(), "selec ?\n\t?");
  EXPECT_EQ(e.location(), "scanner_yyerror, scan.l:1188");
  EXPECT_EQ(e.leader_pid(), 12);
  EXPECT_EQ(e.query_id(), -42);
  EXPECT_EQ(e.backend_type(), "client backend");
}

TEST(LogEntryAssemblerTest, JsonUnicodeEscapesAreDecoded) {
  Feeder f(Format(LogFormat::kJsonlog));
  f.Feed(R"({"error_severity":"LOG","message":"caf\u00e9 \ud83d\ude00 \/"})"
         "\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.message(), "caf\xc3\xa9 \xf0\x9f\x98\x80 /");
}

TEST(LogEntryAssemblerTest, MalformedJsonIsUnparsed) {
  Feeder f(Format(LogFormat::kJsonlog));
  f.Feed(
      "{\"error_severity\":\"LOG\",\"message\":\"x\"\n"
      "{\"error_severity\":\"LOG\",\"message\":\"x\"} trailing\n"
      "{\"message\":\"no level\"}\n"
      "[1,2]\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 4u);
  for (const auto& a : out) EXPECT_FALSE(a.entry.parsed());
  EXPECT_EQ(f.assembler().stats().unparsed, 4u);
}

// ---- enrichment through the assembler -----------------------------------------------

TEST(LogEntryAssemblerTest, CorrelationIdComesFromApplicationNameOrComment) {
  Feeder f(Stderr());
  f.Feed(std::string("2026-11-27 10:26:01.123 UTC [7] a@d bitville-") + kUuid +
         " LOG:  duration: 1.000 ms  statement: select 1\n");
  f.Feed(std::string("2026-11-27 10:26:01.123 UTC [8] a@d psql LOG:  duration: 2.5 ms  "
                     "statement: /* correlation:") +
         kUuid + " */ select 'x'\n");
  f.Feed("2026-11-27 10:26:01.123 UTC [9] a@d psql LOG:  duration: 2.5 ms  statement: select 2\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].entry.correlation_id(), kUuid);
  EXPECT_EQ(out[1].entry.correlation_id(), kUuid);
  EXPECT_EQ(out[1].entry.statement(), std::string("/* correlation:") + kUuid + " */ select ?");
  EXPECT_FALSE(out[2].entry.has_correlation_id());
  EXPECT_DOUBLE_EQ(out[1].entry.duration_ms(), 2.5);
  EXPECT_EQ(out[1].entry.event_class(), v1::LOG_EVENT_CLASS_SLOW_STATEMENT);
}

TEST(LogEntryAssemblerTest, CreateRolePasswordNeverLeavesInAnyField) {
  Feeder f(Stderr());
  f.Feed(
      "2026-11-27 10:26:01.123 UTC [7] a@d psql LOG:  statement: CREATE ROLE bob "
      "PASSWORD 'hunter2'\n"
      "2026-11-27 10:26:01.123 UTC [7] a@d psql ERROR:  role \"bob\" already exists\n"
      "2026-11-27 10:26:01.123 UTC [7] a@d psql STATEMENT:  ALTER ROLE bob PASSWORD "
      "'hunter2'\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  for (const auto& a : out) EXPECT_EQ(a.entry.DebugString().find("hunter2"), std::string::npos);
}

TEST(LogEntryAssemblerTest, RawTextIsKeptWhenRedactionIsOff) {
  LogParserOptions o = Stderr();
  o.redact = false;
  Feeder f(o);
  f.Feed("2026-11-27 10:26:01.123 UTC [7] a@d psql LOG:  statement: select 'kept'\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.statement(), "select 'kept'");
}

TEST(LogEntryAssemblerTest, UnterminatedQuoteInStatementFailsClosed) {
  Feeder f(Stderr());
  f.Feed(
      "2026-11-27 10:26:01.123 UTC [7] a@d psql ERROR:  unterminated quoted string\n"
      "2026-11-27 10:26:01.123 UTC [7] a@d psql STATEMENT:  select 'secret\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.statement(), "select ?");
  EXPECT_GE(f.assembler().stats().redaction_failed, 1u);
}

// ---- redaction of assembled entries (issue 14) ---------------------------------------------

constexpr char kP[] = "2026-11-27 10:26:01.123 UTC [7] a@d psql ";

void ExpectNoSecret(const std::vector<AssembledEntry>& out) {
  for (const auto& a : out) {
    const std::string all = a.entry.DebugString();
    for (const char* secret : {"secret", "SECRET", "hunter2", "72639", "4897", "key_line1"}) {
      EXPECT_EQ(all.find(secret), std::string::npos) << secret << " in:\n" << all;
    }
  }
}

TEST(LogEntryAssemblerTest, MultiLineDetailContextAndParametersAreRedactedWhole) {
  Feeder f(Stderr());
  f.Feed(std::string(kP) + "ERROR:  duplicate key value violates unique constraint \"t_pkey\"\n" +
         kP + "DETAIL:  Key (k)=(key_line1\n\tsecret_key) already exists.\n" + kP +
         "CONTEXT:  SQL statement \"INSERT INTO t\n\t    VALUES ('secret', 1)\"\n"
         "\tPL/pgSQL function f() line 3 at SQL statement\n" +
         kP + "STATEMENT:  SELECT f()\n" + kP +
         "LOG:  duration: 0.100 ms  execute <unnamed>: INSERT INTO t VALUES ($1, $2, $3)\n" + kP +
         "DETAIL:  parameters: $1 = '1234', $2 = 'abc\n\tdef secret', $3 = 'secret'\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  ExpectNoSecret(out);
  EXPECT_EQ(out[0].entry.detail(), "Key (k)=(?) already exists.");
  EXPECT_EQ(out[0].entry.context(),
            "SQL statement \"INSERT INTO t\n    VALUES (?, ?)\"\n"
            "PL/pgSQL function f() line 3 at SQL statement");
  EXPECT_EQ(out[1].entry.detail(), "parameters: $1 = '?', $2 = '?', $3 = '?'");
  EXPECT_EQ(f.assembler().stats().redaction_failed, 0u);
}

TEST(LogEntryAssemblerTest, MultiLineFieldsAreRedactedWholeInCsvlogAndJsonlog) {
  Feeder csv(Format(LogFormat::kCsvlog));
  csv.Feed(CsvRecord("ERROR", "duplicate key value violates unique constraint \"t_pkey\"",
                     "Key (k)=(key_line1\nsecret_key) already exists.",
                     "INSERT INTO t VALUES ('key_line1\nsecret_key')"));
  ExpectNoSecret(csv.Finish());
  ASSERT_EQ(csv.out().size(), 1u);
  EXPECT_EQ(csv.out()[0].entry.detail(), "Key (k)=(?) already exists.");
  Feeder json(Format(LogFormat::kJsonlog));
  json.Feed(
      R"({"timestamp":"2026-11-27 10:26:01.123 UTC","pid":7,"error_severity":"ERROR",)"
      R"("message":"x","detail":"parameters: $1 = 'abc\ndef secret', $2 = 'secret'",)"
      R"("context":"SQL statement \"INSERT INTO t\n VALUES ('secret')\"\nPL/pgSQL function f() )"
      R"(line 3 at SQL statement"})"
      "\n");
  ExpectNoSecret(json.Finish());
  ASSERT_EQ(json.out().size(), 1u);
  EXPECT_EQ(json.out()[0].entry.detail(), "parameters: $1 = '?', $2 = '?'");
}

TEST(LogEntryAssemblerTest, LinesOfAWrongPrefixAreMaskedFailClosedWithTheirContinuations) {
  Feeder f(Stderr("%t [%p] "));  // the server writes another prefix
  f.Feed(std::string(kP) +
         "LOG:  duration: 0.168 ms  statement: INSERT INTO pgbench_history VALUES (2, 1, 72639, "
         "-4897, 'secret\n\tsecret continued')\n" +
         kP + "DETAIL:  Key (k)=(secret) already exists.\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  ExpectNoSecret(out);
  EXPECT_FALSE(out[0].entry.parsed());
  EXPECT_NE(out[0].entry.message().find("INSERT INTO pgbench_history VALUES ("), std::string::npos);
  EXPECT_EQ(f.assembler().stats().redaction_failed, 2u);
  EXPECT_EQ(f.assembler().stats().unparsed, 2u);
}

TEST(LogEntryAssemblerTest, UnparsedLinesStayRawWhenRedactionIsOff) {
  LogParserOptions o = Stderr("%t [%p] ");
  o.redact = false;
  Feeder f(o);
  f.Feed("not a prefix 'kept' 42\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.message(), "not a prefix 'kept' 42");
}

TEST(LogEntryAssemblerTest, OneSpaceAfterMsStillCarriesTheStatement) {
  Feeder f(Stderr());
  f.Feed(std::string(kP) + "LOG:  duration: 0.060 ms statement: SELECT 'secret'\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].entry.statement(), "SELECT ?");
  EXPECT_EQ(out[0].entry.message(), "duration: 0.060 ms statement: SELECT ?");
  EXPECT_DOUBLE_EQ(out[0].entry.duration_ms(), 0.060);
}

TEST(LogEntryAssemblerTest, SpaceIndentedLinesContinueTheOpenEntry) {
  Feeder f(Stderr());
  f.Feed(std::string(kP) + "LOG:  statement: SELECT * FROM t WHERE a = 'secret\n" +
         "        secret' AND b = 1\n        LIMIT 1000\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].entry.parsed());
  EXPECT_EQ(out[0].entry.statement(),
            "SELECT * FROM t WHERE a = ? AND b = ?\n        LIMIT ?");
  ExpectNoSecret(out);
}

TEST(LogEntryAssemblerTest, StatementEchoesInMessagesAndDetailsAreMasked) {
  Feeder f(Stderr());
  f.Feed(std::string(kP) +
         "ERROR:  unterminated quoted string at or near \"'secret\" at character 28\n" + kP +
         "STATEMENT:  ALTER ROLE x PASSWORD 'secret\n" + kP +
         "LOG:  duration: 0.2 ms  statement: EXECUTE p('secret') /* password=hunter2 */\n" + kP +
         "DETAIL:  prepare: PREPARE p AS SELECT $1 || 'secret'\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  ExpectNoSecret(out);
  EXPECT_EQ(out[0].entry.message().rfind("unterminated quoted string at or near \"?\"", 0), 0u)
      << out[0].entry.message();
  EXPECT_EQ(out[1].entry.detail(), "prepare: PREPARE p AS SELECT $1 || ?");
  EXPECT_EQ(out[1].entry.statement(), "EXECUTE p(?) /* ? */");
}

TEST(LogEntryAssemblerTest, AutoExplainPlansKeepNumbersAndLoseLiterals) {
  Feeder f(Stderr());
  f.Feed(std::string(kP) +
         "LOG:  duration: 0.053 ms  plan:\n"
         "\tQuery Text: select * from pg_class where relname = 'secret'\n"
         "\tIndex Scan using pg_class_relname_nsp_index on pg_class  (cost=0.28..8.29 rows=1 "
         "width=265) (actual time=0.010..0.011 rows=0 loops=1)\n"
         "\t  Index Cond: (relname = 'secret'::name)\n"
         "\t  Buffers: shared hit=2\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  ExpectNoSecret(out);
  const std::string& m = out[0].entry.message();
  EXPECT_NE(m.find("(actual time=0.010..0.011 rows=0 loops=1)"), std::string::npos) << m;
  EXPECT_NE(m.find("Index Cond: (relname = ?::name)"), std::string::npos) << m;
  EXPECT_NE(m.find("shared hit=2"), std::string::npos) << m;
  EXPECT_TRUE(out[0].entry.statement().empty());
}

TEST(LogEntryAssemblerTest, UnreadablePlansAreDroppedAndCounted) {
  Feeder f(Stderr());
  f.Feed(std::string(kP) + "LOG:  duration: 0.053 ms  plan:\n\t{\n\t  \"Query Text\": \"secret\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 1u);
  ExpectNoSecret(out);
  EXPECT_EQ(out[0].entry.message(), "duration: 0.053 ms  plan:\n<plan dropped: unreadable format>");
  EXPECT_EQ(f.assembler().stats().plans_dropped, 1u);
}

TEST(LogEntryAssemblerTest, BinaryJunkAndHugeUnterminatedFieldsAreMaskedAndCounted) {
  LogAssemblerOptions aopts;
  aopts.max_entry_bytes = 16 << 20;
  Feeder f(Stderr(), aopts);
  const std::string junk("\x01\xff\xfe word '\x80 \0 secret", 21);
  std::string big(10 << 20, 'x');
  big.replace(1000, 6, "secret");
  f.Feed(junk + "\n" + kP + "LOG:  statement: SELECT '" + big + "\n");
  auto& out = f.Finish();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].entry.message().find("secret"), std::string::npos);
  EXPECT_NE(out[0].entry.message().find(" word ?"), std::string::npos);  // words stay
  EXPECT_EQ(out[1].entry.statement(), "SELECT ?");
  EXPECT_GE(f.assembler().stats().redaction_failed, 2u);
}

}  // namespace
}  // namespace pgagent
