#include "shipperd/delivery/correlation_rows.h"

#include <gtest/gtest.h>

#include "shipperd/delivery/correlating_buffer.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_correlation_store.h"
#include "tests/fakes/fake_record_buffer.h"

namespace pgagent {
namespace {

using pgagent::v1::CorrelationRow;
using pgagent::v1::Record;

constexpr char kA[] = "0b7c8c1e-1111-4a4a-8b8b-000000000001";
constexpr char kB[] = "0b7c8c1e-2222-4a4a-8b8b-000000000002";

Record Activity(uint64_t seq) {
  Record r;
  r.mutable_id()->set_boot_id("boot");
  r.mutable_id()->set_seq(seq);
  r.set_kind(pgagent::v1::RECORD_KIND_ACTIVITY);
  r.mutable_collected_at()->set_seconds(1767225600 + static_cast<int64_t>(seq));
  r.set_host("db1");
  auto* a = r.mutable_activity();
  auto add = [&](int pid, const char* id, double ms) {
    auto* s = a->add_sessions();
    s->set_pid(pid);
    s->set_state("active");
    s->set_query("UPDATE t SET v = ? WHERE id = ?");
    s->set_query_duration_ms(ms);
    if (id) s->set_correlation_id(id);
  };
  add(101, kA, 2500);
  add(102, nullptr, 10);
  add(103, kB, 30);
  auto* w = a->add_lock_waits();
  w->set_blocked_pid(103);
  w->set_root_blocker_pid(101);
  w->set_wait_duration_ms(2000);
  w->set_blocked_correlation_id(kB);
  w->set_blocking_correlation_id(kA);
  return r;
}

Record Log(uint64_t seq, const char* id, const char* level, double duration_ms) {
  Record r;
  r.mutable_id()->set_boot_id("boot");
  r.mutable_id()->set_seq(seq);
  r.set_kind(pgagent::v1::RECORD_KIND_LOG);
  r.mutable_collected_at()->set_seconds(1767225600 + static_cast<int64_t>(seq));
  auto* e = r.mutable_log()->add_entries();
  e->set_level(level);
  e->set_pid(200 + static_cast<int32_t>(seq));
  e->set_message("m");
  e->set_statement("SELECT ? FROM t");
  e->set_correlation_id(id);
  if (duration_ms >= 0) e->set_duration_ms(duration_ms);
  return r;
}

const CorrelationRow* Find(const std::vector<CorrelationRow>& rows, const std::string& id) {
  for (const auto& r : rows) {
    if (r.correlation_id() == id) return &r;
  }
  return nullptr;
}

TEST(CorrelationRowsTest, EachIdInASnapshotGetsOneRowWithItsSessionsAndLockWaits) {
  const auto rows = ExtractCorrelationRows(Activity(1));
  ASSERT_EQ(rows.size(), 2u);
  const CorrelationRow* a = Find(rows, kA);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->sessions_size(), 1);
  EXPECT_EQ(a->lock_waits_size(), 1);
  EXPECT_EQ(a->query(), "UPDATE t SET v = ? WHERE id = ?");
  EXPECT_DOUBLE_EQ(a->duration_ms(), 2500);
  EXPECT_EQ(a->records(0).seq(), 1u);
  // The root blocker outranks its waiter, and both outrank a plain fast session.
  const CorrelationRow* b = Find(rows, kB);
  ASSERT_NE(b, nullptr);
  EXPECT_GT(a->score(), b->score());
  EXPECT_GT(b->score(), 5e4);
}

TEST(CorrelationRowsTest, AFailedStatementOutranksEveryOtherReason) {
  const auto failed = ExtractCorrelationRows(Log(1, kA, "ERROR", -1));
  const auto slow = ExtractCorrelationRows(Log(2, kB, "LOG", 60000));
  ASSERT_EQ(failed.size(), 1u);
  ASSERT_EQ(slow.size(), 1u);
  EXPECT_GT(failed[0].score(), slow[0].score());
  EXPECT_GT(failed[0].score(), ExtractCorrelationRows(Activity(3))[0].score());
  EXPECT_EQ(failed[0].query(), "SELECT ? FROM t");
  EXPECT_DOUBLE_EQ(slow[0].duration_ms(), 60000);
}

TEST(CorrelationRowsTest, MergingIsIdempotentAndKeepsTheLatestSampleOfEachBackend) {
  CorrelationRow row = *Find(ExtractCorrelationRows(Activity(1)), kA);
  const CorrelationRow log = ExtractCorrelationRows(Log(2, kA, "LOG", 3000))[0];
  MergeCorrelationRows(row, log);
  const std::string once = row.SerializeAsString();
  MergeCorrelationRows(row, log);  // the same record resent after a crash
  EXPECT_EQ(row.SerializeAsString(), once);
  EXPECT_EQ(row.entries_size(), 1);
  EXPECT_EQ(row.sessions_size(), 1);
  EXPECT_DOUBLE_EQ(row.duration_ms(), 3000);  // the logged duration is the longest now
  MergeCorrelationRows(row, *Find(ExtractCorrelationRows(Activity(5)), kA));
  EXPECT_EQ(row.sessions_size(), 1);  // pid 101 again: the newer sample replaces it
  EXPECT_EQ(row.last_seen().seconds(), 1767225605);
  EXPECT_EQ(row.records_size(), 3);
}

TEST(CorrelationRowsTest, RowsAreBoundedWhateverHowOftenAnIdIsSeen) {
  CorrelationLimits limits;
  limits.max_entries = 4;
  CorrelationRow row = ExtractCorrelationRows(Log(1, kA, "LOG", 1), limits)[0];
  for (uint64_t seq = 2; seq <= 50; ++seq) {
    MergeCorrelationRows(row, ExtractCorrelationRows(Log(seq, kA, "LOG", 1), limits)[0], limits);
  }
  EXPECT_EQ(row.entries_size(), 4);
  EXPECT_EQ(row.entries_dropped(), 46u);
  EXPECT_EQ(row.records_size(), 16);
}

TEST(CorrelatingBufferTest, RowsAreFiledBeforeTheRecordsAndNotAgainForDuplicates) {
  FakeClock clock;
  FakeRecordBuffer buffer(100ull << 20, &clock);
  FakeCorrelationStore store(clock);
  CorrelatingBuffer correlating(buffer, store);
  ASSERT_TRUE(correlating.Append({Activity(1), Log(2, kA, "ERROR", -1)}).ok());
  EXPECT_EQ(store.Stats()->pending, 2u);
  EXPECT_EQ(buffer.Stats()->records, 2u);
  auto a = store.Get(kA);
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->entries_size(), 1);
  EXPECT_EQ((*a)->sessions_size(), 1);
  ASSERT_TRUE(store.MarkLinked(kA, (*a)->merges()).ok());
  // collectord resends both (it never saw the acknowledgement): duplicates, no new row.
  ASSERT_TRUE(correlating.Append({Activity(1), Log(2, kA, "ERROR", -1)}).ok());
  EXPECT_FALSE(store.Get(kA)->has_value());
  EXPECT_EQ(buffer.Stats()->records, 2u);
}

TEST(CorrelatingBufferTest, WhenTheStoreFailsNothingIsAppendedSoCollectordResends) {
  FakeClock clock;
  FakeRecordBuffer buffer(100ull << 20, &clock);
  FakeCorrelationStore store(clock);
  CorrelatingBuffer correlating(buffer, store);
  store.FailNextUpserts(1);
  EXPECT_FALSE(correlating.Append({Activity(1)}).ok());
  EXPECT_EQ(buffer.Stats()->records, 0u);
  EXPECT_TRUE(correlating.Append({Activity(1)}).ok());
  EXPECT_EQ(store.Stats()->pending, 2u);
}

}  // namespace
}  // namespace pgagent
