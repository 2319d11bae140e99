// The leak corpus (issue 14): a real PostgreSQL started by the test is made to write every
// kind of text that has leaked before - multi-line key/row/parameter values, PL/pgSQL
// CONTEXT, bind parameters (PQexecParams), statement echoes in messages, comments,
// auto_explain plans in all four formats, utility statements with passwords in
// pg_stat_statements, a pg_stat_activity text cut inside a literal - with every literal a
// unique marker. Both real daemons (pgagent-collectord, pgagent-shipperd) then run against
// it, one pair per log format (stderr, csvlog, jsonlog, and stderr read with a WRONG
// log_line_prefix), delivering to the real HTTPS test listener at its real 100 requests/min
// limit. The test asserts that no marker appears anywhere in what the listener received, that
// every marker really was in the server's output (the events were provoked), that each
// event's non-secret anchor arrived (the event was shipped, redacted), and that the plans'
// numbers survived.
//
// To add a case: append a row to Corpus() - how to provoke it and the markers it must not
// leak. Markers are unique words ("lk" + name); any literal in a case must be a marker.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sys/stat.h>

#include <fstream>
#include <functional>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::PgCluster;
using testing::TestListener;

// How a case makes the server write its text.
enum class Provoke {
  kSql,     // each statement through PQexec on one session (errors are expected)
  kParams,  // sql[0] through PQexecParams with `values` as text parameters, twice
  kCopy,    // sql[0] is COPY ... FROM STDIN; `values` are the data lines
};

struct LeakCase {
  std::string name;
  Provoke how;
  std::vector<std::string> sql;
  std::vector<std::string> values;
  std::vector<std::string> markers;  // must never reach the listener
  std::string anchor;                // non-secret text that must reach it (event shipped)
};

// Objects the corpus uses (no literals worth a marker).
constexpr char kSetup[] =
    "CREATE TABLE leak_u (k text PRIMARY KEY);"
    "CREATE TABLE leak_c (n bigint, t text CONSTRAINT leak_c_short CHECK (length(t) < 3));"
    "CREATE TABLE leak_p (id text PRIMARY KEY);"
    "CREATE TABLE leak_f (p text CONSTRAINT leak_f_fk REFERENCES leak_p);"
    "CREATE TABLE leak_i (a int);"
    "CREATE ROLE leak_role;"
    "CREATE FOREIGN DATA WRAPPER leak_fdw;"
    "CREATE SERVER leak_srv FOREIGN DATA WRAPPER leak_fdw;"
    "CREATE USER MAPPING FOR leak_role SERVER leak_srv;"
    "CREATE EXTENSION IF NOT EXISTS dblink;"
    "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;";

