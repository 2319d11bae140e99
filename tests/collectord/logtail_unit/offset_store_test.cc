#include "collectord/logtail/offset_store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "tests/collectord/logtail_unit/logtail_test_util.h"

namespace pgagent::logtail {
namespace {

using testing::TempDir;

TailCursor SampleCursor() {
  TailCursor c;
  c.path = "/var/log/postgresql/postgresql-2026-11-27_101500.log";
  c.device = 2049;
  c.inode = 1234567;
  c.offset = 987654321;
  c.fingerprint = 0xfedcba9876543210ULL;
  c.fingerprint_len = 256;
  return c;
}

TEST(OffsetStoreTest, SavedCursorLoadsBackUnchanged) {
  TempDir dir;
  auto store = OffsetStore::Open(dir.File("state"), "pg-stderr");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ASSERT_TRUE((*store)->Save(SampleCursor()).ok());
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, SampleCursor());
}

TEST(OffsetStoreTest, NothingSavedLoadsAsNoState) {
  TempDir dir;
  auto store = OffsetStore::Open(dir.path(), "pg-stderr");
  ASSERT_TRUE(store.ok());
  auto loaded = (*store)->Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->has_value());
}

TEST(OffsetStoreTest, StateFileIsPrivateAndNoTemporaryFileRemains) {
  TempDir dir;
  auto store = OffsetStore::Open(dir.path(), "pg-stderr");
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Save(SampleCursor()).ok());
  TailCursor next = SampleCursor();
  next.offset += 100;
  ASSERT_TRUE((*store)->Save(next).ok());
  struct stat st;
  ASSERT_EQ(::stat((*store)->file_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists((*store)->file_path() + ".tmp"));
  EXPECT_EQ((*store)->Load()->value().offset, next.offset);
}

TEST(OffsetStoreTest, CorruptOrTruncatedStateIsDataLoss) {
  TempDir dir;
  auto store = OffsetStore::Open(dir.path(), "pg-stderr");
  ASSERT_TRUE(store.ok());
  std::string good = EncodeCursorState(SampleCursor());
  std::string flipped = good;
  flipped[good.find("offset ") + 7] = '5';
  testing::WriteFile((*store)->file_path(), flipped);
  EXPECT_EQ((*store)->Load().status().code(), StatusCode::kDataLoss);
  testing::WriteFile((*store)->file_path(), good.substr(0, good.size() / 2));
  EXPECT_EQ((*store)->Load().status().code(), StatusCode::kDataLoss);
  testing::WriteFile((*store)->file_path(), "");
  EXPECT_EQ((*store)->Load().status().code(), StatusCode::kDataLoss);
}

TEST(OffsetStoreTest, RejectsPathsWithNewlinesAndBadNames) {
  TempDir dir;
  auto store = OffsetStore::Open(dir.path(), "pg-stderr");
  ASSERT_TRUE(store.ok());
  TailCursor c = SampleCursor();
  c.path = "/tmp/evil\noffset 0";
  EXPECT_EQ((*store)->Save(c).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OffsetStore::Open(dir.path(), "../x").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(OffsetStore::Open(dir.path(), "").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgagent::logtail
