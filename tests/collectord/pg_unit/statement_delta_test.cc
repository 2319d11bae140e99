#include "collectord/pg/statement_delta.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace pgagent {
namespace {

StatementCounters C(uint64_t calls, double time, uint64_t rows = 0) {
  StatementCounters c;
  c.calls = calls;
  c.total_exec_time = time;
  c.rows = rows;
  c.max_exec_time = time;
  return c;
}

const StatementKey kA{10, 5, 1234, true};
const StatementKey kB{10, 5, 5678, true};

TEST(StatementDeltaTrackerTest, FirstSampleIsABaselineWithoutDeltas) {
  StatementDeltaTracker t;
  EXPECT_FALSE(t.Update(kA, C(3, 1.0)).has_value());
  t.FinishSample();
  EXPECT_TRUE(t.has_baseline());
}

TEST(StatementDeltaTrackerTest, DeltaIsTheDifferenceOfCounters) {
  StatementDeltaTracker t;
  (void)t.Update(kA, C(3, 1.0, 30));
  t.FinishSample();
  auto d = t.Update(kA, C(10, 5.5, 100));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->calls, 7u);
  EXPECT_DOUBLE_EQ(d->total_exec_time, 4.5);
  EXPECT_EQ(d->rows, 70u);
  EXPECT_DOUBLE_EQ(d->max_exec_time, 5.5);  // cumulative, copied
}

TEST(StatementDeltaTrackerTest, NewEntryAfterBaselineCountsFromZero) {
  StatementDeltaTracker t;
  (void)t.Update(kA, C(3, 1.0));
  t.FinishSample();
  auto d = t.Update(kB, C(4, 2.0));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->calls, 4u);
}

TEST(StatementDeltaTrackerTest, CounterThatWentDownStartsANewBaselineNeverNegative) {
  StatementDeltaTracker t;
  (void)t.Update(kA, C(100, 50.0));
  t.FinishSample();
  auto d = t.Update(kA, C(2, 1.0));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->calls, 2u);
  EXPECT_DOUBLE_EQ(d->total_exec_time, 1.0);
  auto next = t.Update(kA, C(5, 1.5));
  EXPECT_EQ(next->calls, 3u);
}

TEST(StatementDeltaTrackerTest, MarkResetCountsEntriesThatReachedTheirOldValueAgain) {
  StatementDeltaTracker t;
  (void)t.Update(kA, C(7, 3.0));
  t.FinishSample();
  t.MarkReset();
  EXPECT_TRUE(t.Entries().empty());  // the next diff reads every entry again
  auto d = t.Update(kA, C(7, 3.5));
  EXPECT_EQ(d->calls, 7u);
}

TEST(StatementDeltaTrackerTest, FloatingNoiseNeverYieldsNegativeTime) {
  StatementDeltaTracker t;
  (void)t.Update(kA, C(3, 1.0000001));
  t.FinishSample();
  auto d = t.Update(kA, C(4, 1.0000001));
  EXPECT_GE(d->total_exec_time, 0.0);
}

TEST(StatementDeltaTrackerTest, EntriesListEveryKeyWithItsCalls) {
  StatementDeltaTracker t;
  (void)t.Update(kA, C(3, 1.0));
  (void)t.Update(kB, C(4, 1.0));
  t.FinishSample();
  auto entries = t.Entries();
  std::sort(entries.begin(), entries.end(),
            [](const auto& x, const auto& y) { return x.first.queryid < y.first.queryid; });
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].first, kA);
  EXPECT_EQ(entries[0].second, 3u);
  EXPECT_EQ(entries[1].first, kB);
  EXPECT_EQ(entries[1].second, 4u);
}

TEST(StatementDeltaTrackerTest, ForgottenEntryCountsFromZeroWhenItComesBack) {
  StatementDeltaTracker t;
  (void)t.Update(kA, C(3, 1.0));
  (void)t.Update(kB, C(3, 1.0));
  t.FinishSample();
  t.Forget(kB);
  EXPECT_EQ(t.size(), 1u);
  // B comes back (re-created): counted from zero.
  EXPECT_EQ(t.Update(kB, C(5, 1.0))->calls, 5u);
}

TEST(StatementDeltaTrackerTest, ToplevelIsPartOfTheKey) {
  StatementDeltaTracker t;
  StatementKey nested = kA;
  nested.toplevel = false;
  (void)t.Update(kA, C(3, 1.0));
  (void)t.Update(nested, C(50, 1.0));
  t.FinishSample();
  EXPECT_EQ(t.Update(kA, C(4, 1.0))->calls, 1u);
  EXPECT_EQ(t.Update(nested, C(51, 1.0))->calls, 1u);
}

TEST(SelectStatementsTest, TopNByTimePlusThoseOverTheCallsThreshold) {
  std::vector<StatementCounters> d{C(1, 10.0), C(5000, 0.5), C(2, 30.0), C(3, 20.0), C(0, 0.0)};
  auto chosen = SelectStatements(d, 2, 1000);
  ASSERT_EQ(chosen.size(), 3u);
  EXPECT_EQ(chosen[0], 2u);
  EXPECT_EQ(chosen[1], 3u);
  EXPECT_EQ(chosen[2], 1u);
}

TEST(SelectStatementsTest, EntriesWithoutCallsAreNeverChosen) {
  std::vector<StatementCounters> d{C(0, 0.0), C(0, 0.0)};
  EXPECT_TRUE(SelectStatements(d, 100, 0).empty());
}

TEST(SelectStatementsTest, ZeroThresholdDisablesIt) {
  std::vector<StatementCounters> d{C(1, 10.0), C(5000, 0.5)};
  auto chosen = SelectStatements(d, 1, 0);
  ASSERT_EQ(chosen.size(), 1u);
  EXPECT_EQ(chosen[0], 0u);
}

}  // namespace
}  // namespace pgagent
