#include "collectord/pg/activity_collector.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_pg_session.h"

namespace pgagent {
namespace {

const char kUuid[] = "0f8fad5b-d9cb-469f-a165-70867728950e";

using RowSpec = std::map<std::string, PgValue>;

PgResult FromSpecs(const std::vector<std::string>& columns, const std::vector<RowSpec>& specs) {
  PgResult r;
  r.columns = columns;
  for (const auto& spec : specs) {
    PgRow row;
    for (const auto& c : columns) {
      auto it = spec.find(c);
      row.push_back(it == spec.end() ? PgValue() : it->second);
    }
    r.rows.push_back(std::move(row));
  }
  return r;
}

const std::vector<std::string> kActivityColumns = {"pid",
                                                   "datname",
                                                   "usename",
                                                   "application_name",
                                                   "client_addr",
                                                   "backend_type",
                                                   "backend_start_us",
                                                   "xact_start_us",
                                                   "query_start_us",
                                                   "state_change_us",
                                                   "state",
                                                   "wait_event_type",
                                                   "wait_event",
                                                   "query_id",
                                                   "query",
                                                   "query_maybe_cut",
                                                   "query_ms",
                                                   "xact_ms",
                                                   "state_ms",
                                                   "total_non_idle",
                                                   "lock_waiters"};

class ActivityCollectorTest : public ::testing::Test {
 protected:
  ActivityCollectorTest() {
    session_.OnResult("other_agents", MakePgResult({"server_version_num", "pid", "other_agents"},
                                                   {{"150004", "1", "0"}}));
  }
  void SetActivity(std::vector<RowSpec> rows) {
    session_.OnResult("FROM pg_stat_activity a WHERE a.pid <> pg_backend_pid()",
                      FromSpecs(kActivityColumns, rows));
  }
  pgagent::v1::ActivitySnapshot Collect(ActivityOptions options = {}) {
    ActivityCollector collector(conn_, &extractor_, clock_, options);
    pgagent::v1::Record record;
    Status st = collector.Collect(record);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return record.activity();
  }

