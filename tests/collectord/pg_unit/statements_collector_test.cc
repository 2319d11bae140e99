#include "collectord/pg/statements_collector.h"

#include <gtest/gtest.h>

#include <map>

#include "collectord/pg/pg_values.h"
#include "common/log.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_pg_session.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

struct Entry {
  uint32_t userid;
  int64_t queryid;
  uint64_t calls;
  double time;
  std::string text;
};

// An in-memory pg_stat_statements answering the collector's queries through FakePgSession.
class FakePgss {
 public:
  explicit FakePgss(FakePgSession& s) {
    s.On("FROM pg_extension", [this](const std::string&, const std::vector<PgValue>&) {
      if (!installed)
        return Result<PgResult>(
            MakePgResult({"nspname", "extversion", "pgss_max", "own_userid"}, {}));
      return Result<PgResult>(MakePgResult({"nspname", "extversion", "pgss_max", "own_userid"},
                                           {{"public", "1.10", "5000", "10"}}));
    });
    s.On("pg_stat_statements_info", [this](const std::string&, const std::vector<PgValue>&) {
      return Result<PgResult>(MakePgResult({"dealloc", "stats_reset"}, {{"3", stats_reset}}));
    });
    s.On("FULL JOIN", [this](const std::string&, const std::vector<PgValue>& params) {
      ++diffs;
      std::vector<int64_t> users = PgIntArray(params.at(0));
      std::vector<int64_t> ids = PgIntArray(params.at(2));
      std::vector<int64_t> calls = PgIntArray(params.at(4));
      PgResult r = MakePgResult(
          {"userid", "dbid", "queryid", "toplevel", "calls", "total_exec_time", "rows", "rolname",
           "datname", "gone_userid", "gone_dbid", "gone_queryid", "gone_toplevel"},
          {});
      auto previous = [&](const Entry& e) -> int {
        for (size_t j = 0; j < ids.size(); ++j) {
          if (ids[j] == e.queryid && users[j] == e.userid) return static_cast<int>(j);
        }
        return -1;
      };
      last_rows = 0;
      std::vector<bool> still_there(ids.size(), false);
      for (const auto& e : entries) {
        int j = previous(e);
        if (j >= 0) still_there[static_cast<size_t>(j)] = true;
        if (j >= 0 && static_cast<uint64_t>(calls[static_cast<size_t>(j)]) == e.calls) continue;
        ++last_rows;
        r.rows.push_back({std::to_string(e.userid), "5", std::to_string(e.queryid), "t",
                          std::to_string(e.calls), std::to_string(e.time), "1", "web", "app",
                          std::nullopt, std::nullopt, std::nullopt, std::nullopt});
      }
      for (size_t j = 0; j < ids.size(); ++j) {
        if (still_there[j]) continue;
        r.rows.push_back({std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                          std::nullopt, std::nullopt, std::nullopt, std::nullopt,
                          std::to_string(users[j]), "5", std::to_string(ids[j]), "t"});
      }
      return Result<PgResult>(r);
    });
    s.On("pg_stat_statements(true)",
         [this](const std::string&, const std::vector<PgValue>& params) {
           std::vector<int64_t> only = PgIntArray(params.at(0));
           PgResult r = MakePgResult({"queryid", "query"}, {});
           for (const auto& e : entries) {
             if (std::find(only.begin(), only.end(), e.queryid) == only.end()) continue;
             r.rows.push_back({std::to_string(e.queryid), e.text});
             ++texts_served;
           }
           return Result<PgResult>(r);
         });
  }

  bool installed = true;
  std::string stats_reset = "2026-01-01 00:00:00+00";
  std::vector<Entry> entries;
  int diffs = 0;
  int last_rows = 0;  // full rows returned by the last diff
  int texts_served = 0;
};

class StatementsCollectorTest : public ::testing::Test {
 protected:
  StatementsCollectorTest() {
    session_.OnResult("other_agents", MakePgResult({"server_version_num", "pid", "other_agents"},
                                                   {{"150004", "1", "0"}}));
    log::SetSinkForTest([this](const std::string& line) { log_lines_.push_back(line); });
  }
  ~StatementsCollectorTest() override { log::SetSinkForTest(nullptr); }

  Result<pgagent::v1::StatementsSnapshot> Cycle() {
    pgagent::v1::Record record;
    Status st = collector_.Collect(record);
    clock_.Advance(60s);
    if (!st.ok()) return st;
    return record.statements();
  }

