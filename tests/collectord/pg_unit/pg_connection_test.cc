#include "collectord/pg/pg_connection.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_pg_session.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

class PgConnectionTest : public ::testing::Test {
 protected:
  PgConnectionTest() {
    session_.On("other_agents", [this](const std::string&, const std::vector<PgValue>& params) {
      seen_app_name_ = params.empty() ? "" : params[0].value_or("");
      return Result<PgResult>(MakePgResult({"server_version_num", "pid", "other_agents"},
                                           {{"150004", "4242", std::to_string(other_agents_)}}));
    });
    session_.OnResult("SELECT 1", MakePgResult({"x"}, {{"1"}}));
    options_.backoff = {1000ms, 8000ms, 2.0, 0.0};
    options_.max_agent_sessions = 2;
  }

  FakeClock clock_;
  FakePgSession session_;
  PgConnectionOptions options_;
  int other_agents_ = 0;
  std::string seen_app_name_;
};

TEST_F(PgConnectionTest, ConnectsLazilyAndLearnsVersionAndPid) {
  PgConnection conn(session_, clock_, options_, 1);
  EXPECT_EQ(conn.state(), PgConnection::State::kDisconnected);
  ASSERT_TRUE(conn.EnsureConnected().ok());
  EXPECT_EQ(conn.StateName(), "connected");
  EXPECT_EQ(conn.server_version_num(), 150004);
  EXPECT_EQ(conn.backend_pid(), 4242);
  EXPECT_EQ(conn.generation(), 1u);
  EXPECT_EQ(seen_app_name_, "bitville-monitor");
}

TEST_F(PgConnectionTest, FailedConnectWaitsForTheBackoffBeforeTheNextAttempt) {
  session_.QueueConnectResult(UnavailableError("cannot connect to PostgreSQL at db:5432"));
  session_.QueueConnectResult(UnavailableError("cannot connect to PostgreSQL at db:5432"));
  PgConnection conn(session_, clock_, options_, 1);
  EXPECT_EQ(conn.EnsureConnected().code(), StatusCode::kUnavailable);
  EXPECT_EQ(conn.StateName(), "backoff");
  EXPECT_EQ(conn.EnsureConnected().code(), StatusCode::kUnavailable);
  EXPECT_EQ(session_.connect_calls(), 1);  // still waiting: no attempt
  clock_.Advance(1000ms);
  EXPECT_EQ(conn.EnsureConnected().code(), StatusCode::kUnavailable);
  EXPECT_EQ(session_.connect_calls(), 2);
  clock_.Advance(1999ms);  // second delay is 2000 ms
  EXPECT_FALSE(conn.EnsureConnected().ok());
  EXPECT_EQ(session_.connect_calls(), 2);
  clock_.Advance(1ms);
  EXPECT_TRUE(conn.EnsureConnected().ok());
  EXPECT_EQ(session_.connect_calls(), 3);
  EXPECT_EQ(conn.failed_attempts(), 2u);
}

TEST_F(PgConnectionTest, BackoffIsCapped) {
  for (int i = 0; i < 10; ++i) session_.QueueConnectResult(UnavailableError("down"));
  PgConnection conn(session_, clock_, options_, 1);
  for (int i = 0; i < 10; ++i) {
    (void)conn.EnsureConnected();
    clock_.Advance(8000ms);  // the cap: every attempt is due again after it
  }
  EXPECT_EQ(session_.connect_calls(), 10);
}

TEST_F(PgConnectionTest, LostConnectionReconnectsAtOnceAndBumpsGeneration) {
  PgConnection conn(session_, clock_, options_, 1);
  ASSERT_TRUE(conn.Query("SELECT 1").ok());
  session_.DropConnection();
  EXPECT_EQ(conn.Query("SELECT 1").status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(conn.connections_lost(), 1u);
  ASSERT_TRUE(conn.Query("SELECT 1").ok());
  EXPECT_EQ(conn.generation(), 2u);
}

TEST_F(PgConnectionTest, RefusesWhenTooManyAgentSessionsAreConnected) {
  other_agents_ = 2;
  PgConnection conn(session_, clock_, options_, 1);
  Status st = conn.EnsureConnected();
  EXPECT_EQ(st.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("max_agent_sessions"), std::string::npos);
  EXPECT_FALSE(session_.IsConnected());
  EXPECT_EQ(conn.generation(), 0u);
  other_agents_ = 1;
  clock_.Advance(1000ms);
  EXPECT_TRUE(conn.EnsureConnected().ok());
}

TEST_F(PgConnectionTest, ZeroMaxAgentSessionsDisablesTheCheck) {
  other_agents_ = 50;
  options_.max_agent_sessions = 0;
  PgConnection conn(session_, clock_, options_, 1);
  EXPECT_TRUE(conn.EnsureConnected().ok());
}

TEST_F(PgConnectionTest, QueryErrorsOtherThanUnavailableKeepTheConnection) {
  session_.On("slow", [](const std::string&, const std::vector<PgValue>&) {
    return Result<PgResult>(DeadlineExceededError("canceling statement due to statement timeout"));
  });
  PgConnection conn(session_, clock_, options_, 1);
  EXPECT_EQ(conn.Query("slow").status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(conn.state(), PgConnection::State::kConnected);
  EXPECT_TRUE(conn.Query("SELECT 1").ok());
  EXPECT_EQ(session_.connect_calls(), 1);
}

TEST_F(PgConnectionTest, EveryQueryCarriesThePgagentComment) {
  PgConnection conn(session_, clock_, options_, 1);
  ASSERT_TRUE(conn.Query("SELECT 1").ok());
  for (const auto& q : session_.queries()) EXPECT_TRUE(q.first.starts_with(kPgagentQueryTag));
}

}  // namespace
}  // namespace pgagent
