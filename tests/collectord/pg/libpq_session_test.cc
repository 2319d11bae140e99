#include "collectord/pg/libpq_session.h"

#include <gtest/gtest.h>

#include "collectord/pg/pg_connection.h"
#include "collectord/pg/privileges.h"
#include "tests/collectord/pg/pg_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::testing {
namespace {

class LibpqSessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { PgCluster::Shared(); }
  PgConnectionOptions Options() {
    PgConnectionOptions o;
    o.conninfo = PgCluster::Shared().ConnString();
    o.max_agent_sessions = 0;
    return o;
  }
};

TEST_F(LibpqSessionTest, AppliesTheSafetySettingsOnConnect) {
  PgConnectionOptions o = Options();
  o.statement_timeout = std::chrono::milliseconds(4321);
  LibpqSession s(o);
  ASSERT_TRUE(s.Connect().ok());
  auto r = s.Query(
      "SELECT current_setting('application_name') AS app,"
      " current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,"
      " current_setting('idle_in_transaction_session_timeout') AS it,"
      " current_setting('default_transaction_read_only') AS ro, current_setting('jit') AS jit");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Get(0, "app"), "bitville-monitor");
  EXPECT_EQ(r->Get(0, "st"), "4321ms");
  EXPECT_EQ(r->Get(0, "lt"), "1s");
  EXPECT_EQ(r->Get(0, "it"), "10s");
  EXPECT_EQ(r->Get(0, "ro"), "on");
  EXPECT_EQ(r->Get(0, "jit"), "off");
}

TEST_F(LibpqSessionTest, EveryQueryStartsWithThePgagentComment) {
  LibpqSession s(Options());
  ASSERT_TRUE(s.Connect().ok());
  auto r = s.Query("SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()");
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->rows.at(0).at(0).has_value());
  EXPECT_TRUE(r->rows[0][0]->starts_with(kPgagentQueryTag)) << *r->rows[0][0];
}

TEST_F(LibpqSessionTest, BindsTextParametersAndNulls) {
  LibpqSession s(Options());
  ASSERT_TRUE(s.Connect().ok());
  auto r = s.Query("SELECT $1::int + 1 AS a, $2::text IS NULL AS b", {"41", std::nullopt});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get(0, "a"), "42");
  EXPECT_EQ(r->Get(0, "b"), "t");
  EXPECT_GT(s.BytesReceived(), 0u);
}

TEST_F(LibpqSessionTest, StatementsArePreparedOnceAndReused) {
  LibpqSession s(Options());
  ASSERT_TRUE(s.Connect().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.Query("SELECT $1::int AS v", {std::to_string(i)}).ok());
  auto r = s.Query("SELECT count(*) AS n FROM pg_prepared_statements WHERE name LIKE 'pgagent_%'");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Get(0, "n"), "2");  // the SELECT $1 and this one
  EXPECT_EQ(s.prepared_count(), 2u);
}

TEST_F(LibpqSessionTest, FailedPreparedStatementIsDeallocatedAndWorksNextTime) {
  LibpqSession s(Options());
  ASSERT_TRUE(s.Connect().ok());
  auto bad = s.Query("SELECT 1 / $1::int AS v", {"0"});
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad.status().message().find("22012"), std::string::npos);
  EXPECT_EQ(s.prepared_count(), 0u);
  auto good = s.Query("SELECT 1 / $1::int AS v", {"1"});
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->Get(0, "v"), "1");
}

TEST_F(LibpqSessionTest, WritesAreRefusedByTheReadOnlySession) {
  LibpqSession s(Options());
  ASSERT_TRUE(s.Connect().ok());
  auto r = s.Query("CREATE TABLE pgagent_must_not_exist (x int)");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("25006"), std::string::npos);
  EXPECT_TRUE(s.IsConnected());
}

TEST_F(LibpqSessionTest, MissingObjectIsFailedPreconditionAndKeepsTheConnection) {
  LibpqSession s(Options());
  ASSERT_TRUE(s.Connect().ok());
  EXPECT_EQ(s.Query("SELECT * FROM no_such_table").status().code(),
            StatusCode::kFailedPrecondition);
  EXPECT_TRUE(s.Query("SELECT 1").ok());
}

TEST_F(LibpqSessionTest, UnreachableServerIsUnavailableNamingHostPortNotThePassword) {
  PgConnectionOptions o;
  o.conninfo = "host=127.0.0.1 port=1 user=monitor password=hunter2 dbname=postgres";
  o.connect_timeout = std::chrono::seconds(2);
  LibpqSession s(o);
  Status st = s.Connect();
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("127.0.0.1:1"), std::string::npos) << st.message();
  EXPECT_EQ(st.message().find("hunter2"), std::string::npos);
  Status priv = CheckMonitoringPrivileges(s);
  EXPECT_EQ(priv.code(), StatusCode::kUnavailable);
  EXPECT_NE(priv.message().find("127.0.0.1:1"), std::string::npos);
}

TEST_F(LibpqSessionTest, SuperuserPassesThePrivilegeCheck) {
  LibpqSession s(Options());
  EXPECT_TRUE(CheckMonitoringPrivileges(s).ok());
}

TEST_F(LibpqSessionTest, ConnectionRefusesToJoinWhenTooManyAgentSessionsExist) {
  FakeClock clock;
  PgConnectionOptions o = Options();
  o.application_name = "bitville-monitor-captest";
  o.max_agent_sessions = 1;
  LibpqSession first_session(o);
  PgConnection first(first_session, clock, o, 1);
  ASSERT_TRUE(first.EnsureConnected().ok());
  LibpqSession second_session(o);
  PgConnection second(second_session, clock, o, 1);
  Status st = second.EnsureConnected();
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted) << st.ToString();
  EXPECT_FALSE(second_session.IsConnected());
  EXPECT_EQ(first.server_version_num() / 10000, PgCluster::Shared().major_version());
}

}  // namespace
}  // namespace pgagent::testing
