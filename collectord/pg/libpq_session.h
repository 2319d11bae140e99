// LibpqSession: PgSession over exactly one libpq connection (blocking API).
// Connects to PgConnectionOptions::dbname_override instead of conninfo's database when set.
// On connect it sets application_name, connect_timeout, TCP keepalives and the session
// settings statement_timeout, lock_timeout, idle_in_transaction_session_timeout,
// default_transaction_read_only=on and jit=off (startup options, see PgConnectionOptions).
// Server notices are dropped (they would otherwise go to stderr, our log stream).
// Statements are prepared on first use and reused while the connection lasts (at most
// kMaxPreparedStatements texts; later ones run unprepared), so that a cycle's fixed
// queries are planned once per connection, not every cycle. A statement whose execution
// fails (other than by a lost connection) is deallocated and prepared afresh next time, so
// a changed extension or a cached-plan error never sticks.
// Thread-safety: not thread-safe; one owner thread.
#pragma once

#include <string>
#include <unordered_map>

#include "collectord/pg/pg_options.h"
#include "collectord/pg/pg_session.h"

struct pg_conn;
struct pg_result;

namespace pgagent {

class LibpqSession final : public PgSession {
 public:
  explicit LibpqSession(PgConnectionOptions options);
  ~LibpqSession() override;
  LibpqSession(const LibpqSession&) = delete;
  LibpqSession& operator=(const LibpqSession&) = delete;

  Status Connect() override;
  void Close() override;
  bool IsConnected() const override;
  Result<PgResult> Query(std::string_view sql, const std::vector<PgValue>& params = {}) override;
  uint64_t BytesReceived() const override { return bytes_received_; }

  // "host:port" of the configured server, for messages (never includes credentials).
  std::string Endpoint() const;

  static constexpr size_t kMaxPreparedStatements = 32;
  size_t prepared_count() const { return prepared_.size(); }

 private:
  // Name of the prepared statement for `text`, preparing it now if needed; "" when the
  // cache is full (run unprepared). Errors as for Query().
  Result<std::string> Prepare(const std::string& text, int nparams);
  Status ErrorFromResult(const pg_result* res);

  PgConnectionOptions options_;
  pg_conn* conn_ = nullptr;
  uint64_t bytes_received_ = 0;
  std::unordered_map<std::string, std::string> prepared_;  // query text -> statement name
  uint64_t next_statement_ = 0;
};

// Maps a SQLSTATE to the StatusCode documented in pg_session.h.
StatusCode StatusCodeForSqlState(std::string_view sqlstate);

}  // namespace pgagent
