// ClusterCollector, SchemaVisitor and their pure pieces (row filling, counter deltas, the
// database filter, setting masks, version-dependent SQL) against FakePgSession.
#include "collectord/pg/cluster_collector.h"

#include <gtest/gtest.h>

#include "collectord/pg/cluster_sql.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_pg_session.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::ClusterSnapshot;

Result<PgResult> Rows(std::vector<std::string> columns, std::vector<PgRow> rows) {
  return MakePgResult(std::move(columns), std::move(rows));
}

TEST(RowFillTest, FillsPresentColumnsAndLeavesNullOrMissingOnesAbsent) {
  PgResult res = MakePgResult({"checkpoints_timed", "checkpoints_done", "write_time", "unknown"},
                              {{"7", std::nullopt, "1.5", "x"}});
  pgagent::v1::CheckpointCounters c;
  FillFromRow(res, 0, c);
  EXPECT_EQ(c.checkpoints_timed(), 7u);
  EXPECT_FALSE(c.has_checkpoints_done());     // NULL
  EXPECT_FALSE(c.has_restartpoints_timed());  // no such column
  EXPECT_DOUBLE_EQ(c.write_time(), 1.5);
}

TEST(CounterDeltasTest, FirstSampleHasNoDeltaThenDifferencesAndResetsCountFromZero) {
  CounterDeltas deltas;
  auto row = [](const char* timed, const char* time) {
    return MakePgResult({"checkpoints_timed", "write_time"}, {{timed, time}});
  };
  pgagent::v1::CheckpointCounters d;
  EXPECT_FALSE(deltas.Update("k", row("10", "100.0"), 0, d));
  EXPECT_TRUE(deltas.Update("k", row("15", "150.5"), 0, d));
  EXPECT_EQ(d.checkpoints_timed(), 5u);
  EXPECT_DOUBLE_EQ(d.write_time(), 50.5);
  d.Clear();
  EXPECT_TRUE(deltas.Update("k", row("3", "20.0"), 0, d));  // went down: reset
  EXPECT_EQ(d.checkpoints_timed(), 3u);
  EXPECT_DOUBLE_EQ(d.write_time(), 20.0);
}

TEST(CounterDeltasTest, SweepForgetsKeysNotSeenSinceTheLastSweep) {
  CounterDeltas deltas;
  PgResult r = MakePgResult({"reads"}, {{"1"}});
  pgagent::v1::IoCounters d;
  deltas.Update("a", r, 0, d);
  deltas.Update("b", r, 0, d);
  deltas.Sweep();
  deltas.Update("a", r, 0, d);
  deltas.Sweep();
  EXPECT_EQ(deltas.size(), 1u);
  EXPECT_FALSE(deltas.Update("b", r, 0, d));  // a new baseline
}

TEST(DatabaseFilterTest, IncludesGlobsAndExclusionsWin) {
  DatabaseFilter all("");
  EXPECT_TRUE(all.Matches("anything"));
  DatabaseFilter some("app_*, orders ,!app_test");
  EXPECT_TRUE(some.Matches("app_main"));
  EXPECT_TRUE(some.Matches("orders"));
  EXPECT_FALSE(some.Matches("app_test"));
  EXPECT_FALSE(some.Matches("postgres"));
  DatabaseFilter except("!postgres");
  EXPECT_TRUE(except.Matches("app"));
  EXPECT_FALSE(except.Matches("postgres"));
}

TEST(MaskSettingValueTest, HidesPasswordsAndCommands) {
  EXPECT_EQ(MaskSettingValue("primary_conninfo", "host=db password=s3cret user=r"),
            "host=db password=*** user=r");
  EXPECT_EQ(MaskSettingValue("primary_conninfo", "password = 'a b\\'c' host=x"),
            "password = *** host=x");
  EXPECT_EQ(MaskSettingValue("archive_command", "aws s3 cp %p s3://b --key ABC"), "<set>");
  EXPECT_EQ(MaskSettingValue("work_mem", "4096"), "4096");
}