  FakeClock clock_;
  FakePgSession session_;
  PgConnection conn_{session_, clock_, PgConnectionOptions{}, 1};
  CorrelationExtractor extractor_ = CorrelationExtractor::Create({}).value();
};

TEST_F(ActivityCollectorTest, MapsRowsToSessionsWithCorrelationIds) {
  SetActivity({{{"pid", "101"},
                {"datname", "app"},
                {"usename", "web"},
                {"application_name", "bitville-" + std::string(kUuid)},
                {"client_addr", "10.0.0.5"},
                {"backend_type", "client backend"},
                {"backend_start_us", "1767225600000000"},
                {"query_start_us", "1767225601500000"},
                {"state", "active"},
                {"query_id", "-77"},
                {"query", "SELECT 'secret'"},
                {"query_maybe_cut", "f"},
                {"query_ms", "12.5"},
                {"xact_ms", "0"},
                {"state_ms", "12.5"},
                {"total_non_idle", "2"},
                {"lock_waiters", "0"}},
               {{"pid", "102"},
                {"state", "idle in transaction"},
                {"query", "UPDATE t SET a = 1 /* correlation:" + std::string(kUuid) + " */"},
                {"query_maybe_cut", "f"}}});
  auto snap = Collect();
  ASSERT_EQ(snap.sessions_size(), 2);
  const auto& s = snap.sessions(0);
  EXPECT_EQ(s.pid(), 101);
  EXPECT_EQ(s.datname(), "app");
  EXPECT_EQ(s.client_addr(), "10.0.0.5");
  EXPECT_EQ(s.query_id(), -77);
  EXPECT_EQ(s.backend_start().seconds(), 1767225600);
  EXPECT_EQ(s.query_start().nanos(), 500000000);
  EXPECT_FALSE(s.has_xact_start());
  EXPECT_DOUBLE_EQ(s.query_duration_ms(), 12.5);
  EXPECT_EQ(s.query().find("secret"), std::string::npos);
  EXPECT_EQ(s.correlation_id(), kUuid);
  EXPECT_EQ(snap.sessions(1).correlation_id(), kUuid);
  EXPECT_EQ(snap.count(), 2u);
  EXPECT_EQ(snap.with_correlation(), 2u);
  EXPECT_EQ(snap.total_non_idle(), 2u);
  EXPECT_FALSE(snap.truncated());
  EXPECT_EQ(snap.lock_waits_size(), 0);
  EXPECT_EQ(session_.CountQueries("pg_blocking_pids"), 0);  // no waiters: no lock query
}

TEST_F(ActivityCollectorTest, ReportsWhenTheRowCapCutRows) {
  SetActivity({{{"pid", "1"}, {"query", "SELECT 1"}, {"total_non_idle", "5"}}});
  ActivityOptions options;
  options.max_rows = 1;
  auto snap = Collect(options);
  EXPECT_EQ(snap.count(), 1u);
  EXPECT_EQ(snap.total_non_idle(), 5u);
  EXPECT_TRUE(snap.truncated());
  // The cap is passed to the server as $1.
  bool saw_cap = false;
  for (const auto& q : session_.queries()) {
    if (q.first.find("LIMIT $1") != std::string::npos) saw_cap = q.second.at(0) == "1";
  }
  EXPECT_TRUE(saw_cap);
}

TEST_F(ActivityCollectorTest, BuildsTheBlockingTreeOnlyWhenBackendsWaitOnLocks) {
  SetActivity({{{"pid", "300"},
                {"query", "UPDATE t SET a = 3"},
                {"wait_event_type", "Lock"},
                {"total_non_idle", "3"},
                {"lock_waiters", "2"}}});
  session_.OnResult("pg_blocking_pids", FromSpecs({"pid", "blockers", "locktype", "mode_wanted",
                                                   "mode_held", "relation", "wait_ms"},
                                                  {{{"pid", "200"},
                                                    {"blockers", "{100}"},
                                                    {"locktype", "transactionid"},
                                                    {"mode_wanted", "ShareLock"},
                                                    {"mode_held", "ExclusiveLock"},
                                                    {"wait_ms", "1500"}},
                                                   {{"pid", "300"},
                                                    {"blockers", "{200}"},
                                                    {"locktype", "tuple"},
                                                    {"mode_wanted", "ExclusiveLock"},
                                                    {"mode_held", "ExclusiveLock"},
                                                    {"relation", "public.t"},
                                                    {"wait_ms", "900"}}}));
  session_.OnResult("a.pid = ANY($1::int[])",
                    FromSpecs({"pid", "application_name", "query", "query_maybe_cut"},
                              {{{"pid", "100"},
                                {"application_name", "bitville-" + std::string(kUuid)},
                                {"query", "UPDATE t SET a = 1"}},
                               {{"pid", "200"}, {"query", "UPDATE t SET a = 2"}},
                               {{"pid", "300"}, {"query", "UPDATE t SET a = 3"}}}));
  auto snap = Collect();
  ASSERT_EQ(snap.lock_waits_size(), 2);
  const auto& w = snap.lock_waits(1);
  EXPECT_EQ(w.blocked_pid(), 300);
  ASSERT_EQ(w.blocking_pids_size(), 1);
  EXPECT_EQ(w.blocking_pids(0), 200);
  EXPECT_EQ(w.root_blocker_pid(), 100);
  EXPECT_EQ(w.chain_depth(), 2u);
  EXPECT_EQ(w.lock_type(), "tuple");
  EXPECT_EQ(w.mode_wanted(), "ExclusiveLock");
  EXPECT_EQ(w.relation(), "public.t");
  EXPECT_DOUBLE_EQ(w.wait_duration_ms(), 900);
  EXPECT_EQ(w.blocked_query(), "UPDATE t SET a = ?");
  EXPECT_EQ(w.blocking_query(), "UPDATE t SET a = ?");
  EXPECT_EQ(w.blocking_correlation_id(), kUuid);  // of the root blocker
  EXPECT_EQ(snap.lock_waits(0).chain_depth(), 1u);
}

TEST_F(ActivityCollectorTest, FailedLockQueryKeepsSessionsAndSaysWhy) {
  SetActivity(
      {{{"pid", "300"}, {"query", "SELECT 1"}, {"total_non_idle", "1"}, {"lock_waiters", "1"}}});
  session_.On("pg_blocking_pids", [](const std::string&, const std::vector<PgValue>&) {
    return Result<PgResult>(DeadlineExceededError("canceling statement due to statement timeout"));
  });
  ActivityCollector collector(conn_, &extractor_, clock_, {});
  pgagent::v1::Record record;
  ASSERT_TRUE(collector.Collect(record).ok());
  EXPECT_EQ(record.activity().sessions_size(), 1);
  EXPECT_EQ(record.activity().lock_waits_size(), 0);
  EXPECT_NE(record.activity().lock_waits_error().find("statement timeout"), std::string::npos);
  EXPECT_EQ(collector.lock_query_errors(), 1u);
}

TEST_F(ActivityCollectorTest, TimeoutOfTheActivityQueryIsReturned) {
  session_.On("FROM pg_stat_activity a WHERE", [](const std::string&, const std::vector<PgValue>&) {
    return Result<PgResult>(DeadlineExceededError("canceling statement due to statement timeout"));
  });
  ActivityCollector collector(conn_, &extractor_, clock_, {});
  pgagent::v1::Record record;
  EXPECT_EQ(collector.Collect(record).code(), StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(record.has_activity());
}

TEST_F(ActivityCollectorTest, UnreachableDatabaseIsUnavailable) {
  session_.QueueConnectResult(UnavailableError("cannot connect to PostgreSQL at db:5432"));
  ActivityCollector collector(conn_, &extractor_, clock_, {});
  pgagent::v1::Record record;
  EXPECT_EQ(collector.Collect(record).code(), StatusCode::kUnavailable);
}

TEST_F(ActivityCollectorTest, EmptyActivityStillHasAnEmptySnapshot) {
  SetActivity({});
  auto snap = Collect();
  EXPECT_EQ(snap.count(), 0u);
  EXPECT_EQ(snap.total_non_idle(), 0u);
  EXPECT_FALSE(snap.truncated());
}

TEST(ActivitySqlTest, QueryIdOnlyFromPg14) {
  EXPECT_NE(ActivitySql(140000).find("a.query_id"), std::string::npos);
  EXPECT_EQ(ActivitySql(130000).find("a.query_id"), std::string::npos);
  EXPECT_NE(LockWaitSql(140000).find("waitstart"), std::string::npos);
  EXPECT_EQ(LockWaitSql(130000).find("waitstart"), std::string::npos);
}

}  // namespace
}  // namespace pgagent