std::vector<LeakCase> Corpus() {
  std::vector<LeakCase> c = {
      {"unique violation, key value spanning lines",
       Provoke::kSql,
       {"INSERT INTO leak_u VALUES ('lkUniqA\nlkUniqB')",
        "INSERT INTO leak_u VALUES ('lkUniqA\nlkUniqB')"},
       {},
       {"lkUniqA", "lkUniqB"},
       "leak_u_pkey"},
      {"check violation, failing row with a number and a multi-line value",
       Provoke::kSql,
       {"INSERT INTO leak_c VALUES (845721930586113, 'lkChkA\n(lkChkB)')"},
       {},
       {"845721930586113", "lkChkA", "lkChkB"},
       "leak_c_short"},
      {"foreign key violation",
       Provoke::kSql,
       {"INSERT INTO leak_f VALUES ('lkFkA')"},
       {},
       {"lkFkA"},
       "leak_f_fk"},
      {"PL/pgSQL error with a multi-line SQL statement CONTEXT",
       Provoke::kSql,
       {"CREATE FUNCTION leak_fn() RETURNS void LANGUAGE plpgsql AS $body$\nBEGIN\n"
        "  -- lkPlBody\n  INSERT INTO leak_u\n      VALUES ('lkPlA'), ('lkPlA');\nEND\n$body$",
        "SELECT leak_fn()"},
       {},
       {"lkPlBody", "lkPlA"},
       "leak_fn() line"},
      {"dynamic SQL error echoing the value in the message and QUERY",
       Provoke::kSql,
       {"DO $$BEGIN EXECUTE 'SELECT ''lkDynA''::int'; END$$"},
       {},
       {"lkDynA"},
       "invalid input syntax for type integer"},
      {"extended protocol: multi-line bind parameters, unique violation",
       Provoke::kParams,
       {"INSERT INTO leak_u VALUES ($1)"},
       {"lkBindA\nlkBindB"},
       {"lkBindA", "lkBindB"},
       "parameters: $1 = "},
      {"extended protocol: quotes and numbers in parameters",
       Provoke::kParams,
       {"SELECT $1::text, $2::bigint, $3::text"},
       {"x'lkBindC", "739184625017", "lkBindD\n''"},
       {"lkBindC", "739184625017", "lkBindD"},
       "$2 = "},
      {"syntax error echoing a literal",
       Provoke::kSql,
       {"SELECT 1 'lkSynA'"},
       {},
       {"lkSynA"},
       "syntax error at or near"},
      {"unterminated literal in ALTER ROLE ... PASSWORD",
       Provoke::kSql,
       {"ALTER ROLE leak_role PASSWORD 'lkSynPwB"},
       {},
       {"lkSynPwB"},
       "unterminated quoted string"},
      {"EXECUTE of a prepared statement: prepare: DETAIL",
       Provoke::kSql,
       {"PREPARE leak_prep AS SELECT $1::text || 'lkPrepA'", "EXECUTE leak_prep('lkPrepB')"},
       {},
       {"lkPrepA", "lkPrepB"},
       "prepare: PREPARE leak_prep"},
      {"comments in statements",
       Provoke::kSql,
       {"SELECT 1 AS leak_cmt /* password=lkCmtA */", "SELECT 2 AS leak_cmt2 -- lkCmtB"},
       {},
       {"lkCmtA", "lkCmtB"},
       "leak_cmt2"},
      {"utility statements with passwords",
       Provoke::kSql,
       {"ALTER ROLE leak_role PASSWORD 'lkPwdA'",
        "ALTER USER MAPPING FOR leak_role SERVER leak_srv OPTIONS (ADD password 'lkPwdB')",
        "SELECT dblink_connect('leak', 'host=127.0.0.1 port=1 dbname=x password=lkPwdC')"},
       {},
       {"lkPwdA", "lkPwdB", "lkPwdC"},
       "ALTER ROLE leak_role PASSWORD"},
      {"json input error: Token DETAIL and JSON data CONTEXT",
       Provoke::kSql,
       {"SELECT '{\"a\": lkJsonA}'::json"},
       {},
       {"lkJsonA"},
       "invalid input syntax for type json"},
      {"COPY data error: the line in CONTEXT",
       Provoke::kCopy,
       {"COPY leak_i (a) FROM STDIN"},
       {"lkCopyA\n"},
       {"lkCopyA"},
       "COPY leak_i, line 1"},
  };
  int n = 0;
  for (std::string fmt : {"text", "json", "yaml", "xml"}) {
    const std::string m = fmt.substr(0, 1);
    const std::string number = "84572193058620" + std::to_string(++n);
    c.push_back({"auto_explain (log_analyze) in " + fmt,
                 Provoke::kSql,
                 {"SET auto_explain.log_format = " + fmt,
                  "SELECT k, 'lkAeOut" + m + "' AS c FROM leak_u WHERE k = 'lkAeCond" + m +
                      "' OR length(k) > " + number + " ORDER BY k || 'lkAeSort" + m + "'"},
                 {},
                 {"lkAeOut" + m, "lkAeCond" + m, "lkAeSort" + m, number},
                 "Seq Scan"});
  }
  return c;
}

// Statements re-run while the daemons run, so that pg_stat_statements reports them after
// the collectors' baseline (utility statements are kept verbatim by pg_stat_statements).
const std::vector<std::string> kPgssStatements = {
    "ALTER ROLE leak_role PASSWORD 'lkPgssA'",
    "ALTER USER MAPPING FOR leak_role SERVER leak_srv OPTIONS (SET password 'lkPgssB')",
    "SELECT 3, 4 AS leak_pgss /* password=lkPgssC */"};
const std::vector<std::string> kPgssMarkers = {"lkPgssA", "lkPgssB", "lkPgssC"};

// pg_stat_activity cuts at track_activity_query_size (100 bytes): inside this literal.
const std::string kActivitySql =
    "SELECT pg_sleep(300) AS leak_activity, 'lkActA" + std::string(200, 'p') + "'";
