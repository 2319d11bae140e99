#include <gtest/gtest.h>

#include "collectord/pg/activity_collector.h"
#include "tests/collectord/pg/pg_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::testing {
namespace {

const std::string kAppUuid = "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b";
const std::string kCommentUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

class ActivityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = PgCluster::Shared().Psql(
        "DROP TABLE IF EXISTS chain_t; CREATE TABLE chain_t (id int PRIMARY KEY, v int);"
        " INSERT INTO chain_t VALUES (1, 0);");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  static PgConnectionOptions MakeOptions() {
    PgConnectionOptions o;
    o.conninfo = PgCluster::Shared().ConnString();
    o.max_agent_sessions = 0;
    return o;
  }
  pgagent::v1::ActivitySnapshot Collect() {
    pgagent::v1::Record record;
    Status st = collector_.Collect(record);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return record.activity();
  }
  static const pgagent::v1::Session* Find(const pgagent::v1::ActivitySnapshot& s, int pid) {
    for (const auto& session : s.sessions()) {
      if (session.pid() == pid) return &session;
    }
    return nullptr;
  }
  static const pgagent::v1::LockWait* FindWait(const pgagent::v1::ActivitySnapshot& s, int pid) {
    for (const auto& w : s.lock_waits()) {
      if (w.blocked_pid() == pid) return &w;
    }
    return nullptr;
  }

  FakeClock clock_;
  PgConnectionOptions options_ = MakeOptions();
  LibpqSession session_{options_};
  PgConnection conn_{session_, clock_, options_, 1};
  CorrelationExtractor extractor_ = CorrelationExtractor::Create({}).value();
  ActivityCollector collector_{conn_, &extractor_, clock_, ActivityOptions{}};
};

TEST_F(ActivityTest, SeesTaggedSessionsWithTheirCorrelationIdsAndRedactedQueries) {
  TestBackend by_app(PgCluster::Shared(), "bitville-" + kAppUuid);
  TestBackend by_comment(PgCluster::Shared(), "php-fpm");
  ASSERT_TRUE(by_app.ok() && by_comment.ok()) << by_app.error() << by_comment.error();
  by_app.Exec("BEGIN");
  by_app.Exec("SELECT 'app-secret' AS x");
  by_comment.Exec("BEGIN");
  by_comment.Exec("SELECT 'comment-secret' /* correlation:" + kCommentUuid + " */");

  auto snap = Collect();
  const auto* a = Find(snap, by_app.pid());
  const auto* c = Find(snap, by_comment.pid());
  ASSERT_NE(a, nullptr);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(a->correlation_id(), kAppUuid);
  EXPECT_EQ(c->correlation_id(), kCommentUuid);
  EXPECT_EQ(a->state(), "idle in transaction");
  EXPECT_EQ(a->application_name(), "bitville-" + kAppUuid);
  EXPECT_EQ(a->query().find("app-secret"), std::string::npos) << a->query();
  EXPECT_EQ(c->query().find("comment-secret"), std::string::npos) << c->query();
  EXPECT_NE(c->query().find("correlation:" + kCommentUuid), std::string::npos);
  EXPECT_TRUE(a->has_xact_start());
  EXPECT_GE(a->xact_duration_ms(), 0.0);
  EXPECT_EQ(a->client_addr(), "127.0.0.1");
  EXPECT_EQ(a->backend_type(), "client backend");
  // compute_query_id = on in the test cluster; pg_stat_activity.query_id is 14+.
  EXPECT_EQ(a->query_id() != 0, PgCluster::Shared().major_version() >= 14);
  EXPECT_GE(snap.with_correlation(), 2u);
  EXPECT_EQ(Find(snap, conn_.backend_pid()), nullptr);  // pgagent's own backend excluded
  EXPECT_EQ(snap.lock_waits_size(), 0);
  by_app.Exec("ROLLBACK");
  by_comment.Exec("ROLLBACK");
}

