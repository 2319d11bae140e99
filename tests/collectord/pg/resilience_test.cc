// Degraded modes against the real server: missing privileges, statement timeouts and a
// server restart in the middle of a run.
#include <gtest/gtest.h>

#include "collectord/pg/activity_collector.h"
#include "collectord/pg/privileges.h"
#include "collectord/pg/statements_collector.h"
#include "tests/collectord/pg/pg_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::testing {
namespace {

using namespace std::chrono_literals;

PgConnectionOptions MakeOptions(const std::string& user = "postgres") {
  PgConnectionOptions o;
  o.conninfo = PgCluster::Shared().ConnString(user);
  o.max_agent_sessions = 0;
  return o;
}

class ResilienceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = PgCluster::Shared().Psql(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
        " DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'plain_monitor')"
        " THEN CREATE ROLE plain_monitor LOGIN; END IF; END$$;");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  FakeClock clock_;
  CorrelationExtractor extractor_ = CorrelationExtractor::Create({}).value();
};

TEST_F(ResilienceTest, RoleWithoutReadAllStatsDegradesGracefully) {
  TestBackend other(PgCluster::Shared(), "someone-else");
  other.Exec("BEGIN");
  other.Exec("SELECT 'hidden'");
  PgConnectionOptions o = MakeOptions("plain_monitor");
  LibpqSession session(o);
  PgConnection conn(session, clock_, o, 1);
  Status priv = CheckMonitoringPrivileges(session);
  EXPECT_EQ(priv.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(priv.message().find("pg_read_all_stats"), std::string::npos);

  ActivityCollector activity(conn, &extractor_, clock_, {});
  pgagent::v1::Record record;
  Status st = activity.Collect(record);
  ASSERT_TRUE(st.ok()) << st.ToString();
  bool saw_hidden_row = false;
  for (const auto& s : record.activity().sessions()) {
    if (s.pid() == other.pid()) saw_hidden_row = s.query() == "<insufficient privilege>";
    EXPECT_EQ(s.query().find("hidden"), std::string::npos);
  }
  EXPECT_TRUE(saw_hidden_row);

  StatementsCollector statements(conn, &extractor_, clock_, {});
  for (int i = 0; i < 2; ++i) {
    pgagent::v1::Record r;
    Status s = statements.Collect(r);
    ASSERT_TRUE(s.ok()) << s.ToString();
    other.Exec("SELECT 1");
  }
  other.Exec("ROLLBACK");
}

TEST_F(ResilienceTest, StatementTimeoutIsReportedAndTheLoopSurvives) {
  PgConnectionOptions o = MakeOptions();
  o.statement_timeout = 200ms;
  RecordingSession session(o);
  PgConnection conn(session, clock_, o, 1);
  ActivityCollector activity(conn, &extractor_, clock_, {});
  session.slow_when_contains = "count(*) OVER ()";
  session.slow_seconds = 5;
  pgagent::v1::Record record;
  Status st = activity.Collect(record);
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.ToString();
  EXPECT_NE(st.message().find("statement timeout"), std::string::npos);
  session.slow_when_contains.clear();
  pgagent::v1::Record next;
  EXPECT_TRUE(activity.Collect(next).ok());
  EXPECT_EQ(conn.generation(), 1u);  // the same connection kept working
}

TEST_F(ResilienceTest, RestartMidRunReconnectsWithoutCrashing) {
  PgConnectionOptions o = MakeOptions();
  LibpqSession session(o);
  PgConnection conn(session, clock_, o, 1);
  ActivityCollector activity(conn, &extractor_, clock_, {});
  StatementsCollector statements(conn, &extractor_, clock_, {});
  pgagent::v1::Record record;
  ASSERT_TRUE(activity.Collect(record).ok());
  ASSERT_TRUE(statements.Collect(record).ok());
  int32_t old_pid = conn.backend_pid();

  ASSERT_TRUE(PgCluster::Shared().Restart().ok());
  Status a, s;
  for (int cycle = 0; cycle < 5; ++cycle) {  // at most a few cycles, backoff on a fake clock
    a = activity.Collect(record);
    s = statements.Collect(record);
    if (a.ok() && s.ok()) break;
    EXPECT_TRUE(a.code() == StatusCode::kUnavailable || a.ok()) << a.ToString();
    clock_.Advance(60s);
  }
  EXPECT_TRUE(a.ok()) << a.ToString();
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_GE(conn.generation(), 2u);
  EXPECT_NE(conn.backend_pid(), old_pid);
}

}  // namespace
}  // namespace pgagent::testing
