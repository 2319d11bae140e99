#include "tests/fakes/fake_record_buffer.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"
#include "tests/shared/buffer/buffer_test_util.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using testing::MakeRecord;

TEST(FakeRecordBufferTest, KeepsFifoOrderAndSkipsDuplicates) {
  FakeRecordBuffer buffer;
  auto first = buffer.Append({MakeRecord("b", 1), MakeRecord("b", 2)});
  ASSERT_TRUE(first.ok());
  auto second = buffer.Append({MakeRecord("b", 2), MakeRecord("b", 3)});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->duplicate_seqs, std::vector<uint64_t>({2}));
  EXPECT_EQ(second->stored_seqs, std::vector<uint64_t>({3}));
  EXPECT_EQ(*buffer.HighWaterMark("b"), 3u);
  auto items = buffer.Peek(10);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 3u);
  EXPECT_LT((*items)[0].key, (*items)[1].key);
  EXPECT_EQ((*items)[2].record.id().seq(), 3u);
  ASSERT_TRUE(buffer.Remove({(*items)[0].key}).ok());
  EXPECT_EQ(buffer.Peek(10)->front().record.id().seq(), 2u);
}

TEST(FakeRecordBufferTest, PeekNewestReadsFromTheTailNewestFirst) {
  FakeRecordBuffer buffer;
  EXPECT_TRUE(buffer.PeekNewest(2)->empty());
  ASSERT_TRUE(buffer.Append({MakeRecord("b", 1), MakeRecord("b", 2), MakeRecord("b", 3)}).ok());
  auto newest = buffer.PeekNewest(2);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].record.id().seq(), 3u);
  EXPECT_EQ((*newest)[1].record.id().seq(), 2u);
  EXPECT_GT((*newest)[0].key, (*newest)[1].key);
}

TEST(FakeRecordBufferTest, EvictsOldestOverTheCapAndCountsByKind) {
  const uint64_t one = MakeRecord("b", 1).ByteSizeLong() + FakeRecordBuffer::kOverheadBytes;
  FakeRecordBuffer buffer(2 * one);
  ASSERT_TRUE(buffer.Append({MakeRecord("b", 1), MakeRecord("b", 2), MakeRecord("b", 3)}).ok());
  auto stats = buffer.Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->records, 2u);
  EXPECT_EQ(stats->evicted_records_by_kind["log"], 1u);
  EXPECT_EQ(buffer.Peek(1)->front().record.id().seq(), 2u);
}

TEST(FakeRecordBufferTest, InjectedFailuresStoreNothing) {
  FakeRecordBuffer buffer;
  buffer.FailNextAppends(1);
  EXPECT_EQ(buffer.Append({MakeRecord("b", 1)}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(*buffer.HighWaterMark("b"), 0u);
  EXPECT_TRUE(buffer.Append({MakeRecord("b", 1)}).ok());
  EXPECT_EQ(buffer.append_calls(), 2u);
}

TEST(FakeRecordBufferTest, DeadLettersAreCappedAndRequeuedAtTheTail) {
  FakeClock clock;
  FakeRecordBuffer buffer(1 << 20, &clock, /*max_dead_letters=*/2);
  ASSERT_TRUE(buffer.Append({MakeRecord("b", 1)}).ok());
  for (uint64_t seq : {10, 11, 12}) {
    DeadLetter letter;
    letter.http_status = 400;
    letter.records = {MakeRecord("b", seq)};
    ASSERT_TRUE(buffer.AddDeadLetter(letter).ok());
  }
  auto letters = buffer.ListDeadLetters(10);
  ASSERT_EQ(letters->size(), 2u);
  EXPECT_EQ(letters->front().records.at(0).id().seq(), 11u);
  EXPECT_EQ(buffer.Stats()->dead_letters_dropped, 1u);
  EXPECT_EQ(*buffer.RequeueDeadLetters({letters->front().id}), 1u);
  EXPECT_EQ(buffer.Peek(10)->back().record.id().seq(), 11u);
  EXPECT_EQ(*buffer.PurgeDeadLetters(), 1u);
  clock.Advance(5s);
  EXPECT_DOUBLE_EQ(buffer.Stats()->oldest_age_s, 5.0);
  EXPECT_EQ(*buffer.Purge(), 2u);
}

}  // namespace
}  // namespace pgagent
