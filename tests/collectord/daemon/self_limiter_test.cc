#include "collectord/self_limiter.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

SelfLimiter Limiter() {
  SelfLimitOptions o;
  o.max_rss_bytes = 100 * kMiB;
  o.max_cpu_percent = 20;
  o.recover_after = 3;
  return SelfLimiter(o);
}

TEST(SelfLimiterTest, StaysQuietBelowTheLimits) {
  SelfLimiter l = Limiter();
  EXPECT_EQ(l.Observe(50 * kMiB, 5), SelfLimitChange::kNone);
  EXPECT_FALSE(l.shedding());
  EXPECT_EQ(l.interval_multiplier(), 1);
  EXPECT_TRUE(l.fetch_statement_texts());
}

TEST(SelfLimiterTest, ShedsWorkWhenRssCrossesTheLimit) {
  SelfLimiter l = Limiter();
  EXPECT_EQ(l.Observe(101 * kMiB, 5), SelfLimitChange::kStartedShedding);
  EXPECT_TRUE(l.shedding());
  EXPECT_EQ(l.reason(), "rss");
  EXPECT_EQ(l.interval_multiplier(), 2);
  EXPECT_FALSE(l.fetch_statement_texts());
}

TEST(SelfLimiterTest, ShedsWorkWhenCpuShareCrossesTheLimit) {
  SelfLimiter l = Limiter();
  EXPECT_EQ(l.Observe(10 * kMiB, 35), SelfLimitChange::kStartedShedding);
  EXPECT_EQ(l.reason(), "cpu");
}

TEST(SelfLimiterTest, RecoversOnlyAfterConsecutiveCalmObservationsWellBelowTheLimits) {
  SelfLimiter l = Limiter();
  l.Observe(101 * kMiB, 5);
  EXPECT_EQ(l.Observe(90 * kMiB, 5), SelfLimitChange::kNone);  // below the limit, above 80%
  EXPECT_EQ(l.Observe(70 * kMiB, 5), SelfLimitChange::kNone);
  EXPECT_EQ(l.Observe(70 * kMiB, 5), SelfLimitChange::kNone);
  EXPECT_EQ(l.Observe(70 * kMiB, 19), SelfLimitChange::kNone);  // CPU not calm: count restarts
  EXPECT_EQ(l.Observe(70 * kMiB, 5), SelfLimitChange::kNone);
  EXPECT_EQ(l.Observe(70 * kMiB, 5), SelfLimitChange::kNone);
  EXPECT_EQ(l.Observe(70 * kMiB, 5), SelfLimitChange::kStoppedShedding);
  EXPECT_FALSE(l.shedding());
  EXPECT_EQ(l.times_shed(), 1u);
}

TEST(SelfLimiterTest, AZeroLimitDisablesThatCheck) {
  SelfLimitOptions o;
  o.max_rss_bytes = 0;
  o.max_cpu_percent = 0;
  SelfLimiter l(o);
  EXPECT_EQ(l.Observe(10000 * kMiB, 400), SelfLimitChange::kNone);
}

}  // namespace
}  // namespace pgagent