  FakeClock clock_;
  FakePgSession session_;
  FakePgss pgss_{session_};
  PgConnection conn_{session_, clock_, PgConnectionOptions{}, 1};
  StatementsOptions options_;
  StatementsCollector collector_{conn_, nullptr, clock_, options_};
  std::vector<std::string> log_lines_;
};

TEST_F(StatementsCollectorTest, FirstCycleIsABaselineThenDeltasAreExact) {
  pgss_.entries = {{10, 1, 5, 2.0, "SELECT $1"}, {10, 2, 1, 1.0, "SELECT 2"}};
  auto first = Cycle();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->baseline());
  EXPECT_EQ(first->count(), 0u);
  EXPECT_EQ(first->total_entries(), 2u);
  EXPECT_EQ(first->pgss_max(), 5000u);
  EXPECT_EQ(first->pgss_version(), "1.10");
  EXPECT_EQ(first->dealloc(), 3);

  pgss_.entries[0].calls = 12;
  pgss_.entries[0].time = 9.0;
  auto second = Cycle();
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->baseline());
  ASSERT_EQ(second->count(), 1u);
  EXPECT_EQ(second->statements(0).queryid(), 1);
  EXPECT_EQ(second->statements(0).calls(), 7u);
  EXPECT_DOUBLE_EQ(second->statements(0).total_exec_time_ms(), 7.0);
  EXPECT_DOUBLE_EQ(second->statements(0).mean_exec_time_ms(), 1.0);
  EXPECT_EQ(second->changed_entries(), 1u);
  EXPECT_DOUBLE_EQ(second->interval_s(), 60.0);
  EXPECT_EQ(pgss_.last_rows, 1);  // only the changed entry was read in full
}

TEST_F(StatementsCollectorTest, UnchangedEntriesAreNotReadInFull) {
  pgss_.entries = {{10, 1, 5, 2.0, "SELECT 1"}};
  ASSERT_TRUE(Cycle().ok());
  auto snap = Cycle();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(pgss_.last_rows, 0);
  EXPECT_EQ(snap->count(), 0u);
  EXPECT_EQ(snap->total_entries(), 1u);
}

TEST_F(StatementsCollectorTest, TextsAreFetchedOncePerQueryid) {
  pgss_.entries = {{10, 1, 5, 2.0, "SELECT $1"}};
  ASSERT_TRUE(Cycle().ok());
  for (int i = 0; i < 3; ++i) {
    pgss_.entries[0].calls += 1;
    auto snap = Cycle();
    ASSERT_TRUE(snap.ok());
    ASSERT_EQ(snap->count(), 1u);
    EXPECT_TRUE(snap->statements(0).text_known());
    EXPECT_EQ(snap->statements(0).query(), "SELECT $1");
  }
  EXPECT_EQ(collector_.texts_fetched_total(), 1u);
  EXPECT_EQ(pgss_.texts_served, 1);
}

TEST_F(StatementsCollectorTest, NoTextIsFetchedWhileTextFetchingIsShed) {
  pgss_.entries = {{10, 1, 5, 2.0, "SELECT $1"}};
  collector_.set_fetch_texts(false);
  ASSERT_TRUE(Cycle().ok());
  pgss_.entries[0].calls += 1;
  auto snap = Cycle();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->count(), 1u);
  EXPECT_FALSE(snap->statements(0).text_known());
  EXPECT_EQ(pgss_.texts_served, 0);
  collector_.set_fetch_texts(true);
  pgss_.entries[0].calls += 1;
  snap = Cycle();
  ASSERT_TRUE(snap.ok());
  EXPECT_TRUE(snap->statements(0).text_known());
  EXPECT_EQ(pgss_.texts_served, 1);
}

TEST_F(StatementsCollectorTest, TextFetchesAreBoundedPerCycle) {
  options_.max_texts_per_cycle = 2;
  StatementsCollector collector(conn_, nullptr, clock_, options_);
  for (int64_t id = 1; id <= 5; ++id)
    pgss_.entries.push_back({20, id, 1, 1.0, "SELECT " + std::to_string(id)});
  pgagent::v1::Record record;
  ASSERT_TRUE(collector.Collect(record).ok());
  for (auto& e : pgss_.entries) e.calls += 1;
  ASSERT_TRUE(collector.Collect(record).ok());
  EXPECT_EQ(record.statements().texts_fetched(), 2u);
  int known = 0;
  for (const auto& s : record.statements().statements()) known += s.text_known();
  EXPECT_EQ(known, 2);
  ASSERT_TRUE(collector.Collect(record).ok());  // nothing changed: no texts needed
  for (auto& e : pgss_.entries) e.calls += 1;
  ASSERT_TRUE(collector.Collect(record).ok());
  EXPECT_EQ(collector.texts_fetched_total(), 4u);
}