TEST_F(ActivityTest, RowCapCutsRowsAndSaysSo) {
  TestBackend b1(PgCluster::Shared(), "cap-1");
  TestBackend b2(PgCluster::Shared(), "cap-2");
  b1.Exec("BEGIN");
  b1.Exec("SELECT 1");
  b2.Exec("BEGIN");
  b2.Exec("SELECT 2");
  ActivityOptions options;
  options.max_rows = 1;
  ActivityCollector capped(conn_, &extractor_, clock_, options);
  pgagent::v1::Record record;
  ASSERT_TRUE(capped.Collect(record).ok());
  EXPECT_EQ(record.activity().count(), 1u);
  EXPECT_GE(record.activity().total_non_idle(), 2u);
  EXPECT_TRUE(record.activity().truncated());
}

TEST_F(ActivityTest, ThreeSessionBlockingChainYieldsRootBlockerAndDepth) {
  TestBackend holder(PgCluster::Shared(), "bitville-" + kAppUuid);
  TestBackend first(PgCluster::Shared(), "chain-first");
  TestBackend second(PgCluster::Shared(), "chain-second");
  TestBackend observer(PgCluster::Shared(), "observer");
  ASSERT_TRUE(holder.ok() && first.ok() && second.ok() && observer.ok());
  holder.Exec("BEGIN");
  ASSERT_EQ(holder.Exec("UPDATE chain_t SET v = 1 WHERE id = 1"), "");
  ASSERT_TRUE(first.Send("UPDATE chain_t SET v = 2 WHERE id = 1"));
  ASSERT_TRUE(WaitFor([&] {
    return observer.Exec("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                         std::to_string(first.pid()) + " AND wait_event_type = 'Lock'") == "1";
  }));
  ASSERT_TRUE(second.Send("UPDATE chain_t SET v = 3 WHERE id = 1"));
  ASSERT_TRUE(WaitFor([&] {
    return observer.Exec("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                         std::to_string(second.pid()) + " AND wait_event_type = 'Lock'") == "1";
  }));

  auto snap = Collect();
  const auto* w1 = FindWait(snap, first.pid());
  const auto* w2 = FindWait(snap, second.pid());
  ASSERT_NE(w1, nullptr);
  ASSERT_NE(w2, nullptr);
  EXPECT_EQ(w2->root_blocker_pid(), holder.pid());
  EXPECT_EQ(w2->chain_depth(), 2u);
  ASSERT_EQ(w2->blocking_pids_size(), 1);
  EXPECT_EQ(w2->blocking_pids(0), first.pid());
  EXPECT_EQ(w2->lock_type(), "tuple");
  EXPECT_EQ(w2->relation(), "public.chain_t");
  EXPECT_EQ(w2->mode_wanted(), "ExclusiveLock");
  EXPECT_EQ(w2->mode_held(), "ExclusiveLock");
  EXPECT_EQ(w1->root_blocker_pid(), holder.pid());
  EXPECT_EQ(w1->chain_depth(), 1u);
  EXPECT_EQ(w1->lock_type(), "transactionid");
  EXPECT_EQ(w1->mode_wanted(), "ShareLock");
  EXPECT_EQ(w1->mode_held(), "ExclusiveLock");
  EXPECT_FALSE(w1->deadlock());
  EXPECT_GE(w1->wait_duration_ms(), 0.0);
  EXPECT_EQ(w1->blocked_query(), "UPDATE chain_t SET v = ? WHERE id = ?");
  EXPECT_EQ(w1->blocking_query(), "UPDATE chain_t SET v = ? WHERE id = ?");
  EXPECT_EQ(w1->blocking_correlation_id(), kAppUuid);
  EXPECT_EQ(snap.lock_waits_error(), "");

  holder.Exec("ROLLBACK");
  first.Drain();
  second.Drain();
  auto after = Collect();
  EXPECT_EQ(FindWait(after, first.pid()), nullptr);
}

}  // namespace
}  // namespace pgagent::testing
