#include "shared/buffer/stored_value.h"

#include <gtest/gtest.h>

#include "shared/buffer/crc32c.h"
#include "tests/shared/buffer/buffer_test_util.h"

namespace pgagent {
namespace {

using testing::MakeRecord;

TEST(Crc32cTest, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c(0, "123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32c(0, ""), 0u);
}

TEST(Crc32cTest, ExtendingInPiecesEqualsOneCall) {
  EXPECT_EQ(Crc32c(Crc32c(0, "12345"), "6789"), Crc32c(0, "123456789"));
}

TEST(Crc32cTest, TheFastPathAgreesWithTheTableForEveryLengthAndAlignment) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>((i * 131 + 7) & 0xFF));
  for (size_t offset = 0; offset < 9; ++offset) {
    for (size_t length = 0; offset + length <= data.size(); length += 7) {
      const std::string_view piece = std::string_view(data).substr(offset, length);
      ASSERT_EQ(Crc32c(0x12345678u, piece), internal::Crc32cPortable(0x12345678u, piece))
          << "offset " << offset << " length " << length;
    }
  }
}

TEST(StoredValueTest, RecordRoundTripsWithItsHeader) {
  auto record = MakeRecord("boot", 7, 50);
  auto value = EncodeRecordValue(record, 1234567);
  ASSERT_TRUE(value.ok());
  auto header = ReadRecordHeader(*value);
  ASSERT_TRUE(header.has_value());
  EXPECT_EQ(header->kind, pgagent::v1::RECORD_KIND_LOG);
  EXPECT_EQ(header->stored_at_unix_ms, 1234567);
  EXPECT_EQ(header->payload_len, value->size() - kRecordHeaderSize);
  auto decoded = DecodeRecordValue(*value);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->SerializeAsString(), record.SerializeAsString());
}

TEST(StoredValueTest, AnyFlippedByteIsDetected) {
  auto value = EncodeRecordValue(MakeRecord("boot", 7, 50), 1);
  ASSERT_TRUE(value.ok());
  for (size_t i = 0; i < value->size(); ++i) {
    std::string bad = *value;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    EXPECT_EQ(DecodeRecordValue(bad).status().code(), StatusCode::kDataLoss) << "byte " << i;
  }
}

TEST(StoredValueTest, TruncatedOrEmptyValuesAreDataLoss) {
  auto value = EncodeRecordValue(MakeRecord("boot", 7, 50), 1);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(DecodeRecordValue(value->substr(0, value->size() - 1)).status().code(),
            StatusCode::kDataLoss);
  EXPECT_EQ(DecodeRecordValue("").status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(ReadRecordHeader("short").has_value());
}

TEST(StoredValueTest, DeadLetterRoundTripsAndDetectsCorruption) {
  DeadLetter letter;
  letter.http_status = 400;
  letter.dead_lettered_at_unix_ms = 99;
  letter.envelope_json = R"({"source":"pg_log"})";
  letter.response_body = "bad source";
  letter.records = {MakeRecord("boot", 3)};
  auto value = EncodeDeadLetterValue(letter);
  ASSERT_TRUE(value.ok());
  auto decoded = DecodeDeadLetterValue(*value);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->http_status, 400);
  EXPECT_EQ(decoded->dead_lettered_at_unix_ms, 99);
  EXPECT_EQ(decoded->envelope_json, letter.envelope_json);
  EXPECT_EQ(decoded->response_body, "bad source");
  EXPECT_EQ(decoded->records.at(0).id().seq(), 3u);
  std::string bad = *value;
  bad[bad.size() - 3] = static_cast<char>(bad[bad.size() - 3] ^ 0x40);
  EXPECT_EQ(DecodeDeadLetterValue(bad).status().code(), StatusCode::kDataLoss);
}

TEST(StoredValueTest, KindNamesAreShortAndLowerCase) {
  EXPECT_EQ(KindName(pgagent::v1::RECORD_KIND_ACTIVITY), "activity");
  EXPECT_EQ(KindName(pgagent::v1::RECORD_KIND_STATEMENTS), "statements");
  EXPECT_EQ(KindName(pgagent::v1::RECORD_KIND_LOG), "log");
  EXPECT_EQ(KindName(200), "unknown");
}

}  // namespace
}  // namespace pgagent
