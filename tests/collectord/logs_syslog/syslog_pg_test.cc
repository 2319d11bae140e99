// A real PostgreSQL with log_destination = 'stderr,syslog' whose syslog(3) calls reach a
// real rsyslogd: the server runs in a private mount namespace in which rsyslog's private
// socket is bind-mounted over /dev/log (tests/harness/private_dev_log.sh; the machine's own
// /dev/log is never touched). The workload has multi-line statements, literals, correlation
// tags, errors with DETAIL and STATEMENT, a statement longer than PostgreSQL's 900-byte
// syslog parts, sessions logging at the same time, and a phase with syslog_split_messages
// off. Both files rsyslog writes (traditional and high-precision timestamps) must yield the
// entries of the stderr file the logging collector wrote at the same time, field by field,
// redacted and raw, with every literal masked.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "collectord/logs/log_entry_assembler.h"
#include "tests/harness/pg_cluster.h"
#include "tests/harness/syslog_daemon.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using testing::PgCluster;
using testing::SyslogDaemon;
using v1::LogEntry;

constexpr char kApp[] = "logs-syslog-test";
constexpr char kAppUuid[] = "11111111-2222-3333-4444-666666666666";
constexpr char kCommentUuid[] = "aaaaaaaa-bbbb-cccc-dddd-ffffffffffff";
constexpr char kDoneMarker[] = "/* logs-syslog-test-done */";
constexpr int kSessions = 4;
constexpr int kRounds = 15;

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
    Send(sql);
    return Wait();
  }
  void Send(const std::string& sql) { EXPECT_EQ(PQsendQuery(conn_, sql.c_str()), 1); }
  std::string Wait() {
    std::string state;
    while (PGresult* r = PQgetResult(conn_)) {
      const ExecStatusType s = PQresultStatus(r);
      if (state.empty() && s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        const char* code = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        state = code != nullptr ? code : "?????";
      }
      PQclear(r);
    }
    return state;
  }
  int pid() const { return PQbackendPID(conn_); }

 private:
  PGconn* conn_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Parsed {
  std::vector<LogEntry> ours;  // entries of the test's sessions
  LogParseStats stats;
};

Parsed Parse(LogFormat format, const std::string& text, bool redact) {
  LogParserOptions o;
  o.format = format;
  o.log_line_prefix = "%m [%p] %q%u@%d %a ";
  o.redact = redact;
  auto parser = LogParser::Create(o);
  EXPECT_TRUE(parser.ok()) << parser.status().ToString();
  LogEntryAssembler assembler(**parser);
  std::vector<AssembledEntry> out;
  size_t p = 0;
  while (p < text.size()) {
    const size_t nl = text.find('\n', p);
    if (nl == std::string::npos) break;  // a partial last line waits, as in the tailer
    assembler.Push(LogLine{std::string_view(text).substr(p, nl - p), false, nl + 1},
                   std::chrono::steady_clock::now(), &out);
    p = nl + 1;
  }
  assembler.Flush(&out);
  Parsed parsed;
  parsed.stats = assembler.stats();
  for (AssembledEntry& a : out) {
    const std::string& app = a.entry.application_name();
    if (app == kApp || app.rfind("bitville-", 0) == 0) parsed.ours.push_back(std::move(a.entry));
  }
  return parsed;
}

// In time order, then by pid (syslog entries complete per process, in any order).
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

// A statement of ~3 kB: PostgreSQL sends it in several 900-byte parts, cut at spaces.
std::string LongStatement() {
  std::string sql = "SELECT 'secret-long-start'";
  for (int i = 0; i < 120; ++i) sql += " || 'secretpart" + std::to_string(i) + "' || ' '";
  return sql;
}

class SyslogPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(geteuid(), 0u) << "needs root: unshare --mount for the private /dev/log";
    auto syslog = SyslogDaemon::Start();
    ASSERT_TRUE(syslog.ok()) << syslog.status().ToString();
    syslog_ = std::move(syslog).value().release();
    testing::PgClusterOptions o;
    o.all_log_formats = false;
    o.settings = {{"log_destination", "stderr,syslog"},
                  {"log_min_duration_statement", "0"},
                  {"syslog_facility", "local0"}};
    o.start_prefix = syslog_->ServerStartPrefix();
    auto cluster = PgCluster::Start(o);
    ASSERT_TRUE(cluster.ok()) << cluster.status().ToString() << "\n" << syslog_->LogTail();
    cluster_ = std::move(cluster).value().release();
    RunWorkload();
    WaitForMarker();
  }
  static void TearDownTestSuite() {
    // PGAGENT_SYSLOG_CAPTURE_DIR=<dir>: keep the files (fixtures of syslog_reassembler_test).
    if (const char* dir = std::getenv("PGAGENT_SYSLOG_CAPTURE_DIR"); dir != nullptr && syslog_) {
      std::ofstream(std::string(dir) + "/syslog_traditional.log")
          << ReadFile(syslog_->traditional_file());
      std::ofstream(std::string(dir) + "/syslog_rfc3339.log") << ReadFile(syslog_->rfc3339_file());
      if (cluster_) std::ofstream(std::string(dir) + "/syslog_stderr_twin.log") << StderrText();
    }
    delete cluster_;
    delete syslog_;
  }

  static void RunWorkload() {
    PgCluster& c = *cluster_;
    Conn a(c, kApp), tagged(c, std::string("bitville-") + kAppUuid);
    pids_["a"] = a.pid();
    pids_["tagged"] = tagged.pid();
    ASSERT_EQ(a.Exec("CREATE TABLE syslog_t (k text PRIMARY KEY)"), "");
    ASSERT_EQ(a.Exec("INSERT INTO syslog_t VALUES ('secret-key-1')"), "");
    ASSERT_EQ(a.Exec("INSERT INTO syslog_t VALUES ('secret-key-1')"), "23505");  // DETAIL
    ASSERT_EQ(a.Exec(std::string("/* correlation:") + kCommentUuid +
                     " */ SELECT 'secret-commented',\n  42424242,\n\t'secret-third-line'"),
              "");
    ASSERT_EQ(tagged.Exec("SELECT 1 AS a,\n  'secret-tagged' AS b"), "");
    ASSERT_EQ(a.Exec("SELECT 'secret-err' || 1/0"), "22012");
    ASSERT_EQ(a.Exec(LongStatement()), "");
    Interleave(c);
    // The same through one syslog message per entry, newlines escaped by rsyslog.
    ASSERT_TRUE(c.SetAndReload("syslog_split_messages", "off").ok());
    Conn whole(c, kApp);
    ASSERT_EQ(whole.Exec("SELECT 'secret-whole',\n  77777777"), "");
    ASSERT_EQ(whole.Exec("INSERT INTO syslog_t VALUES ('secret-key-1')"), "23505");
    ASSERT_EQ(whole.Exec(std::string("SELECT 1 ") + kDoneMarker), "");
  }

  // Sessions logging multi-line statements at the same time: their syslog parts interleave.
  static void Interleave(const PgCluster& c) {
    std::vector<std::unique_ptr<Conn>> conns;
    for (int i = 0; i < kSessions; ++i) conns.push_back(std::make_unique<Conn>(c, kApp));
    for (int round = 0; round < kRounds; ++round) {
      for (int i = 0; i < kSessions; ++i) {
        conns[i]->Send("SELECT 'secret-s" + std::to_string(i) + "',\n  " +
                       std::to_string(round * 1000 + i) + ",\n  'secret-r" + std::to_string(round) +
                       "'");
      }
      for (auto& conn : conns) EXPECT_EQ(conn->Wait(), "");
    }
  }

  static std::string StderrText() {
    std::string all;
    for (const std::string& f : cluster_->LogFiles(".log")) all += ReadFile(f);
    return all;
  }

  static void WaitForMarker() {
    for (int i = 0; i < 400; ++i) {
      if (StderrText().find(kDoneMarker) != std::string::npos &&
          ReadFile(syslog_->traditional_file()).find(kDoneMarker) != std::string::npos &&
          ReadFile(syslog_->rfc3339_file()).find(kDoneMarker) != std::string::npos) {
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    FAIL() << "the end marker did not reach every file; rsyslogd: " << syslog_->LogTail();
  }

  static std::vector<std::string> SyslogFiles() {
    return {syslog_->traditional_file(), syslog_->rfc3339_file()};
  }

  static inline SyslogDaemon* syslog_ = nullptr;
  static inline PgCluster* cluster_ = nullptr;
  static inline std::map<std::string, int> pids_;
};

TEST_F(SyslogPgTest, EntriesFromRsyslogFilesEqualTheStderrTwin) {
  for (bool redact : {true, false}) {
    const Parsed twin = Parse(LogFormat::kStderr, StderrText(), redact);
    // 2 + 1 errors (+ DETAIL/STATEMENT), 6 statements, the interleaved ones, the marker.
    ASSERT_GE(twin.ours.size(), 10u + kSessions * kRounds);
    for (const std::string& file : SyslogFiles()) {
      SCOPED_TRACE(file + (redact ? " redacted" : " raw"));
      const Parsed got = Parse(LogFormat::kSyslog, ReadFile(file), redact);
      EXPECT_EQ(Sorted(got.ours), Sorted(twin.ours));
      EXPECT_EQ(got.stats.unparsed, 0u);
      EXPECT_EQ(got.stats.syslog_gaps, 0u);
      EXPECT_EQ(got.stats.truncated, 0u);
    }
  }
}

TEST_F(SyslogPgTest, EveryLiteralIsMasked) {
  for (const std::string& file : SyslogFiles()) {
    const Parsed got = Parse(LogFormat::kSyslog, ReadFile(file), /*redact=*/true);
    ASSERT_FALSE(got.ours.empty());
    for (const LogEntry& e : got.ours) {
      const std::string text = e.DebugString();
      EXPECT_EQ(text.find("secret"), std::string::npos) << file << ":\n" << text;
      EXPECT_EQ(text.find("42424242"), std::string::npos) << text;
      EXPECT_EQ(text.find("77777777"), std::string::npos) << text;
    }
  }
}

TEST_F(SyslogPgTest, MultiLineCorrelatedStatementsKeepTheirFields) {
  for (const std::string& file : SyslogFiles()) {
    SCOPED_TRACE(file);
    const Parsed got = Parse(LogFormat::kSyslog, ReadFile(file), /*redact=*/true);
    const LogEntry* commented = nullptr;
    const LogEntry* tagged = nullptr;
    const LogEntry* duplicate = nullptr;
    for (const LogEntry& e : got.ours) {
      if (e.correlation_id() == kCommentUuid) commented = &e;
      if (e.correlation_id() == kAppUuid) tagged = &e;
      if (e.detail().find("already exists") != std::string::npos) {
        duplicate = &e;
      }
    }
    ASSERT_NE(commented, nullptr);
    EXPECT_EQ(commented->pid(), pids_["a"]);
    EXPECT_EQ(commented->application_name(), kApp);
    EXPECT_EQ(commented->user(), "postgres");
    EXPECT_TRUE(commented->has_duration_ms());
    EXPECT_EQ(commented->statement(),
              std::string("/* correlation:") + kCommentUuid + " */ SELECT ?,\n  ?,\n\t?");
    ASSERT_NE(tagged, nullptr);
    EXPECT_EQ(tagged->pid(), pids_["tagged"]);
    EXPECT_EQ(tagged->statement(), "SELECT ? AS a,\n  ? AS b");
    ASSERT_NE(duplicate, nullptr);
    EXPECT_EQ(duplicate->level(), "ERROR");
    EXPECT_EQ(duplicate->detail(), "Key (k)=(?) already exists.");
    EXPECT_EQ(duplicate->statement(), "INSERT INTO syslog_t VALUES (?)");
  }
}

TEST_F(SyslogPgTest, StatementLongerThanOneSyslogPartComesBackWhole) {
  const std::string sent = LongStatement();
  for (const std::string& file : SyslogFiles()) {
    EXPECT_EQ(ReadFile(file).find(sent), std::string::npos) << "sent in one part";
    const Parsed got = Parse(LogFormat::kSyslog, ReadFile(file), /*redact=*/false);
    int found = 0;
    for (const LogEntry& e : got.ours) {
      if (e.statement() == sent) ++found;
    }
    EXPECT_EQ(found, 1) << file;
  }
}

}  // namespace
}  // namespace pgagent
