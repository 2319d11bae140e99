#include "collectord/pg/pg_session.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

TEST(PgagentTagTest, TagQueryPutsTheTagAtBothEndsOnce) {
  EXPECT_EQ(TagQuery("SELECT 1"), "/* pgagent */ SELECT 1 /* pgagent */");
  EXPECT_EQ(TagQuery(TagQuery("SELECT 1")), TagQuery("SELECT 1"));
}

TEST(PgagentTagTest, OwnQueriesAreRecognisedByEitherEnd) {
  EXPECT_TRUE(IsPgagentQuery("/* pgagent */ SELECT $1"));
  // PostgreSQL 18's pg_stat_statements drops the leading comment.
  EXPECT_TRUE(IsPgagentQuery("SELECT $1 FROM pg_stat_activity /* pgagent */"));
  EXPECT_TRUE(IsPgagentQuery("SELECT 1 /* pgagent */;\n"));
  EXPECT_FALSE(IsPgagentQuery("SELECT '/* pgagent */' AS spoof, 1"));
  EXPECT_FALSE(IsPgagentQuery("SELECT 1"));
}

}  // namespace
}  // namespace pgagent
