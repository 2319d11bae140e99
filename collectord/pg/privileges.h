// Checks, for `pgagent-collectord --once`, that the configured role can see what pgagent
// samples: other sessions' queries and all pg_stat_statements texts need pg_read_all_stats
// (directly or through pg_monitor; superusers have it implicitly).
// Thread-safety: not thread-safe (uses the session).
#pragma once

#include "collectord/pg/pg_session.h"

namespace pgagent {

// Connects the session when it is not connected.
// OK when the role has pg_read_all_stats privileges.
// kUnavailable when the database can't be reached (the message names host:port);
// kPermissionDenied naming pg_monitor / pg_read_all_stats and the role when it lacks them;
// other query errors as in pg_session.h.
Status CheckMonitoringPrivileges(PgSession& session);

}  // namespace pgagent