const std::vector<std::string> kActivityMarkers = {"lkActA"};

constexpr char kDoneSql[] = "SELECT 1 AS leak_corpus_done";

// A stored row's source as MessageToJsonString writes it.
const std::string kSource = "\"source\":\"";

// The four daemon pairs: a log format as the agent reads it, and its log_line_prefix override.
struct Pair {
  std::string name;
  std::string format;
  std::string prefix;  // empty: the server's
};
const std::vector<Pair> kPairs = {{"stderr", "stderr", ""},
                                  {"csvlog", "csvlog", ""},
                                  {"jsonlog", "jsonlog", ""},
                                  {"wrongprefix", "stderr", "\"%p: \""}};

struct Conn {
  explicit Conn(const std::string& conninfo) : c(PQconnectdb(conninfo.c_str())) {}
  ~Conn() { PQfinish(c); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  bool ok() const { return PQstatus(c) == CONNECTION_OK; }
  void Exec(const std::string& sql) { PQclear(PQexec(c, sql.c_str())); }
  PGconn* c;
};

void ProvokeCase(Conn& conn, const LeakCase& lc) {
  switch (lc.how) {
    case Provoke::kSql:
      for (const std::string& sql : lc.sql) conn.Exec(sql);
      break;
    case Provoke::kParams: {
      std::vector<const char*> values;
      for (const std::string& v : lc.values) values.push_back(v.c_str());
      for (int k = 0; k < 2; ++k) {
        PQclear(PQexecParams(conn.c, lc.sql[0].c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
      }
      break;
    }
    case Provoke::kCopy: {
      PGresult* r = PQexec(conn.c, lc.sql[0].c_str());
      const bool copy_in = PQresultStatus(r) == PGRES_COPY_IN;
      PQclear(r);
      if (!copy_in) break;
      for (const std::string& v : lc.values)
        PQputCopyData(conn.c, v.data(), static_cast<int>(v.size()));
      PQputCopyEnd(conn.c, nullptr);
      while (PGresult* end = PQgetResult(conn.c)) PQclear(end);
      break;
    }
  }
}

// Calls `done` once a second until it returns true or `timeout` passes (each call reads all
// stored rows, so not in a tight loop).
bool PollEverySecond(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(1s);
  }
  return done();
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every string value in a stored row (recursively).
void CollectStrings(const google::protobuf::Value& v, std::vector<std::string>* out) {
  switch (v.kind_case()) {
    case google::protobuf::Value::kStringValue:
      out->push_back(v.string_value());
      break;
    case google::protobuf::Value::kStructValue:
      for (const auto& [key, field] : v.struct_value().fields()) CollectStrings(field, out);
      break;
    case google::protobuf::Value::kListValue:
      for (const auto& item : v.list_value().values()) CollectStrings(item, out);
      break;
    default:
      break;
  }
}

class LeakCorpusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("pgagent-leak-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    testing::PgClusterOptions options;
    options.settings = {{"shared_preload_libraries", "pg_stat_statements,auto_explain"},
                        {"log_min_duration_statement", "0"},
                        {"log_parameter_max_length_on_error", "-1"},
                        {"track_activity_query_size", "100"},
                        {"auto_explain.log_min_duration", "0"},
                        {"auto_explain.log_analyze", "on"},
                        {"auto_explain.log_verbose", "on"},
                        {"auto_explain.log_buffers", "on"}};
    auto pg = PgCluster::Start(options);
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_ = std::move(*pg);
    auto listener = TestListener::Start();  // the real limit: 100 requests/min
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(*listener);
    ASSERT_TRUE(pg_->Psql(kSetup).ok());
  }
  void TearDown() override {
    for (auto& d : daemons_) d->Stop(15s);
    daemons_.clear();
    activity_.reset();
    listener_.reset();
    pg_.reset();
    testing::RemoveTree(dir_);
  }

  std::string Config(const Pair& pair) {
    const std::string base = dir_ + "/" + pair.name;
    mkdir(base.c_str(), 0700);
    const std::string path = base + "/pgagent.ini";
    std::ofstream f(path);
    // Four collectords, one session each (the default allows 2 pgagent sessions per server).
    f << "[database]\nhost = 127.0.0.1\nport = " << pg_->port()
      << "\nuser = postgres\nmax_agent_sessions = 8\n"
      << "[collection]\ninterval_s = 15\nlog_path = auto\nlog_format = " << pair.format
      << "\nlog_start = beginning\nlog_linger_ms = 500\n"
      << (pair.prefix.empty() ? "" : "log_line_prefix = " + pair.prefix + "\n")
      << "[listener]\nurl = " << listener_->ingest_url()
      << "\napi_key = " << listener_->options().api_key << "\nproject_id = leak\nca_file = "
      << listener_->ca_file()
      // Four shipperds share the listener's 100 requests/min: each keeps to a quarter.
      << "\nrequests_per_minute = 24\n"
      << "[buffer]\npath = " << base << "/buffer\n[ipc]\nruntime_dir = " << base << "/run\n"
      << "[agent]\nstate_dir = " << base << "/state\nhostname = leak-" << pair.name << "\n";
    f.close();
    chmod(path.c_str(), 0600);
    return path;
  }

  void StartPair(const Pair& pair) {
    const std::string config = Config(pair);
    const std::string base = dir_ + "/" + pair.name;
    auto shipper = ChildProcess::Start(
        {testing::BinaryDir() + "/shipperd/pgagent-shipperd", config}, base + "/shipperd.log");
    auto collector =
        ChildProcess::Start({testing::BinaryDir() + "/collectord/pgagent-collectord", config},
                            base + "/collectord.log");
    ASSERT_TRUE(shipper.ok() && collector.ok());
    daemons_.push_back(std::move(*shipper));
    daemons_.push_back(std::move(*collector));
  }

  // The rows stored so far, each serialized as JSON text.
  std::vector<std::string> Rows() {
    std::vector<std::string> rows;
    auto list = listener_->StoredRows();
    if (!list.ok()) return rows;
    for (const auto& row : list->values()) {
      std::string json;
      if (google::protobuf::util::MessageToJsonString(row, &json).ok()) rows.push_back(json);
    }
    return rows;
  }
  bool AnyRowHas(const std::vector<std::string>& needles) {
    for (const std::string& row : Rows()) {
      bool all = true;
      for (const std::string& n : needles) all = all && row.find(n) != std::string::npos;
      if (all) return true;
    }
    return false;
  }
  std::string DaemonLogs() {
    std::string out;
    for (const auto& d : daemons_)
      out += d->log_file() + ":\n" + ReadFile(d->log_file()).substr(0, 4000);
    return out;
  }

  std::string dir_;
  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<TestListener> listener_;
  std::unique_ptr<Conn> activity_;
  std::vector<std::unique_ptr<ChildProcess>> daemons_;
};

TEST_F(LeakCorpusTest, NoMarkerReachesTheListenerInAnyLogFormatAndPlanNumbersSurvive) {
  const std::vector<LeakCase> corpus = Corpus();
  std::vector<std::string> markers = kPgssMarkers;
  markers.insert(markers.end(), kActivityMarkers.begin(), kActivityMarkers.end());
  {
    Conn conn(pg_->ConnString());
    ASSERT_TRUE(conn.ok()) << PQerrorMessage(conn.c);
    for (const LeakCase& lc : corpus) {
      ProvokeCase(conn, lc);
      markers.insert(markers.end(), lc.markers.begin(), lc.markers.end());
    }
  }
  activity_ = std::make_unique<Conn>(pg_->ConnString());
  ASSERT_TRUE(activity_->ok());
  ASSERT_EQ(PQsendQuery(activity_->c, kActivitySql.c_str()), 1);
  auto visible = pg_->Psql(
      "SELECT query FROM pg_stat_activity WHERE query LIKE '%leak_activity%'"
      " AND pid <> pg_backend_pid()");
  ASSERT_TRUE(visible.ok());
  ASSERT_NE(visible->find("lkActA"), std::string::npos) << "activity text: " << *visible;
  ASSERT_LT(visible->size(), kActivitySql.size()) << "the server did not cut the text";

  for (const Pair& pair : kPairs) StartPair(pair);
  // pg_stat_statements: the collectors report only what changed after their baseline cycle.
  const bool pgss_seen = PollEverySecond(
      [&] {
        Conn conn(pg_->ConnString());
        for (const std::string& sql : kPgssStatements) conn.Exec(sql);
        conn.Exec(kDoneSql);
        return AnyRowHas({kSource + "pg_stat_statements\"", "ALTER ROLE leak_role PASSWORD"}) &&
               AnyRowHas({kSource + "pg_stat_statements\"", "ALTER USER MAPPING FOR leak_role"}) &&
               AnyRowHas({kSource + "pg_stat_statements\"", "leak_pgss"});
      },
      120s);
  if (!pgss_seen) {
    std::string got;
    for (const std::string& row : Rows()) {
      if (row.find(kSource + "pg_stat_statements\"") != std::string::npos)
        got += row.substr(0, 3000) + "\n";
    }
    auto pgss_now =
        pg_->Psql("SELECT calls, query FROM pg_stat_statements WHERE query ILIKE '%leak%'");
    ADD_FAILURE() << "no statements row with the utility statements; pg_stat_statements:\n"
                  << pgss_now.value_or("?") << "\nrows:\n"
                  << got.substr(0, 12000);
  }
  EXPECT_TRUE(PollEverySecond(
      [&] {
        return AnyRowHas({kSource + "pg_stat_activity\"", "leak_activity"});
      },
      45s));
  for (const Pair& pair : kPairs) {
    EXPECT_TRUE(PollEverySecond(
        [&] {
          return AnyRowHas(
              {kSource + "pg_log\"", "\"host\":\"leak-" + pair.name + "\"", "leak_corpus_done"});
        },
        60s))
        << pair.name << "\n"
        << DaemonLogs();
  }
  for (auto& d : daemons_) EXPECT_EQ(d->Stop(15s), 0);
  daemons_.clear();

  // The corpus was provoked: every marker is in what the server wrote or keeps.
  std::string server_side;
  for (const std::string& f : pg_->LogFiles(".log")) server_side += ReadFile(f);
  auto pgss = pg_->Psql("SELECT string_agg(query, ' ') FROM pg_stat_statements");
  ASSERT_TRUE(pgss.ok());
  server_side += *pgss + *visible;
  for (const std::string& m : markers) {
    EXPECT_NE(server_side.find(m), std::string::npos)
        << "marker never written by the server: " << m;
  }

  // Nothing the listener received holds a marker.
  auto stored = listener_->StoredJson();
  ASSERT_TRUE(stored.ok());
  size_t leaks = 0;
  for (const std::string& m : markers) {
    const size_t at = stored->find(m);
    if (at == std::string::npos) continue;
    ++leaks;
    ADD_FAILURE() << "marker " << m << " reached the listener: ..."
                  << stored->substr(at > 300 ? at - 300 : 0, 600) << "...";
  }
  EXPECT_EQ(leaks, 0u);
  for (const LeakCase& lc : corpus) {
    EXPECT_NE(stored->find(lc.anchor), std::string::npos) << lc.name << ": anchor " << lc.anchor;
  }

  // Plan numbers survived, in every auto_explain format.
  auto rows = listener_->StoredRows();
  ASSERT_TRUE(rows.ok());
  std::vector<std::string> texts;
  for (const auto& row : rows->values()) CollectStrings(row, &texts);
  const std::vector<std::pair<std::string, std::regex>> numbers = {
      {"text", std::regex(R"(\(actual time=[0-9.]+\.\.[0-9.]+ rows=[0-9]+ loops=[0-9]+\))")},
      {"json", std::regex(R"("Actual Total Time": [0-9.]+)")},
      {"yaml", std::regex(R"(Actual Total Time: [0-9.]+)")},
      {"xml", std::regex(R"(<Actual-Total-Time>[0-9.]+</Actual-Total-Time>)")}};
  for (const auto& [format, re] : numbers) {
    bool found = false;
    for (const std::string& t : texts)
      found = found || (t.find("plan:") != std::string::npos && std::regex_search(t, re));
    EXPECT_TRUE(found) << "no " << format << " plan with its numbers arrived";
  }
  RecordProperty("corpus_cases", static_cast<int>(corpus.size()));
  RecordProperty("markers", static_cast<int>(markers.size()));
  std::printf("[ corpus ] %zu cases, %zu markers, %zu rows received\n", corpus.size(),
              markers.size(), static_cast<size_t>(rows->values_size()));
}

}  // namespace
}  // namespace pgagent
