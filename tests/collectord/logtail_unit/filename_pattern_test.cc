#include "collectord/logtail/filename_pattern.h"

#include <gtest/gtest.h>

namespace pgagent::logtail {
namespace {

TEST(FilenamePatternTest, DefaultPostgresPatternMatchesItsFilesOnly) {
  auto p = FilenamePattern::Compile("postgresql-%Y-%m-%d_%H%M%S.log");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_TRUE(p->Matches("postgresql-2026-11-27_101500.log"));
  EXPECT_FALSE(p->Matches("postgresql-2026-11-27_101500.csv"));
  EXPECT_FALSE(p->Matches("postgresql-2026-11-27_1015.log"));
  EXPECT_FALSE(p->Matches("postgresql-2026-11-27_101500.log.1"));
  EXPECT_FALSE(p->Matches("postgresql-20x6-11-27_101500.log"));
}

TEST(FilenamePatternTest, WeekdayEpochAndPercentEscapesMatch) {
  auto weekday = FilenamePattern::Compile("postgresql-%a.log");
  ASSERT_TRUE(weekday.ok());
  EXPECT_TRUE(weekday->Matches("postgresql-Mon.log"));
  EXPECT_FALSE(weekday->Matches("postgresql-.log"));
  auto epoch = FilenamePattern::Compile("pg-%s-100%%.log");
  ASSERT_TRUE(epoch.ok());
  EXPECT_TRUE(epoch->Matches("pg-1764238500-100%.log"));
  EXPECT_FALSE(epoch->Matches("pg--100%.log"));
}

TEST(FilenamePatternTest, UnknownEscapeMatchesAnyNonEmptyRun) {
  auto p = FilenamePattern::Compile("log-%Q-end");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->Matches("log-anything-here-end"));
  EXPECT_FALSE(p->Matches("log--end"));
}

TEST(FilenamePatternTest, RejectsEmptyPatternsSlashesAndDanglingPercent) {
  EXPECT_EQ(FilenamePattern::Compile("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FilenamePattern::Compile("a/%Y.log").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(FilenamePattern::Compile("pg-%").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace pgagent::logtail
