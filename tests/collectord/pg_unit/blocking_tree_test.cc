#include "collectord/pg/blocking_tree.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

TEST(BlockingTreeTest, DirectWaiterHasDepthOne) {
  auto t = BuildBlockingTree({{200, {100}}});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].pid, 200);
  EXPECT_EQ(t[0].root_blocker_pid, 100);
  EXPECT_EQ(t[0].chain_depth, 1u);
  EXPECT_FALSE(t[0].deadlock);
}

TEST(BlockingTreeTest, ThreeSessionChainFindsRootAndDepth) {
  // 300 waits for 200, which waits for 100 (holding the lock, not waiting).
  auto t = BuildBlockingTree({{300, {200}}, {200, {100}}});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].root_blocker_pid, 100);
  EXPECT_EQ(t[0].chain_depth, 2u);
  EXPECT_EQ(t[1].root_blocker_pid, 100);
  EXPECT_EQ(t[1].chain_depth, 1u);
}

TEST(BlockingTreeTest, NearestUnblockedAncestorWinsOverADeeperChain) {
  // 400 is blocked by 300 (itself waiting on 100) and by 200 (not waiting).
  auto t = BuildBlockingTree({{400, {300, 200}}, {300, {100}}});
  EXPECT_EQ(t[0].root_blocker_pid, 200);
  EXPECT_EQ(t[0].chain_depth, 1u);
}

TEST(BlockingTreeTest, LongChainIsFollowedToTheEnd) {
  std::vector<WaitEdges> edges;
  for (int32_t pid = 2; pid <= 50; ++pid) edges.push_back({pid, {pid - 1}});
  auto t = BuildBlockingTree(edges);
  EXPECT_EQ(t.back().pid, 50);
  EXPECT_EQ(t.back().root_blocker_pid, 1);
  EXPECT_EQ(t.back().chain_depth, 49u);
}

TEST(BlockingTreeTest, TwoWayDeadlockTerminatesAndIsFlagged) {
  auto t = BuildBlockingTree({{10, {20}}, {20, {10}}});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_TRUE(t[0].deadlock);
  EXPECT_TRUE(t[1].deadlock);
  EXPECT_EQ(t[0].root_blocker_pid, 10);  // lowest pid of the cycle
  EXPECT_EQ(t[0].chain_depth, 2u);       // 10 -> 20 -> 10
  EXPECT_EQ(t[1].root_blocker_pid, 10);
  EXPECT_EQ(t[1].chain_depth, 1u);
}

TEST(BlockingTreeTest, WaiterBehindACycleIsFlaggedToo) {
  auto t = BuildBlockingTree({{5, {30}}, {30, {40}}, {40, {30}}});
  EXPECT_TRUE(t[0].deadlock);
  EXPECT_EQ(t[0].root_blocker_pid, 30);
  EXPECT_EQ(t[0].chain_depth, 1u);
}

TEST(BlockingTreeTest, SelfLoopDoesNotHang) {
  auto t = BuildBlockingTree({{7, {7}}});
  EXPECT_TRUE(t[0].deadlock);
  EXPECT_EQ(t[0].root_blocker_pid, 7);
}

TEST(BlockingTreeTest, PreparedTransactionBlockerZeroIsARoot) {
  auto t = BuildBlockingTree({{9, {0}}});
  EXPECT_EQ(t[0].root_blocker_pid, 0);
  EXPECT_EQ(t[0].chain_depth, 1u);
  EXPECT_FALSE(t[0].deadlock);
}

TEST(BlockingTreeTest, WaiterWithNoBlockersAnyMoreHasNoRoot) {
  auto t = BuildBlockingTree({{9, {}}});
  EXPECT_EQ(t[0].root_blocker_pid, 0);
  EXPECT_EQ(t[0].chain_depth, 0u);
  EXPECT_FALSE(t[0].deadlock);
}

TEST(BlockingTreeTest, EmptyInputGivesEmptyTree) { EXPECT_TRUE(BuildBlockingTree({}).empty()); }

}  // namespace
}  // namespace pgagent