TEST(ClusterSqlTest, ChecksColumnsByVersion) {
  EXPECT_NE(cluster_sql::Checkpoints(160000).find("pg_stat_bgwriter"), std::string::npos);
  EXPECT_EQ(cluster_sql::Checkpoints(160000).find("pg_stat_checkpointer"), std::string::npos);
  EXPECT_NE(cluster_sql::Checkpoints(170000).find("pg_stat_checkpointer"), std::string::npos);
  EXPECT_EQ(cluster_sql::Checkpoints(170000).find("num_done"), std::string::npos);
  EXPECT_NE(cluster_sql::Checkpoints(180000).find("num_done"), std::string::npos);
  EXPECT_TRUE(cluster_sql::StatWal(130000).empty());
  EXPECT_NE(cluster_sql::StatWal(170000).find("wal_write_time"), std::string::npos);
  EXPECT_EQ(cluster_sql::StatWal(180000).find("wal_write_time"), std::string::npos);
  EXPECT_TRUE(cluster_sql::StatIo(150000).empty());
  EXPECT_NE(cluster_sql::StatIo(160000).find("op_bytes"), std::string::npos);
  EXPECT_EQ(cluster_sql::StatIo(180000).find("op_bytes"), std::string::npos);
  EXPECT_EQ(cluster_sql::Databases(130000).find("session_time"), std::string::npos);
  EXPECT_NE(cluster_sql::Databases(140000).find("session_time"), std::string::npos);
  EXPECT_EQ(cluster_sql::Slots(120000, false).find("wal_status"), std::string::npos);
  EXPECT_NE(cluster_sql::Slots(130000, false).find("wal_status"), std::string::npos);
  EXPECT_EQ(cluster_sql::Progress(120000).find("pg_stat_progress_analyze"), std::string::npos);
  EXPECT_NE(cluster_sql::Standbys(150000, true).find("pg_last_wal_receive_lsn"), std::string::npos);
  EXPECT_EQ(cluster_sql::Status(150000).find("('reserved_connections')"), std::string::npos);
  EXPECT_NE(cluster_sql::Status(160000).find("('reserved_connections')"), std::string::npos);
}

// A PostgreSQL 15 primary with two databases, scripted section by section.
class ClusterCollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    session_.On("other_agents", [](const std::string&, const std::vector<PgValue>&) {
      return Rows({"server_version_num", "pid", "other_agents"}, {{"150004", "42", "0"}});
    });
    session_.On("FROM pg_stat_database d", [](const std::string&, const std::vector<PgValue>&) {
      return Rows({"datid", "datname", "xid_age", "allow_connections", "is_template", "can_connect",
                   "xact_commit", "blks_hit", "blks_read"},
                  {{"5", "postgres", "900", "t", "f", "t", "10", "90", "10"},
                   {"16384", "app", "1200", "t", "f", "t", "1", "0", "0"}});
    });
    session_.On("pg_stat_bgwriter", [](const std::string&, const std::vector<PgValue>&) {
      return Rows({"checkpoints_timed"}, {{"1"}});
    });
    session_.On("FROM pg_stat_wal", [](const std::string&, const std::vector<PgValue>&) {
      return Rows({"wal_records"}, {{"5"}});
    });
    session_.On("pg_stat_replication", [](const std::string&, const std::vector<PgValue>&) {
      return Result<PgResult>(PermissionDeniedError("permission denied for view (SQLSTATE 42501)"));
    });
    for (const char* view : {"count(*) AS autovacuum_workers", "pg_stat_progress_vacuum",
                             "WITH b AS", "GROUPING SETS", "pending_restart FROM pg_settings"}) {
      session_.On(view,
                  [](const std::string&, const std::vector<PgValue>&) { return Rows({}, {}); });
    }
    for (const char* visit :
         {"WITH t AS MATERIALIZED", "WITH i AS MATERIALIZED", "sum(relpages)"}) {
      session_.On(visit, [](const std::string&, const std::vector<PgValue>&) {
        return Rows({"relid"}, {});
      });
    }
    // Last, so checked first: the status query mentions pg_settings too.
    session_.On("WITH l AS", [](const std::string&, const std::vector<PgValue>&) {
      return Rows({"in_recovery", "lsn", "lsn_text", "current_database", "settings_hash",
                   "max_connections", "superuser_reserved_connections", "prepared_transactions",
                   "autovacuum_max_workers", "autovacuum_freeze_max_age"},
                  {{"f", "1000", "0/3E8", "postgres", "h1", "100", "3", "0", "3", "200000000"}});
    });
  }
  ClusterSnapshot Collect(Status* status = nullptr) {
    clock_.Advance(60s);
    pgagent::v1::Record record;
    Status st = collector_.Collect(record);
    if (status != nullptr) *status = st;
    EXPECT_TRUE(status != nullptr || st.ok()) << st.ToString();
    return record.cluster();
  }
  std::unique_ptr<PgSession> Open(const std::string& dbname) {
    opened_.push_back(dbname);
    main_connected_at_open_.push_back(session_.IsConnected());
    auto s = std::make_unique<FakePgSession>();
    s->On("sum(relpages)", [](const std::string&, const std::vector<PgValue>&) {
      return Rows({"size_bytes"}, {{"8192000"}});
    });
    s->On("AS MATERIALIZED",
          [](const std::string&, const std::vector<PgValue>&) { return Rows({"relid"}, {}); });
    return s;
  }

  FakeClock clock_;
  FakePgSession session_;
  PgConnection connection_{session_, clock_, PgConnectionOptions{}, 1};
  std::vector<std::string> opened_;
  std::vector<bool> main_connected_at_open_;
  ClusterCollector collector_{connection_, nullptr, clock_, ClusterOptions{},
                              [this](const std::string& db) { return Open(db); }};
};

