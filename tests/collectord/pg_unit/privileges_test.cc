#include "collectord/pg/privileges.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_pg_session.h"

namespace pgagent {
namespace {

TEST(CheckMonitoringPrivilegesTest, OkWhenTheRoleReadsAllStats) {
  FakePgSession s;
  s.OnResult("pg_read_all_stats", MakePgResult({"role", "read_all_stats"}, {{"monitor", "t"}}));
  EXPECT_TRUE(CheckMonitoringPrivileges(s).ok());
}

TEST(CheckMonitoringPrivilegesTest, PermissionDeniedNamesTheMissingRoles) {
  FakePgSession s;
  s.OnResult("pg_read_all_stats", MakePgResult({"role", "read_all_stats"}, {{"app", "f"}}));
  Status st = CheckMonitoringPrivileges(s);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_NE(st.message().find("pg_monitor"), std::string::npos);
  EXPECT_NE(st.message().find("pg_read_all_stats"), std::string::npos);
  EXPECT_NE(st.message().find("\"app\""), std::string::npos);
}

TEST(CheckMonitoringPrivilegesTest, UnreachableDatabaseIsUnavailable) {
  FakePgSession s;
  s.QueueConnectResult(
      UnavailableError("cannot connect to PostgreSQL at db.example:5433: refused"));
  Status st = CheckMonitoringPrivileges(s);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_NE(st.message().find("db.example:5433"), std::string::npos);
}

}  // namespace
}  // namespace pgagent
