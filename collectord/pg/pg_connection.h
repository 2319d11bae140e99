// PgConnection: keeps the one PgSession connected. Connects lazily, reconnects after a
// lost connection, waits a capped exponential backoff with jitter between failed attempts
// (time from the Clock; FakeClock in tests), and refuses to stay connected when too many
// pgagent sessions already exist. After each successful connect it learns the server
// version and its backend pid, and bumps generation() so that collectors can re-detect
// extensions.
//
// Agent-session rule: right after connecting, one query counts sessions in
// pg_stat_activity with our application_name other than our own backend (application_name
// is visible without extra privileges). When that count is >= max_agent_sessions the
// session is closed again and EnsureConnected() returns kResourceExhausted; the next try
// waits for the backoff as after any failed attempt.
// Thread-safety: not thread-safe; owned by the collector scheduler thread. The session and
// the clock must outlive the PgConnection.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "collectord/pg/pg_options.h"
#include "collectord/pg/pg_session.h"
#include "common/backoff.h"
#include "common/clock.h"

namespace pgagent {

class PgConnection {
 public:
  enum class State { kDisconnected, kBackoff, kConnected };

  PgConnection(PgSession& session, const Clock& clock, PgConnectionOptions options,
               uint64_t jitter_seed = std::random_device{}());
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // OK when connected (connecting now if allowed). kUnavailable while the backoff delay
  // runs or when the attempt failed (message names host:port, never the password);
  // kResourceExhausted when too many pgagent sessions exist.
  Status EnsureConnected();

  // EnsureConnected() + session.Query(). A kUnavailable result marks the connection lost;
  // the next call reconnects at once (the backoff applies to failed connects only).
  Result<PgResult> Query(std::string_view sql, const std::vector<PgValue>& params = {});

  // Closes the session (e.g. at shutdown). The next EnsureConnected() reconnects.
  void Disconnect();

  State state() const { return state_; }
  // "connected", "disconnected" or "backoff" (AgentHealth.db_state).
  std::string_view StateName() const;
  // Valid after a successful connect; 0 before.
  int server_version_num() const { return server_version_num_; }
  int32_t backend_pid() const { return backend_pid_; }
  // Incremented on every successful connect (starts at 0: never connected).
  uint64_t generation() const { return generation_; }
  uint64_t failed_attempts() const { return failed_attempts_; }
  uint64_t connections_lost() const { return connections_lost_; }
  const std::string& application_name() const { return options_.application_name; }
  const std::string& last_error() const { return last_error_; }
  PgSession& session() { return session_; }

 private:
  Status Attempt();
  Status AfterConnect();
  void ScheduleRetry(const Status& why);

  PgSession& session_;
  const Clock& clock_;
  PgConnectionOptions options_;
  Backoff backoff_;
  State state_ = State::kDisconnected;
  std::chrono::steady_clock::time_point retry_at_{};
  int server_version_num_ = 0;
  int32_t backend_pid_ = 0;
  uint64_t generation_ = 0;
  uint64_t failed_attempts_ = 0;
  uint64_t connections_lost_ = 0;
  std::string last_error_;
};

}  // namespace pgagent
