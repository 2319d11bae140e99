// PgSession: the one edge between collectord and the monitored PostgreSQL. It runs a query
// with text parameters and returns rows of nullable text values. The real implementation
// is LibpqSession (exactly one libpq connection); tests use FakePgSession
// (tests/fakes/fake_pg_session.h).
//
// Errors are mapped so that callers can react without parsing messages:
//   kUnavailable       connection lost / refused / server shutting down
//   kDeadlineExceeded  statement_timeout (SQLSTATE 57014) or lock_timeout (55P03)
//   kPermissionDenied  insufficient privilege (42501)
//   kFailedPrecondition missing object / extension not loaded (42P01, 42883, 42703, 55000)
//   kInternal          any other SQL error (a bug in our query)
// Thread-safety: not thread-safe; one owner thread (the collector scheduler) uses it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgagent {

// Every query pgagent sends starts with this comment, so that DBAs (pg_stat_activity,
// logs, pg_stat_statements texts) and pgagent itself can tell its queries apart.
inline constexpr std::string_view kPgagentQueryTag = "/* pgagent */ ";

// PostgreSQL 18's pg_stat_statements drops a statement's leading comments from the text it
// stores, so the tag is repeated at the end, where every version keeps it.
inline constexpr std::string_view kPgagentQueryTrailer = " /* pgagent */";

// Returns `sql` with kPgagentQueryTag in front and kPgagentQueryTrailer at the end (each
// unless already there).
std::string TagQuery(std::string_view sql);

// Whether a query text (as pg_stat_activity or pg_stat_statements shows it) is one of
// pgagent's own: it starts with kPgagentQueryTag or ends with kPgagentQueryTrailer.
bool IsPgagentQuery(std::string_view text);

using PgValue = std::optional<std::string>;  // nullopt = SQL NULL
using PgRow = std::vector<PgValue>;

struct PgResult {
  std::vector<std::string> columns;
  std::vector<PgRow> rows;

  // Index of the column named `name`, or -1.
  int ColumnIndex(std::string_view name) const;
  // Value of `column` in row `row`; nullopt when NULL or when the column does not exist.
  // REQUIRES: row < rows.size().
  const PgValue& Get(size_t row, std::string_view column) const;
};

class PgSession {
 public:
  virtual ~PgSession() = default;

  // Opens the connection (closing any previous one). kUnavailable (message names
  // host:port, never the password) when the server can't be reached or refuses us.
  virtual Status Connect() = 0;
  // Closes the connection; a no-op when not connected.
  virtual void Close() = 0;
  virtual bool IsConnected() const = 0;
  // Runs one statement; `params` are bound as text ($1, $2, ...). The query is sent with
  // kPgagentQueryTag in front. Errors as in the file comment; after kUnavailable the
  // session is closed (IsConnected() is false).
  virtual Result<PgResult> Query(std::string_view sql, const std::vector<PgValue>& params = {}) = 0;
  // Approximate bytes of result data received since construction: for every row
  // 7 bytes (DataRow header) + 4 bytes per value + the value's length. Row descriptions
  // and protocol chatter are not counted. Used by the benchmark and health counters.
  virtual uint64_t BytesReceived() const = 0;
};

}  // namespace pgagent
