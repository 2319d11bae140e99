#include "collectord/pg/pg_values.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

TEST(PgValuesTest, ParsesNumbersWithFallbacks) {
  EXPECT_EQ(PgInt(std::string("-42")), -42);
  EXPECT_EQ(PgInt(std::nullopt, 7), 7);
  EXPECT_EQ(PgInt(std::string("abc"), 3), 3);
  EXPECT_EQ(PgUint(std::string("18446744073709551615")), 18446744073709551615ull);
  EXPECT_DOUBLE_EQ(PgDouble(std::string("1.5")), 1.5);
  EXPECT_DOUBLE_EQ(PgDouble(std::string(""), 2.0), 2.0);
  EXPECT_TRUE(PgBool(std::string("t")));
  EXPECT_FALSE(PgBool(std::string("f"), true));
  EXPECT_TRUE(PgBool(std::nullopt, true));
}

TEST(PgValuesTest, ParsesIntArrays) {
  EXPECT_EQ(PgIntArray(std::string("{1,-2,3}")), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_TRUE(PgIntArray(std::string("{}")).empty());
  EXPECT_TRUE(PgIntArray(std::nullopt).empty());
  EXPECT_TRUE(PgIntArray(std::string("garbage")).empty());
  EXPECT_EQ(PgIntArray(std::string("{5,x,6}")), (std::vector<int64_t>{5, 6}));
}

TEST(PgValuesTest, ConvertsEpochMicrosToTimestamps) {
  auto ts = TimestampFromMicros(std::string("1767225600123456"));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->seconds(), 1767225600);
  EXPECT_EQ(ts->nanos(), 123456000);
  ts = TimestampFromMicros(std::string("-1"));
  ASSERT_TRUE(ts.has_value());
  EXPECT_EQ(ts->seconds(), -1);
  EXPECT_EQ(ts->nanos(), 999999000);
  EXPECT_FALSE(TimestampFromMicros(std::nullopt).has_value());
  EXPECT_FALSE(TimestampFromMicros(std::string("soon")).has_value());
}

}  // namespace
}  // namespace pgagent
