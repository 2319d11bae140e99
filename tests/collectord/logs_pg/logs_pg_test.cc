// One workload against the shared test cluster (slow statements, errors, a lock wait, a
// deadlock, correlation-tagged statements, a password), then the stderr, csvlog and jsonlog
// files it wrote are parsed: the three formats must yield the same entries.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "collectord/logs/log_entry_assembler.h"
#include "tests/harness/pg_cluster.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using testing::PgCluster;
using v1::LogEntry;

constexpr char kApp[] = "logs-pg-test";
constexpr char kAppUuid[] = "11111111-2222-3333-4444-555555555555";
constexpr char kCommentUuid[] = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
constexpr char kDoneMarker[] = "logs-pg-test-done";

// A libpq connection, closed on destruction.
class Conn {
 public:
  Conn(const PgCluster& c, const std::string& app)
      : conn_(PQconnectdb((c.ConnString() + " application_name=" + app).c_str())) {
    EXPECT_EQ(PQstatus(conn_), CONNECTION_OK) << PQerrorMessage(conn_);
  }
  ~Conn() { PQfinish(conn_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Runs sql; returns the SQLSTATE of the error, "" on success.
  std::string Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string state = Sqlstate(r);
    PQclear(r);
    return state;
  }
  void Send(const std::string& sql) { EXPECT_EQ(PQsendQuery(conn_, sql.c_str()), 1); }
  // Waits for the result of Send(); returns its SQLSTATE ("" on success).
  std::string Wait() {
    std::string state;
    while (PGresult* r = PQgetResult(conn_)) {
      if (state.empty()) state = Sqlstate(r);
      PQclear(r);
    }
    return state;
  }

 private:
  static std::string Sqlstate(PGresult* r) {
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) return "";
    const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return code != nullptr ? code : "?????";
  }
  PGconn* conn_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ReadAll(const PgCluster& c, const std::string& suffix) {
  std::string all;
  for (const std::string& f : c.LogFiles(suffix)) all += ReadFile(f);
  return all;
}

std::vector<AssembledEntry> Parse(LogFormat format, const std::string& text, LogParseStats* stats) {
  LogParserOptions o;
  o.format = format;
  o.log_line_prefix = "%m [%p] %q%u@%d %a ";
  auto parser = LogParser::Create(o);
  EXPECT_TRUE(parser.ok()) << parser.status().ToString();
  LogEntryAssembler assembler(**parser);
  std::vector<AssembledEntry> out;
  uint64_t offset = 0;
  size_t p = 0;
  while (p < text.size()) {
    size_t nl = text.find('\n', p);
    if (nl == std::string::npos) break;  // a partial last line waits, as in the tailer
    offset = nl + 1;
    assembler.Push(LogLine{std::string_view(text).substr(p, nl - p), false, offset},
                   std::chrono::steady_clock::now(), &out);
    p = nl + 1;
  }
  assembler.Flush(&out);
  *stats = assembler.stats();
  return out;
}

bool Ours(const LogEntry& e) {
  return e.application_name() == kApp || e.application_name().rfind("bitville-", 0) == 0;
}

// What must agree across formats (stderr with this prefix has no sqlstate or session id).
std::string Key(const LogEntry& e) {
  std::ostringstream k;
  k << e.timestamp().seconds() << "." << e.timestamp().nanos() << " pid=" << e.pid() << " "
    << e.user() << "@" << e.database() << " app=" << e.application_name() << " " << e.level()
    << ": " << e.message() << " | detail=" << e.detail() << " | hint=" << e.hint()
    << " | context=" << e.context() << " | statement=" << e.statement()
    << " | corr=" << e.correlation_id()
    << " | dur=" << (e.has_duration_ms() ? std::to_string(e.duration_ms()) : "-")
    << " | class=" << v1::LogEventClass_Name(e.event_class()) << " | parsed=" << e.parsed();
  return k.str();
}

class LogsPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PgCluster& c = PgCluster::Shared();
    ASSERT_TRUE(c.SetAndReload("log_min_duration_statement", "0").ok());
    ASSERT_TRUE(c.SetAndReload("log_lock_waits", "on").ok());
    ASSERT_TRUE(c.SetAndReload("deadlock_timeout", "100ms").ok());
    RunWorkload(c);
    WaitForMarker(c);
    for (LogFormat f : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
      const char* suffix = f == LogFormat::kStderr   ? ".log"
                           : f == LogFormat::kCsvlog ? ".csv"
                                                     : ".json";
      LogParseStats stats;
      std::vector<AssembledEntry> all = Parse(f, ReadAll(c, suffix), &stats);
      stats_[static_cast<int>(f)] = stats;
      for (AssembledEntry& a : all) {
        if (Ours(a.entry)) entries_[static_cast<int>(f)].push_back(std::move(a.entry));
      }
    }
  }

  static void RunWorkload(PgCluster& c) {
    Conn a(c, kApp), b(c, kApp), tagged(c, std::string("bitville-") + kAppUuid);
    ASSERT_EQ(a.Exec("CREATE TABLE logs_pg_t (id int PRIMARY KEY, v text)"), "");
    ASSERT_EQ(a.Exec("INSERT INTO logs_pg_t VALUES (1, 'one'), (2, 'two')"), "");
    ASSERT_EQ(a.Exec(std::string("SELECT pg_sleep(0.05) /* correlation:") + kCommentUuid + " */"),
              "");
    ASSERT_EQ(tagged.Exec("SELECT 42 AS answer, 'tagged' AS label"), "");
    ASSERT_EQ(a.Exec("SELECT 1,\n  2,\n  'three'"), "");
    ASSERT_EQ(a.Exec("SELEC 1"), "42601");
    ASSERT_EQ(a.Exec("INSERT INTO logs_pg_t VALUES (1, 'dup-secret')"), "23505");
    ASSERT_EQ(a.Exec("CREATE ROLE logs_pg_role PASSWORD 'hunter2'"), "");
    ASSERT_EQ(a.Exec("CREATE ROLE logs_pg_role PASSWORD 'hunter2'"), "42710");
    // Lock wait: b waits on a's row lock longer than deadlock_timeout, then gets it.
    ASSERT_EQ(b.Exec("SET lock_timeout = '10s'"), "");
    ASSERT_EQ(a.Exec("BEGIN"), "");
    ASSERT_EQ(a.Exec("UPDATE logs_pg_t SET v = 'locked' WHERE id = 1"), "");
    b.Send("UPDATE logs_pg_t SET v = 'waited' WHERE id = 1");
    WaitForLogText(c, "still waiting for");  // logged after deadlock_timeout (100 ms)
    ASSERT_EQ(a.Exec("COMMIT"), "");
    ASSERT_EQ(b.Wait(), "");
    // Deadlock: a holds 1 and wants 2, b holds 2 and wants 1.
    ASSERT_EQ(a.Exec("BEGIN"), "");
    ASSERT_EQ(b.Exec("BEGIN"), "");
    ASSERT_EQ(a.Exec("UPDATE logs_pg_t SET v = 'a' WHERE id = 1"), "");
    ASSERT_EQ(b.Exec("UPDATE logs_pg_t SET v = 'b' WHERE id = 2"), "");
    a.Send("UPDATE logs_pg_t SET v = 'a' WHERE id = 2");
    std::this_thread::sleep_for(50ms);
    b.Send("UPDATE logs_pg_t SET v = 'b' WHERE id = 1");
    std::string ra = a.Wait(), rb = b.Wait();
    EXPECT_TRUE(ra == "40P01" || rb == "40P01") << ra << " / " << rb;
    a.Exec("ROLLBACK");
    b.Exec("ROLLBACK");
    ASSERT_EQ(a.Exec("DROP TABLE logs_pg_t"), "");
    ASSERT_EQ(a.Exec("DROP ROLE logs_pg_role"), "");
    ASSERT_EQ(a.Exec(std::string("SELECT '") + kDoneMarker + "'"), "");
  }

  // Waits (bounded) until the server's stderr log holds `text`.
  static void WaitForLogText(const PgCluster& c, const std::string& text) {
    for (int i = 0; i < 400; ++i) {
      if (ReadAll(c, ".log").find(text) != std::string::npos) return;
      std::this_thread::sleep_for(25ms);
    }
    FAIL() << "the server never logged '" << text << "'";
  }

  // The logging collector writes asynchronously: wait (bounded) until every file has the
  // last statement.
  static void WaitForMarker(const PgCluster& c) {
    for (int i = 0; i < 200; ++i) {
      bool all = true;
      for (const char* suffix : {".log", ".csv", ".json"}) {
        all = all && ReadAll(c, suffix).find(kDoneMarker) != std::string::npos;
      }
      if (all) return;
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the server did not log the end marker in all three files";
  }

  static const std::vector<LogEntry>& Of(LogFormat f) { return entries_[static_cast<int>(f)]; }
  static std::vector<const LogEntry*> Find(LogFormat f, std::string_view needle) {
    std::vector<const LogEntry*> out;
    for (const LogEntry& e : Of(f)) {
      if (e.DebugString().find(needle) != std::string::npos) out.push_back(&e);
    }
    return out;
  }

  static inline std::vector<LogEntry> entries_[3];
  static inline LogParseStats stats_[3];
};

