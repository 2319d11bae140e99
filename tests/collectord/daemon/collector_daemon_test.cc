#include "collectord/collector_daemon.h"
#include "collectord/log_pump.h"
#include "common/utf8.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

pgagent::v1::LogBatch Batch(int entries, size_t message_bytes) {
  pgagent::v1::LogBatch b;
  b.set_format("stderr");
  for (int i = 0; i < entries; ++i) {
    auto* e = b.add_entries();
    e->set_level(i % 2 ? "LOG" : "ERROR");
    e->set_message(std::to_string(i) + std::string(message_bytes, 'm'));
  }
  b.set_count(static_cast<uint32_t>(entries));
  b.set_unparsed(3);
  b.mutable_cursor()->set_offset(12345);
  return b;
}

TEST(SplitLogBatchTest, ASmallBatchStaysWhole) {
  auto parts = SplitLogBatch(Batch(10, 100), 1 << 20);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].entries_size(), 10);
  EXPECT_EQ(parts[0].cursor().offset(), 12345u);
}

TEST(SplitLogBatchTest, ALargeBatchIsSplitInOrderWithTheCursorOnlyOnTheLastPart) {
  auto parts = SplitLogBatch(Batch(100, 1000), 10000);
  ASSERT_GT(parts.size(), 1u);
  int next = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    EXPECT_LE(parts[i].ByteSizeLong(), 10000u);
    EXPECT_EQ(parts[i].count(), static_cast<uint32_t>(parts[i].entries_size()));
    uint32_t levels = 0;
    for (const auto& [level, n] : parts[i].levels()) levels += n;
    EXPECT_EQ(levels, parts[i].count());
    for (const auto& e : parts[i].entries()) EXPECT_EQ(e.message().rfind(std::to_string(next++), 0), 0u);
    EXPECT_EQ(parts[i].has_cursor(), i + 1 == parts.size());
  }
  EXPECT_EQ(next, 100);
  EXPECT_EQ(parts.back().cursor().offset(), 12345u);
  EXPECT_EQ(parts.front().unparsed(), 3u);
}

TEST(SplitLogBatchTest, AnEntryLargerThanTheLimitIsCutAndFlagged) {
  auto parts = SplitLogBatch(Batch(2, 50000), 8000);
  ASSERT_FALSE(parts.empty());
  for (const auto& p : parts) {
    EXPECT_LE(p.ByteSizeLong(), 8000u);
    for (const auto& e : p.entries()) EXPECT_TRUE(e.truncated());
  }
}

TEST(SplitLogBatchTest, AnOversizedEntryIsCutBetweenCharactersSoItStaysValidUtf8) {
  pgagent::v1::LogBatch batch;
  // "é" is two bytes: an odd field cap falls inside one.
  std::string message;
  for (int i = 0; i < 20000; ++i) message += "\xC3\xA9";
  batch.add_entries()->set_message(message);
  batch.add_entries()->set_message(message);
  for (size_t limit : {8008u, 8024u, 8040u}) {  // field caps of limit / 8: 1001, 1003, 1005
    for (const auto& part : SplitLogBatch(batch, limit)) {
      for (const auto& e : part.entries()) {
        EXPECT_TRUE(e.truncated());
        EXPECT_EQ(FirstInvalidUtf8(e.message()), std::string_view::npos) << "limit " << limit;
      }
    }
  }
}

TEST(BuildConninfoTest, QuotesValuesSoThatSpacesAndQuotesCannotInjectParameters) {
  DatabaseConfig db;
  db.host = "db.example";
  db.port = 5433;
  db.name = "my db";
  db.user = "mon";
  db.password = "pa'ss word";
  db.sslmode = "require";
  EXPECT_EQ(BuildConninfo(db),
            "host='db.example' port=5433 dbname='my db' user='mon' password='pa\\'ss word' "
            "sslmode='require'");
}

}  // namespace
}  // namespace pgagent
