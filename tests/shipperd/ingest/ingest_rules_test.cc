// The pure rules of shipperd's ingest: who may send (SO_PEERCRED as libzmq reports it) and
// when a failing buffer is worth a journal line.
#include <gtest/gtest.h>

#include "shipperd/ingest/failure_streak.h"
#include "shipperd/ingest/ingest_server.h"

namespace pgagent {
namespace {

TEST(IpcPeerAddressTest, TheLastThreeNumbersAreUidGidAndPid) {
  auto c = ParseIpcPeerAddress("localhost:65534:65533:13578");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->uid, 65534u);
  EXPECT_EQ(c->gid, 65533u);
  EXPECT_EQ(c->pid, 13578);
  auto root = ParseIpcPeerAddress(":0:0:1");
  ASSERT_TRUE(root.has_value());
  EXPECT_EQ(root->uid, 0u);
}

TEST(IpcPeerAddressTest, AnAddressWithoutCredentialsIsNotUnderstood) {
  for (const char* text :
       {"", "localhost", "127.0.0.1:5555", "a:1:2", "a:1:2:x", "a:1::3", "a:-1:2:3", "a:1:2:3 "}) {
    EXPECT_FALSE(ParseIpcPeerAddress(text).has_value()) << text;
  }
}

TEST(IngestPeerAllowedTest, RootShipperdsUserAndTheCollectorsUserMaySend) {
  EXPECT_TRUE(IngestPeerAllowed(0, 998, 997));
  EXPECT_TRUE(IngestPeerAllowed(998, 998, 997));
  EXPECT_TRUE(IngestPeerAllowed(997, 998, 997));
  EXPECT_FALSE(IngestPeerAllowed(1000, 998, 997));          // a DBA in the socket's group
  EXPECT_FALSE(IngestPeerAllowed(997, 998, std::nullopt));  // collector unknown: refused
  EXPECT_TRUE(IngestPeerAllowed(0, 998, std::nullopt));
}

TEST(FailureStreakTest, OnlyTheFirstFailureAndTheRecoveryAreChanges) {
  FailureStreak streak;
  EXPECT_EQ(streak.OnSuccess(), FailureStreak::Change::kNone);
  EXPECT_EQ(streak.OnFailure(), FailureStreak::Change::kStartedFailing);
  for (int i = 0; i < 1030; ++i) EXPECT_EQ(streak.OnFailure(), FailureStreak::Change::kNone);
  EXPECT_TRUE(streak.failing());
  EXPECT_EQ(streak.failures_in_streak(), 1031u);
  EXPECT_EQ(streak.OnSuccess(), FailureStreak::Change::kRecovered);
  EXPECT_FALSE(streak.failing());
  EXPECT_EQ(streak.last_streak_failures(), 1031u);
  EXPECT_EQ(streak.failures_in_streak(), 0u);
  EXPECT_EQ(streak.OnSuccess(), FailureStreak::Change::kNone);
  EXPECT_EQ(streak.OnFailure(), FailureStreak::Change::kStartedFailing);
  EXPECT_EQ(streak.streaks(), 2u);
  EXPECT_EQ(streak.total_failures(), 1032u);
}

}  // namespace
}  // namespace pgagent
