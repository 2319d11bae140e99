#include "shipperd/metrics/growth_watch.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

TEST(GrowthWatchTest, TheFirstObservationIsOnlyTheBaseline) {
  GrowthWatch watch;
  watch.Observe(500, 1000.0);  // evictions before this process started
  EXPECT_EQ(watch.last_growth_unix_s(), 0.0);
}

TEST(GrowthWatchTest, RemembersWhenTheCounterLastGrew) {
  GrowthWatch watch;
  watch.Observe(3, 1000.0);
  watch.Observe(3, 1005.0);
  EXPECT_EQ(watch.last_growth_unix_s(), 0.0);
  watch.Observe(4, 1010.0);
  EXPECT_EQ(watch.last_growth_unix_s(), 1010.0);
  watch.Observe(4, 1015.0);
  EXPECT_EQ(watch.last_growth_unix_s(), 1010.0);
}

TEST(GrowthWatchTest, ACounterThatRestartsLowerIsNotGrowth) {
  GrowthWatch watch;
  watch.Observe(10, 1000.0);
  watch.Observe(2, 1005.0);  // e.g. a purged dead-letter queue
  EXPECT_EQ(watch.last_growth_unix_s(), 0.0);
  watch.Observe(3, 1010.0);
  EXPECT_EQ(watch.last_growth_unix_s(), 1010.0);
}

}  // namespace
}  // namespace pgagent