TEST_F(ClusterCollectorTest, AMissingPrivilegeIsAWarningAndTheOtherSectionsGoOn) {
  ClusterSnapshot first = Collect();
  ClusterSnapshot s = Collect();
  ASSERT_EQ(s.warnings_size(), 1) << s.ShortDebugString();
  EXPECT_EQ(s.warnings(0).section(), "replication");
  EXPECT_NE(s.warnings(0).error().find("42501"), std::string::npos);
  EXPECT_EQ(collector_.warnings_total(), 2u);  // once per cycle
  EXPECT_EQ(s.databases_size(), 2);
  EXPECT_TRUE(s.has_checkpoints());
  EXPECT_TRUE(s.wal().has_stat_wal());
  EXPECT_TRUE(s.has_connections());
  EXPECT_FALSE(s.has_replication());  // the section failed before filling anything useful
}

TEST_F(ClusterCollectorTest, DatabaseCountersAreDeltasWithAHitRatio) {
  Collect();
  session_.On("FROM pg_stat_database d", [](const std::string&, const std::vector<PgValue>&) {
    return Rows({"datid", "datname", "xact_commit", "blks_hit", "blks_read"},
                {{"5", "postgres", "25", "180", "20"}});
  });
  ClusterSnapshot s = Collect();
  ASSERT_EQ(s.databases_size(), 1);
  ASSERT_TRUE(s.databases(0).has_delta());
  EXPECT_EQ(s.databases(0).delta().xact_commit(), 15u);
  EXPECT_DOUBLE_EQ(s.databases(0).cache_hit_ratio(), 0.9);  // 90 hits of 100 blocks
  EXPECT_DOUBLE_EQ(s.interval_s(), 60.0);
}

TEST_F(ClusterCollectorTest, SettingsAreSentOnTheFirstCycleAndWhenTheirHashChanges) {
  EXPECT_TRUE(Collect().has_settings());
  EXPECT_FALSE(Collect().has_settings());
  EXPECT_EQ(session_.CountQueries("pending_restart FROM pg_settings"), 1);
}

TEST_F(ClusterCollectorTest, ALostConnectionEndsTheCycle) {
  Collect();
  session_.On("pg_stat_bgwriter", [this](const std::string&, const std::vector<PgValue>&) {
    session_.Close();
    return Result<PgResult>(UnavailableError("server closed the connection"));
  });
  Status st;
  Collect(&st);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
}

TEST_F(ClusterCollectorTest, OtherDatabasesAreVisitedOneAtATimeAfterTheMainSessionCloses) {
  // Two databases, 60 s cycles, 600 s schema interval: one visit per cycle.
  ClusterSnapshot first = Collect();
  ASSERT_EQ(first.objects_size(), 1) << first.ShortDebugString();
  EXPECT_EQ(first.objects(0).datname(), "app");  // never visited, alphabetical
  EXPECT_EQ(first.objects(0).size_bytes(), 8192000u);
  ASSERT_EQ(opened_, std::vector<std::string>{"app"});
  EXPECT_FALSE(main_connected_at_open_[0]);  // never two pgagent connections
  EXPECT_TRUE(session_.IsConnected());       // back on the configured database
  ClusterSnapshot second = Collect();
  ASSERT_EQ(second.objects_size(), 1);
  EXPECT_EQ(second.objects(0).datname(), "postgres");  // over the main connection
  EXPECT_EQ(opened_.size(), 1u);
  EXPECT_EQ(Collect().objects_size(), 0);  // both visited within schema_interval_s
  clock_.Advance(600s);
  ClusterSnapshot again = Collect();
  ASSERT_EQ(again.objects_size(), 1);
  EXPECT_GE(again.objects(0).interval_s(), 600.0);
}

}  // namespace
}  // namespace pgagent
