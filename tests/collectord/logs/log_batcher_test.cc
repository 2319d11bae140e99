#include "collectord/logs/log_batcher.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

AssembledEntry Entry(std::string level, uint64_t end_offset, bool parsed = true) {
  AssembledEntry a;
  a.entry.set_level(std::move(level));
  a.entry.set_parsed(parsed);
  a.end_offset = end_offset;
  return a;
}

class LogBatcherTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  LogBatcher batcher_{clock_, LogBatcherOptions{3, 1000ms, LogFormat::kCsvlog}};
  std::vector<v1::LogBatch> out_;
};

TEST_F(LogBatcherTest, FullBatchGoesOutAtOnceWithCountsAndCursor) {
  batcher_.Add(Entry("LOG", 10), &out_);
  batcher_.Add(Entry("WARNING", 20), &out_);
  EXPECT_TRUE(out_.empty());
  batcher_.Add(Entry("LOG", 30, /*parsed=*/false), &out_);
  ASSERT_EQ(out_.size(), 1u);
  const v1::LogBatch& b = out_[0];
  EXPECT_EQ(b.count(), 3u);
  EXPECT_EQ(b.entries_size(), 3);
  EXPECT_EQ(b.levels().at("LOG"), 1u);
  EXPECT_EQ(b.levels().count(""), 0u);
  EXPECT_EQ(b.levels().at("WARNING"), 1u);
  EXPECT_EQ(b.unparsed(), 1u);
  EXPECT_EQ(b.format(), "csvlog");
  EXPECT_EQ(b.cursor().offset(), 30u);
  EXPECT_EQ(batcher_.pending_entries(), 0u);
}

TEST_F(LogBatcherTest, PartialBatchWaitsForLinger) {
  batcher_.Add(Entry("LOG", 10), &out_);
  clock_.Advance(999ms);
  batcher_.Poll(&out_);
  EXPECT_TRUE(out_.empty());
  batcher_.Add(Entry("LOG", 20), &out_);
  clock_.Advance(1ms);
  batcher_.Poll(&out_);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].count(), 2u);
  EXPECT_EQ(out_[0].cursor().offset(), 20u);
}

TEST_F(LogBatcherTest, LingerCountsFromTheFirstEntryOfEachBatch) {
  batcher_.Add(Entry("LOG", 10), &out_);
  clock_.Advance(1000ms);
  batcher_.Poll(&out_);
  ASSERT_EQ(out_.size(), 1u);
  batcher_.Add(Entry("LOG", 20), &out_);
  EXPECT_EQ(batcher_.NextDeadline(), clock_.Monotonic() + 1000ms);
  clock_.Advance(500ms);
  batcher_.Poll(&out_);
  EXPECT_EQ(out_.size(), 1u);
}

TEST_F(LogBatcherTest, ErrorsGoOutImmediately) {
  for (const char* level : {"ERROR", "FATAL", "PANIC"}) {
    out_.clear();
    batcher_.Add(Entry("LOG", 1), &out_);
    batcher_.Add(Entry(level, 2), &out_);
    ASSERT_EQ(out_.size(), 1u) << level;
    EXPECT_EQ(out_[0].count(), 2u);
  }
}

TEST_F(LogBatcherTest, CorrelatedEntriesGoOutImmediately) {
  AssembledEntry e = Entry("LOG", 5);
  e.entry.set_correlation_id("3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b");
  batcher_.Add(std::move(e), &out_);
  ASSERT_EQ(out_.size(), 1u);
  EXPECT_EQ(out_[0].entries(0).correlation_id(), "3f2b8c1e-4a5d-4e6f-8a9b-0c1d2e3f4a5b");
}

TEST_F(LogBatcherTest, NothingPendingMeansNoDeadlineAndNoBatch) {
  EXPECT_EQ(batcher_.NextDeadline(), std::nullopt);
  clock_.Advance(10s);
  batcher_.Poll(&out_);
  batcher_.Flush(&out_);
  EXPECT_TRUE(out_.empty());
}

TEST_F(LogBatcherTest, FlushEmitsThePartialBatchAndVectorAddKeepsOrder) {
  std::vector<AssembledEntry> entries;
  for (uint64_t i = 1; i <= 5; ++i) entries.push_back(Entry("LOG", i * 10));
  batcher_.Add(std::move(entries), &out_);
  ASSERT_EQ(out_.size(), 1u);
  batcher_.Flush(&out_);
  ASSERT_EQ(out_.size(), 2u);
  EXPECT_EQ(out_[0].cursor().offset(), 30u);
  EXPECT_EQ(out_[1].cursor().offset(), 50u);
  EXPECT_EQ(out_[1].count(), 2u);
}

TEST(LogBatcherDefaultsTest, DefaultsAre500EntriesAndOneSecond) {
  LogBatcherOptions o;
  EXPECT_EQ(o.max_entries, 500u);
  EXPECT_EQ(o.linger, 1000ms);
}

}  // namespace
}  // namespace pgagent
