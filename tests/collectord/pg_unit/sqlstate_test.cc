#include <gtest/gtest.h>

#include "collectord/pg/libpq_session.h"

namespace pgagent {
namespace {

TEST(SqlStateMappingTest, TimeoutsAreDeadlineExceeded) {
  EXPECT_EQ(StatusCodeForSqlState("57014"), StatusCode::kDeadlineExceeded);  // statement_timeout
  EXPECT_EQ(StatusCodeForSqlState("55P03"), StatusCode::kDeadlineExceeded);  // lock_timeout
}

TEST(SqlStateMappingTest, MissingPrivilegeIsPermissionDenied) {
  EXPECT_EQ(StatusCodeForSqlState("42501"), StatusCode::kPermissionDenied);
}

TEST(SqlStateMappingTest, MissingObjectsAreFailedPrecondition) {
  for (const char* s : {"42P01", "42883", "42703", "55000"}) {
    EXPECT_EQ(StatusCodeForSqlState(s), StatusCode::kFailedPrecondition) << s;
  }
}

TEST(SqlStateMappingTest, ShutdownAndConnectionErrorsAreUnavailable) {
  for (const char* s : {"08006", "08001", "57P01", "57P03", "53300"}) {
    EXPECT_EQ(StatusCodeForSqlState(s), StatusCode::kUnavailable) << s;
  }
}

TEST(SqlStateMappingTest, AnythingElseIsInternal) {
  EXPECT_EQ(StatusCodeForSqlState("42601"), StatusCode::kInternal);  // syntax error: our bug
  EXPECT_EQ(StatusCodeForSqlState("25006"), StatusCode::kInternal);  // write in read-only
  EXPECT_EQ(StatusCodeForSqlState(""), StatusCode::kInternal);
}

}  // namespace
}  // namespace pgagent