TEST_F(LogsPgTest, EveryLineOfEveryFormatParses) {
  for (int f = 0; f < 3; ++f) {
    EXPECT_EQ(stats_[f].unparsed, 0u) << LogFormatName(static_cast<LogFormat>(f));
    EXPECT_GT(stats_[f].entries, 10u);
    EXPECT_EQ(stats_[f].unknown_timezone, 0u);
  }
}

TEST_F(LogsPgTest, TheThreeFormatsYieldTheSameEntries) {
  const auto& stderr_entries = Of(LogFormat::kStderr);
  ASSERT_GT(stderr_entries.size(), 10u);
  for (LogFormat f : {LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    const auto& other = Of(f);
    ASSERT_EQ(other.size(), stderr_entries.size()) << LogFormatName(f);
    for (size_t i = 0; i < other.size(); ++i) {
      EXPECT_EQ(Key(other[i]), Key(stderr_entries[i])) << LogFormatName(f) << " entry " << i;
    }
  }
}

TEST_F(LogsPgTest, SlowStatementsCarryDurationAndStatement) {
  for (LogFormat f : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    auto sleeps = Find(f, "pg_sleep");
    ASSERT_FALSE(sleeps.empty()) << LogFormatName(f);
    const LogEntry& e = *sleeps.front();
    ASSERT_TRUE(e.has_duration_ms());
    EXPECT_GE(e.duration_ms(), 50.0);
    EXPECT_EQ(e.event_class(), v1::LOG_EVENT_CLASS_SLOW_STATEMENT);
    EXPECT_EQ(e.statement(),
              std::string("SELECT pg_sleep(?) /* correlation:") + kCommentUuid + " */");
    EXPECT_EQ(e.correlation_id(), kCommentUuid);
  }
}

TEST_F(LogsPgTest, ApplicationNameCorrelatesItsStatements) {
  for (LogFormat f : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    auto tagged = Find(f, "AS answer");
    ASSERT_EQ(tagged.size(), 1u) << LogFormatName(f);
    EXPECT_EQ(tagged[0]->correlation_id(), kAppUuid);
    EXPECT_EQ(tagged[0]->statement(), "SELECT ? AS answer, ? AS label");
  }
}

TEST_F(LogsPgTest, ErrorsAreClassifiedWithTheirStatements) {
  for (LogFormat f : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    bool syntax = false, constraint = false, deadlock = false, lock_wait = false;
    for (const LogEntry& e : Of(f)) {
      if (e.event_class() == v1::LOG_EVENT_CLASS_SYNTAX_ERROR) {
        syntax = true;
        EXPECT_EQ(e.level(), "ERROR");
        EXPECT_EQ(e.statement(), "SELEC ?");
      }
      if (e.event_class() == v1::LOG_EVENT_CLASS_CONSTRAINT_ERROR) {
        constraint = true;
        EXPECT_EQ(e.detail(), "Key (id)=(?) already exists.");
        EXPECT_EQ(e.statement(), "INSERT INTO logs_pg_t VALUES (?, ?)");
      }
      // The ERROR carries the report; log_lock_waits adds "process N detected deadlock".
      if (e.event_class() == v1::LOG_EVENT_CLASS_DEADLOCK && e.level() == "ERROR") {
        deadlock = true;
        EXPECT_EQ(e.sqlstate().empty() ? "40P01" : e.sqlstate(), "40P01");
        EXPECT_NE(e.detail().find("UPDATE logs_pg_t SET v = ? WHERE id = ?"), std::string::npos)
            << e.detail();
      }
      if (e.event_class() == v1::LOG_EVENT_CLASS_LOCK_WAIT) lock_wait = true;
    }
    EXPECT_TRUE(syntax && constraint && deadlock && lock_wait)
        << LogFormatName(f) << " syntax=" << syntax << " constraint=" << constraint
        << " deadlock=" << deadlock << " lock_wait=" << lock_wait;
  }
}

TEST_F(LogsPgTest, MultiLineStatementsStayWhole) {
  for (LogFormat f : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    auto found = Find(f, "SELECT ?,");
    ASSERT_EQ(found.size(), 1u) << LogFormatName(f);
    EXPECT_EQ(found[0]->statement(), "SELECT ?,\n  ?,\n  ?");
  }
}

TEST_F(LogsPgTest, SecretsAndLiteralsNeverLeave) {
  for (LogFormat f : {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog}) {
    for (const LogEntry& e : Of(f)) {
      std::string all = e.DebugString();
      EXPECT_EQ(all.find("hunter2"), std::string::npos) << all;
      EXPECT_EQ(all.find("dup-secret"), std::string::npos) << all;
    }
    EXPECT_FALSE(Find(f, "CREATE ROLE logs_pg_role PASSWORD ?").empty()) << LogFormatName(f);
  }
}

}  // namespace
}  // namespace pgagent