TEST_F(StatementsCollectorTest, StatsResetIsNoticedEvenWhenCallsReachTheOldValue) {
  pgss_.entries = {{10, 1, 7, 2.0, "SELECT 1"}};
  ASSERT_TRUE(Cycle().ok());
  pgss_.stats_reset = "2026-01-01 00:05:00+00";
  pgss_.entries[0].calls = 7;  // reset, then 7 calls again
  pgss_.entries[0].time = 3.0;
  auto snap = Cycle();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->count(), 1u);
  EXPECT_EQ(snap->statements(0).calls(), 7u);
}

TEST_F(StatementsCollectorTest, EvictedAndRecreatedEntryNeverGoesNegative) {
  pgss_.entries = {{10, 1, 100, 50.0, "SELECT 1"}};
  ASSERT_TRUE(Cycle().ok());
  pgss_.entries[0].calls = 3;
  pgss_.entries[0].time = 1.5;
  auto snap = Cycle();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->count(), 1u);
  EXPECT_EQ(snap->statements(0).calls(), 3u);
  EXPECT_DOUBLE_EQ(snap->statements(0).total_exec_time_ms(), 1.5);
}

TEST_F(StatementsCollectorTest, VanishedEntriesAreForgottenAndCountFromZeroWhenBack) {
  pgss_.entries = {{10, 1, 5, 2.0, "SELECT 1"}, {10, 2, 9, 2.0, "SELECT 2"}};
  ASSERT_TRUE(Cycle().ok());
  Entry evicted = pgss_.entries[1];
  pgss_.entries.pop_back();
  auto snap = Cycle();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->total_entries(), 1u);
  evicted.calls = 2;
  pgss_.entries.push_back(evicted);
  snap = Cycle();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->count(), 1u);
  EXPECT_EQ(snap->statements(0).calls(), 2u);
  EXPECT_EQ(snap->total_entries(), 2u);
}

TEST_F(StatementsCollectorTest, OwnShareCountsQueriesWithThePgagentComment) {
  pgss_.entries = {{10, 1, 1, 1.0, "/* pgagent */ SELECT 1"}, {20, 2, 1, 1.0, "SELECT 2"}};
  ASSERT_TRUE(Cycle().ok());
  pgss_.entries[0].calls = 2;
  pgss_.entries[0].time = 2.0;  // +1 ms own
  pgss_.entries[1].calls = 2;
  pgss_.entries[1].time = 4.0;  // +3 ms others
  auto snap = Cycle();
  ASSERT_TRUE(snap.ok());
  EXPECT_DOUBLE_EQ(snap->own_time_share(), 0.25);
}

TEST_F(StatementsCollectorTest, AbsentExtensionWarnsOnceAndIsPickedUpLater) {
  pgss_.installed = false;
  options_.recheck_every_cycles = 2;
  StatementsCollector collector(conn_, nullptr, clock_, options_);
  pgagent::v1::Record record;
  for (int i = 0; i < 3; ++i) {
    Status st = collector.Collect(record);
    EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(st.message().find("CREATE EXTENSION pg_stat_statements"), std::string::npos);
  }
  int warnings = 0;
  for (const auto& line : log_lines_)
    warnings += line.find("pg_stat_statements.absent") != std::string::npos;
  EXPECT_EQ(warnings, 1);
  pgss_.installed = true;
  pgss_.entries = {{10, 1, 1, 1.0, "SELECT 1"}};
  Status st;
  for (int i = 0; i < 3 && !(st = collector.Collect(record)).ok(); ++i) {
  }
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(collector.available());
}

TEST_F(StatementsCollectorTest, ReconnectTriggersDetectionAgain) {
  pgss_.entries = {{10, 1, 1, 1.0, "SELECT 1"}};
  ASSERT_TRUE(Cycle().ok());
  int detections = session_.CountQueries("FROM pg_extension");
  session_.DropConnection();
  EXPECT_EQ(Cycle().status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(Cycle().ok());
  EXPECT_EQ(session_.CountQueries("FROM pg_extension"), detections + 1);
}

}  // namespace
}  // namespace pgagent
