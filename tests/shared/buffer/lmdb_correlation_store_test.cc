#include "shared/buffer/lmdb_correlation_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/fakes/fake_clock.h"
#include "tests/shared/buffer/buffer_test_util.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::CorrelationRow;
using testing::TempDir;

CorrelationRow Row(const std::string& id, double score, int entries = 1) {
  CorrelationRow row;
  row.set_correlation_id(id);
  row.set_score(score);
  row.mutable_last_seen()->set_seconds(1767225600);
  for (int i = 0; i < entries; ++i) row.add_entries()->set_message("m" + std::to_string(i));
  return row;
}

// Appends from's entries and keeps the higher score (the real merge is correlation_rows.h).
void Merge(CorrelationRow& into, const CorrelationRow& from) {
  for (const auto& e : from.entries()) *into.add_entries() = e;
  into.set_score(std::max(into.score(), from.score()));
}

class LmdbCorrelationStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<LmdbCorrelationStore> Open(uint64_t max_rows = 2000) {
    LmdbCorrelationStoreOptions o;
    o.path = dir_.Sub("correlations");
    o.max_rows = max_rows;
    o.clock = &clock_;
    auto store = LmdbCorrelationStore::Open(o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }
  TempDir dir_;
  FakeClock clock_;
};

TEST_F(LmdbCorrelationStoreTest, RowsForOneIdAreMergedIntoOnePendingRow) {
  auto store = Open();
  ASSERT_TRUE(store->Upsert({Row("a", 10)}, Merge).ok());
  clock_.Advance(3s);
  ASSERT_TRUE(store->Upsert({Row("a", 50, 2), Row("b", 1)}, Merge).ok());
  auto headers = store->List();
  ASSERT_TRUE(headers.ok());
  ASSERT_EQ(headers->size(), 2u);
  auto a = store->Get("a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ((*a)->entries_size(), 3);
  EXPECT_EQ((*a)->merges(), 1u);
  for (const auto& h : *headers) {
    if (h.id != "a") continue;
    EXPECT_DOUBLE_EQ(h.score, 50);
    EXPECT_EQ(h.updated_unix_ms - h.created_unix_ms, 3000);
    EXPECT_FALSE(h.follow_up);
  }
  EXPECT_EQ(store->Stats()->seen, 2u);
  EXPECT_EQ(store->Stats()->pending, 2u);
}

TEST_F(LmdbCorrelationStoreTest, ALinkedRowIsRemovedAndALaterOneIsAFollowUp) {
  auto store = Open();
  ASSERT_TRUE(store->Upsert({Row("a", 10)}, Merge).ok());
  ASSERT_TRUE(store->MarkLinked("a", 0).ok());
  EXPECT_FALSE(store->Get("a")->has_value());
  ASSERT_TRUE(store->Upsert({Row("a", 10)}, Merge).ok());
  auto a = store->Get("a");
  ASSERT_TRUE(a->has_value());
  EXPECT_TRUE((*a)->follow_up());
  EXPECT_EQ(store->Stats()->linked, 1u);
  EXPECT_EQ(store->Stats()->follow_ups, 1u);
  EXPECT_EQ(store->Stats()->seen, 1u);
}

TEST_F(LmdbCorrelationStoreTest, ARowMergedAfterItWasReadStaysAsAFollowUpWhenLinked) {
  auto store = Open();
  ASSERT_TRUE(store->Upsert({Row("a", 10)}, Merge).ok());
  const uint32_t merges_read = (*store->Get("a"))->merges();
  ASSERT_TRUE(store->Upsert({Row("a", 10)}, Merge).ok());  // news while it was being sent
  ASSERT_TRUE(store->MarkLinked("a", merges_read).ok());
  auto a = store->Get("a");
  ASSERT_TRUE(a->has_value());  // what was merged is not linked yet
  EXPECT_TRUE((*a)->follow_up());
}

TEST_F(LmdbCorrelationStoreTest, OverTheRowCapTheLowestScoresAreDroppedAndCounted) {
  auto store = Open(/*max_rows=*/3);
  ASSERT_TRUE(store->Upsert({Row("low", 1), Row("mid", 100), Row("high", 1e6)}, Merge).ok());
  ASSERT_TRUE(store->Upsert({Row("higher", 2e6)}, Merge).ok());
  EXPECT_FALSE(store->Get("low")->has_value());
  EXPECT_TRUE(store->Get("mid")->has_value());
  EXPECT_TRUE(store->Get("higher")->has_value());
  EXPECT_EQ(store->Stats()->evicted, 1u);
  EXPECT_EQ(store->Stats()->pending, 3u);
}

TEST_F(LmdbCorrelationStoreTest, PendingRowsSurviveAReopenAndFilesAreOwnerOnly) {
  {
    auto store = Open();
    ASSERT_TRUE(store->Upsert({Row("a", 10)}, Merge).ok());
  }
  auto store = Open();
  EXPECT_TRUE(store->Get("a")->has_value());
  struct stat st {};
  ASSERT_EQ(stat((dir_.Sub("correlations") + "/data.mdb").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(LmdbCorrelationStoreTest, EmptyOrOversizedIdsAreRefusedAndCounted) {
  auto store = Open();
  ASSERT_TRUE(store->Upsert({Row("", 1), Row(std::string(200, 'x'), 1)}, Merge).ok());
  EXPECT_EQ(store->Stats()->bad_ids, 2u);
  EXPECT_EQ(store->Stats()->pending, 0u);
}

TEST_F(LmdbCorrelationStoreTest, ADroppedRowIsGoneAndCounted) {
  auto store = Open();
  ASSERT_TRUE(store->Upsert({Row("a", 10)}, Merge).ok());
  ASSERT_TRUE(store->Drop("a").ok());
  EXPECT_FALSE(store->Get("a")->has_value());
  EXPECT_EQ(store->Stats()->dropped, 1u);
}

}  // namespace
}  // namespace pgagent
