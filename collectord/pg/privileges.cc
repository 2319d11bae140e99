#include "collectord/pg/privileges.h"

#include "collectord/pg/pg_values.h"

namespace pgagent {

Status CheckMonitoringPrivileges(PgSession& session) {
  if (!session.IsConnected()) PGAGENT_RETURN_IF_ERROR(session.Connect());
  auto res = session.Query(
      "SELECT current_user AS role,"
      " pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS read_all_stats");
  if (!res.ok()) return res.status().WithContext("checking monitoring privileges");
  if (res->rows.empty()) return InternalError("checking monitoring privileges: no row");
  if (PgBool(res->Get(0, "read_all_stats"))) return Status::Ok();
  return PermissionDeniedError(
      "role \"" + PgText(res->Get(0, "role")) +
      "\" lacks pg_monitor / pg_read_all_stats: other sessions' queries and "
      "pg_stat_statements texts would show as <insufficient privilege>; run "
      "GRANT pg_monitor TO \"" +
      PgText(res->Get(0, "role")) + "\"");
}

}  // namespace pgagent
