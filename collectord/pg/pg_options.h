// Options of the PostgreSQL connection. The lead maps the config file onto these in
// collectord/main.cc; this folder does not read configuration itself.
// Plain value types; thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/backoff.h"

namespace pgagent {

struct PgConnectionOptions {
  // libpq conninfo string or URI. It may hold a password: never logged, never put in an
  // error message (errors name host:port only).
  std::string conninfo;
  // Overrides any application_name in conninfo; other pgagent sessions are counted by it.
  std::string application_name = "bitville-monitor";
  std::chrono::seconds connect_timeout{5};
  // Session settings, sent as startup options (-c name=value) so that no SET round trips
  // are needed and they hold from the first query on. They override conninfo's `options`.
  std::chrono::milliseconds statement_timeout{5000};
  std::chrono::milliseconds lock_timeout{1000};
  std::chrono::milliseconds idle_in_transaction_session_timeout{10000};
  // Most pgagent sessions (same application_name) allowed at once, the new one included:
  // after connecting, PgConnection counts the others and disconnects again when there are
  // already `max_agent_sessions` or more. 0 disables the check.
  uint32_t max_agent_sessions = 2;
  BackoffOptions backoff;
  // When set, the session connects to this database instead of conninfo's (per-database
  // visits, collectord/pg/schema_visitor.h).
  std::string dbname_override;
};

}  // namespace pgagent
