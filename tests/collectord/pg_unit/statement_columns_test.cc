#include "collectord/pg/statement_columns.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

TEST(StatementColumnsTest, ParsesExtensionVersions) {
  EXPECT_EQ(ParseExtensionVersion("1.10"), (ExtensionVersion{1, 10}));
  EXPECT_EQ(ParseExtensionVersion("1.7"), (ExtensionVersion{1, 7}));
  EXPECT_FALSE(ParseExtensionVersion("1"));
  EXPECT_FALSE(ParseExtensionVersion("1."));
  EXPECT_FALSE(ParseExtensionVersion("x.y"));
  EXPECT_FALSE(ParseExtensionVersion(""));
  EXPECT_FALSE(ParseExtensionVersion("1.10beta"));
}

TEST(StatementColumnsTest, Pg12UsesTotalTimeAndHasNoToplevelNorInfoView) {
  auto c = MapStatementColumns(120015, "1.7");
  EXPECT_EQ(c.total_exec_time, "s.total_time");
  EXPECT_EQ(c.min_exec_time, "s.min_time");
  EXPECT_EQ(c.max_exec_time, "s.max_time");
  EXPECT_EQ(c.total_plan_time, "0");
  EXPECT_EQ(c.toplevel, "true");
  EXPECT_FALSE(c.has_toplevel);
  EXPECT_FALSE(c.has_info_view);
  EXPECT_EQ(c.blk_read_time, "s.blk_read_time");
}

TEST(StatementColumnsTest, Pg13UsesTotalExecTimeWithoutToplevel) {
  auto c = MapStatementColumns(130011, "1.8");
  EXPECT_EQ(c.total_exec_time, "s.total_exec_time");
  EXPECT_EQ(c.total_plan_time, "s.total_plan_time");
  EXPECT_FALSE(c.has_toplevel);
  EXPECT_FALSE(c.has_info_view);
}

TEST(StatementColumnsTest, Pg14AddsToplevelAndInfoView) {
  auto c = MapStatementColumns(140010, "1.9");
  EXPECT_EQ(c.toplevel, "s.toplevel");
  EXPECT_TRUE(c.has_toplevel);
  EXPECT_TRUE(c.has_info_view);
  EXPECT_EQ(c.blk_read_time, "s.blk_read_time");
}

TEST(StatementColumnsTest, Pg15And16KeepBlkReadTime) {
  for (int v : {150004, 160002}) {
    auto c = MapStatementColumns(v, "1.10");
    EXPECT_EQ(c.total_exec_time, "s.total_exec_time");
    EXPECT_EQ(c.blk_read_time, "s.blk_read_time");
    EXPECT_EQ(c.blk_write_time, "s.blk_write_time");
    EXPECT_TRUE(c.has_toplevel);
  }
}

TEST(StatementColumnsTest, Pg17SumsSharedAndLocalBlockTimes) {
  auto c = MapStatementColumns(170000, "1.11");
  EXPECT_EQ(c.blk_read_time, "(s.shared_blk_read_time + s.local_blk_read_time)");
  EXPECT_EQ(c.blk_write_time, "(s.shared_blk_write_time + s.local_blk_write_time)");
  EXPECT_EQ(c.total_exec_time, "s.total_exec_time");
}

TEST(StatementColumnsTest, InstalledExtensionVersionWinsOverServerVersion) {
  // pg_upgrade'd to 15 without ALTER EXTENSION UPDATE: the 1.7 columns remain.
  auto c = MapStatementColumns(150004, "1.7");
  EXPECT_EQ(c.total_exec_time, "s.total_time");
  EXPECT_FALSE(c.has_toplevel);
}

TEST(StatementColumnsTest, UnparseableVersionFallsBackToTheServerDefault) {
  EXPECT_EQ(DefaultExtensionVersion(120000), (ExtensionVersion{1, 7}));
  EXPECT_EQ(DefaultExtensionVersion(130000), (ExtensionVersion{1, 8}));
  EXPECT_EQ(DefaultExtensionVersion(140000), (ExtensionVersion{1, 9}));
  EXPECT_EQ(DefaultExtensionVersion(150000), (ExtensionVersion{1, 10}));
  EXPECT_EQ(DefaultExtensionVersion(160000), (ExtensionVersion{1, 10}));
  EXPECT_EQ(DefaultExtensionVersion(170000), (ExtensionVersion{1, 11}));
  EXPECT_EQ(DefaultExtensionVersion(180000), (ExtensionVersion{1, 12}));
  auto c = MapStatementColumns(130000, "garbage");
  EXPECT_EQ(c.total_exec_time, "s.total_exec_time");
  EXPECT_FALSE(c.has_toplevel);
}

}  // namespace
}  // namespace pgagent
