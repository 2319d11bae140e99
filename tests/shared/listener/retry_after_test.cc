#include <gtest/gtest.h>

#include "shared/listener/curl_transport.h"

namespace pgagent {
namespace {

TEST(RetryAfterTest, DeltaSecondsAreDigitsOnly) {
  EXPECT_EQ(ParseRetryAfter("7", 0), 7.0);
  EXPECT_EQ(ParseRetryAfter(" 120 ", 0), 120.0);
  EXPECT_EQ(ParseRetryAfter("0", 0), 0.0);
  for (const char* bad : {"1.5", "inf", "1e20", "1e400", "-3", "nan", "", "7s", "0x10"}) {
    EXPECT_EQ(ParseRetryAfter(bad, 0), std::nullopt) << bad;
  }
}

TEST(RetryAfterTest, AHugeCountSaturatesInsteadOfOverflowing) {
  EXPECT_EQ(ParseRetryAfter("86400", 0), 86400.0);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999999999", 0), 1e9);
}

TEST(RetryAfterTest, AnHttpDateIsRelativeToNowAndNeverNegative) {
  const double now = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:50:37 GMT", now), 60.0);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:00:00 GMT", now), 0.0);
  EXPECT_EQ(ParseRetryAfter("not a date at all", now), std::nullopt);
}

}  // namespace
}  // namespace pgagent
