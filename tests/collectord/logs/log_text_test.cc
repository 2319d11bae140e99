#include "collectord/logs/log_text.h"
#include "common/utf8.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

int64_t Seconds(std::string_view text, bool* unknown = nullptr) {
  google::protobuf::Timestamp ts;
  bool u = false;
  EXPECT_TRUE(ParsePgTimestamp(text, &ts, &u)) << text;
  if (unknown != nullptr) *unknown = u;
  return ts.seconds();
}

TEST(ParsePgTimestampTest, UtcAndNumericAndNamedZonesGiveTheSameInstant) {
  const int64_t utc = Seconds("2026-11-27 10:26:01 UTC");
  EXPECT_EQ(utc, 1795775161);
  EXPECT_EQ(Seconds("2026-11-27 11:26:01 +01"), utc);
  EXPECT_EQ(Seconds("2026-11-27 11:26:01 CET"), utc);
  EXPECT_EQ(Seconds("2026-11-27 05:26:01 EST"), utc);
  EXPECT_EQ(Seconds("2026-11-27 15:56:01 +0530"), utc);
  EXPECT_EQ(Seconds("2026-11-27 15:56:01 +05:30"), utc);
  EXPECT_EQ(Seconds("2026-11-27 07:26:01 -03"), utc);
  EXPECT_EQ(Seconds("2026-11-27 10:26:01"), utc);
}

TEST(ParsePgTimestampTest, MillisecondsBecomeNanos) {
  google::protobuf::Timestamp ts;
  bool u = false;
  ASSERT_TRUE(ParsePgTimestamp("2026-11-27 10:26:01.123 UTC", &ts, &u));
  EXPECT_EQ(ts.nanos(), 123000000);
}

TEST(ParsePgTimestampTest, UnknownZoneIsTakenAsUtcAndFlagged) {
  bool unknown = false;
  EXPECT_EQ(Seconds("2026-11-27 10:26:01 XYZT", &unknown), 1795775161);
  EXPECT_TRUE(unknown);
}

TEST(ParsePgTimestampTest, MalformedTimestampsAreRejected) {
  google::protobuf::Timestamp ts;
  bool u = false;
  EXPECT_FALSE(ParsePgTimestamp("2026-13-27 10:26:01 UTC", &ts, &u));
  EXPECT_FALSE(ParsePgTimestamp("yesterday", &ts, &u));
  EXPECT_FALSE(ParsePgTimestamp("", &ts, &u));
}

TEST(ParseEpochTimestampTest, SecondsAndMillis) {
  google::protobuf::Timestamp ts;
  ASSERT_TRUE(ParseEpochTimestamp("1795775161.250", &ts));
  EXPECT_EQ(ts.seconds(), 1795775161);
  EXPECT_EQ(ts.nanos(), 250000000);
  EXPECT_FALSE(ParseEpochTimestamp("abc", &ts));
}

TEST(SanitizeUtf8Test, ValidTextIsUntouchedAndInvalidBytesAreReplaced) {
  std::string ok = "caf\xc3\xa9 \xf0\x9f\x98\x80";
  EXPECT_FALSE(SanitizeUtf8(&ok));
  std::string bad =
      "a\xff"
      "b\xc3";
  EXPECT_TRUE(SanitizeUtf8(&bad));
  EXPECT_EQ(bad,
            "a\xef\xbf\xbd"
            "b\xef\xbf\xbd");
  std::string surrogate = "\xed\xa0\x80";
  EXPECT_TRUE(SanitizeUtf8(&surrogate));
}

}  // namespace
}  // namespace pgagent
