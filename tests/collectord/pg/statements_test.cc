#include <gtest/gtest.h>

#include "collectord/pg/pg_values.h"
#include "collectord/pg/statements_collector.h"
#include "tests/collectord/pg/pg_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::testing {
namespace {

using namespace std::chrono_literals;

class StatementsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = PgCluster::Shared().Psql(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
        " DROP TABLE IF EXISTS delta_probe; CREATE TABLE delta_probe (x int);"
        " INSERT INTO delta_probe SELECT generate_series(1, 10);");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  static PgConnectionOptions MakeOptions() {
    PgConnectionOptions o;
    o.conninfo = PgCluster::Shared().ConnString();
    o.max_agent_sessions = 0;
    return o;
  }
  Result<pgagent::v1::StatementsSnapshot> Cycle() {
    pgagent::v1::Record record;
    Status st = collector_.Collect(record);
    clock_.Advance(60s);
    if (!st.ok()) return st;
    return record.statements();
  }
  static const pgagent::v1::StatementDelta* FindText(const pgagent::v1::StatementsSnapshot& s,
                                                     const std::string& needle) {
    for (const auto& d : s.statements()) {
      if (d.query().find(needle) != std::string::npos && d.toplevel()) return &d;
    }
    return nullptr;
  }
  // Times the recorded text queries asked for `queryid`.
  int TextRequestsFor(int64_t queryid) {
    int n = 0;
    for (const auto& [sql, params] : session_.queries) {
      if (sql.find("pg_stat_statements(true)") == std::string::npos) continue;
      for (int64_t id : PgIntArray(params.at(0))) n += id == queryid;
    }
    return n;
  }

  FakeClock clock_;
  PgConnectionOptions options_ = MakeOptions();
  RecordingSession session_{options_};
  PgConnection conn_{session_, clock_, options_, 1};
  StatementsCollector collector_{conn_, nullptr, clock_, StatementsOptions{}};
};

TEST_F(StatementsTest, DeltasAreExactAndSurviveAStatsReset) {
  TestBackend app(PgCluster::Shared(), "delta-app");
  ASSERT_TRUE(app.ok());
  auto baseline = Cycle();
  ASSERT_TRUE(baseline.ok()) << baseline.status().ToString();
  EXPECT_GT(baseline->pgss_max(), 0u);
  // The version each server ships by default (the matrix runs this on 12..18).
  const ExtensionVersion shipped = DefaultExtensionVersion(conn_.server_version_num());
  EXPECT_EQ(baseline->pgss_version(),
            std::to_string(shipped.major) + "." + std::to_string(shipped.minor));

  for (int i = 0; i < 7; ++i)
    app.Exec("SELECT count(*) FROM delta_probe WHERE x = " + std::to_string(i));
  auto first = Cycle();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const auto* d = FindText(*first, "delta_probe");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->calls(), 7u);
  EXPECT_EQ(d->rows(), 7u);
  EXPECT_GT(d->total_exec_time_ms(), 0.0);
  EXPECT_EQ(d->datname(), "postgres");
  EXPECT_EQ(d->username(), "postgres");
  EXPECT_TRUE(d->text_known());
  EXPECT_EQ(d->query().find("WHERE x = 0"), std::string::npos);

  // void before 17, the reset time from 17 on.
  ASSERT_EQ(app.Exec("SELECT pg_stat_statements_reset()").rfind("ERROR", 0), std::string::npos);
  for (int i = 0; i < 7; ++i)
    app.Exec("SELECT count(*) FROM delta_probe WHERE x = " + std::to_string(i));
  auto after_reset = Cycle();
  ASSERT_TRUE(after_reset.ok()) << after_reset.status().ToString();
  d = FindText(*after_reset, "delta_probe");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->calls(), 7u);

  auto quiet = Cycle();
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(FindText(*quiet, "delta_probe"), nullptr);  // no calls: not sent
  for (const auto& s : quiet->statements()) EXPECT_GT(s.calls(), 0u);
}

TEST_F(StatementsTest, TextsAreFetchedOncePerQueryid) {
  TestBackend app(PgCluster::Shared(), "text-app");
  ASSERT_TRUE(Cycle().ok());
  int64_t queryid = 0;
  for (int round = 0; round < 3; ++round) {
    app.Exec("SELECT x * 2 FROM delta_probe WHERE x < " + std::to_string(round + 1));
    auto snap = Cycle();
    ASSERT_TRUE(snap.ok()) << snap.status().ToString();
    const auto* d = FindText(*snap, "x * $1");
    ASSERT_NE(d, nullptr) << "round " << round;
    EXPECT_TRUE(d->text_known());
    queryid = d->queryid();
  }
  EXPECT_EQ(TextRequestsFor(queryid), 1);
  EXPECT_GT(collector_.texts_fetched_total(), 0u);
}

TEST_F(StatementsTest, OwnQueriesAreRecognisedByTheirComment) {
  ASSERT_TRUE(Cycle().ok());
  TestBackend app(PgCluster::Shared(), "share-app");
  double share = 0;
  for (int i = 0; i < 4; ++i) {
    app.Exec("SELECT sum(x) FROM delta_probe");
    auto snap = Cycle();
    ASSERT_TRUE(snap.ok());
    share = snap->own_time_share();
  }
  EXPECT_GT(share, 0.0);
  EXPECT_LT(share, 1.0);
}

TEST_F(StatementsTest, SteadyCyclesReadOnlyChangedEntriesInFull) {
  ASSERT_TRUE(Cycle().ok());
  ASSERT_TRUE(Cycle().ok());
  uint64_t before = collector_.full_rows_read_total();
  auto total = Cycle();
  ASSERT_TRUE(total.ok());
  // Only pgagent's own few statements changed since the previous cycle.
  EXPECT_LT(collector_.full_rows_read_total() - before, total->total_entries());
}

}  // namespace
}  // namespace pgagent::testing
