#include "collectord/pg/libpq_session.h"

#include <libpq-fe.h>

#include <memory>

namespace pgagent {
namespace {

void IgnoreNotice(void*, const char*) {}

std::string FirstLine(const char* message) {
  std::string text = message ? message : "";
  auto newline = text.find('\n');
  if (newline != std::string::npos) text.resize(newline);
  return text;
}

std::string StartupOptions(const PgConnectionOptions& o) {
  return "-c statement_timeout=" + std::to_string(o.statement_timeout.count()) +
         " -c lock_timeout=" + std::to_string(o.lock_timeout.count()) +
         " -c idle_in_transaction_session_timeout=" +
         std::to_string(o.idle_in_transaction_session_timeout.count()) +
         " -c default_transaction_read_only=on -c jit=off";
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

PgResult ConvertResult(const PGresult* res, uint64_t& bytes) {
  PgResult out;
  int ncols = PQnfields(res);
  int nrows = PQntuples(res);
  out.columns.reserve(static_cast<size_t>(ncols));
  for (int c = 0; c < ncols; ++c) out.columns.emplace_back(PQfname(res, c));
  out.rows.reserve(static_cast<size_t>(nrows));
  for (int r = 0; r < nrows; ++r) {
    PgRow row;
    row.reserve(static_cast<size_t>(ncols));
    bytes += 7 + 4 * static_cast<uint64_t>(ncols);
    for (int c = 0; c < ncols; ++c) {
      if (PQgetisnull(res, r, c)) {
        row.emplace_back(std::nullopt);
        continue;
      }
      int len = PQgetlength(res, r, c);
      bytes += static_cast<uint64_t>(len);
      row.emplace_back(std::string(PQgetvalue(res, r, c), static_cast<size_t>(len)));
    }
    out.rows.push_back(std::move(row));
  }
  return out;
}

}  // namespace

StatusCode StatusCodeForSqlState(std::string_view s) {
  if (s == "57014" || s == "55P03") return StatusCode::kDeadlineExceeded;
  if (s == "42501") return StatusCode::kPermissionDenied;
  if (s == "42P01" || s == "42883" || s == "42703" || s == "55000" || s == "3F000") {
    return StatusCode::kFailedPrecondition;
  }
  // Connection exceptions, operator intervention (shutdown, crash), resources, recovery.
  if (s.starts_with("08") || s.starts_with("57P") || s.starts_with("53")) {
    return StatusCode::kUnavailable;
  }
  return StatusCode::kInternal;
}

LibpqSession::LibpqSession(PgConnectionOptions options) : options_(std::move(options)) {}

LibpqSession::~LibpqSession() { Close(); }

std::string LibpqSession::Endpoint() const {
  // Parse the conninfo (not connect) to name the target without its password.
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(options_.conninfo.c_str(), &error);
  if (error) PQfreemem(error);
  std::string host = "localhost";
  std::string port = "5432";
  if (parsed) {
    for (PQconninfoOption* o = parsed; o->keyword; ++o) {
      if (!o->val || !*o->val) continue;
      std::string_view key = o->keyword;
      if (key == "host" || (key == "hostaddr" && host == "localhost")) host = o->val;
      if (key == "port") port = o->val;
    }
    PQconninfoFree(parsed);
  }
  return host + ":" + port;
}

Status LibpqSession::Connect() {
  Close();
  std::string timeout = std::to_string(options_.connect_timeout.count());
  std::string startup = StartupOptions(options_);
  std::string user_timeout = std::to_string(options_.statement_timeout.count() + 30000);
  const char* keys[] = {"dbname", "application_name", "connect_timeout", "options", "keepalives",
                        "keepalives_idle", "keepalives_interval", "keepalives_count",
                        "tcp_user_timeout",
                        // A second dbname is a plain name overriding the conninfo's.
                        options_.dbname_override.empty() ? nullptr : "dbname", nullptr};
  const char* values[] = {options_.conninfo.c_str(),
                          options_.application_name.c_str(),
                          timeout.c_str(),
                          startup.c_str(),
                          "1",
                          "30",
                          "10",
                          "3",
                          user_timeout.c_str(),
                          options_.dbname_override.c_str(),
                          nullptr};
  conn_ = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (conn_ == nullptr)
    return UnavailableError("cannot connect to PostgreSQL at " + Endpoint() + ": out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string why = FirstLine(PQerrorMessage(conn_));
    Close();
    return UnavailableError("cannot connect to PostgreSQL at " + Endpoint() + ": " + why);
  }
  PQsetNoticeProcessor(conn_, IgnoreNotice, nullptr);
  return Status::Ok();
}

void LibpqSession::Close() {
  prepared_.clear();  // prepared statements live and die with the connection
  if (conn_ != nullptr) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
}

bool LibpqSession::IsConnected() const {
  return conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK;
}

Status LibpqSession::ErrorFromResult(const PGresult* res) {
  if (res == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    std::string why = FirstLine(PQerrorMessage(conn_));
    Close();
    return UnavailableError("lost connection to PostgreSQL at " + Endpoint() + ": " + why);
  }
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string sqlstate = state ? state : "";
  std::string message = FirstLine(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
  if (message.empty()) message = FirstLine(PQresultErrorMessage(res));
  StatusCode code = sqlstate.empty() ? StatusCode::kUnavailable : StatusCodeForSqlState(sqlstate);
  if (code == StatusCode::kUnavailable) Close();
  return Status(code, message + " (SQLSTATE " + (sqlstate.empty() ? "none" : sqlstate) + ")");
}

Result<std::string> LibpqSession::Prepare(const std::string& text, int nparams) {
  auto it = prepared_.find(text);
  if (it != prepared_.end()) return it->second;
  if (prepared_.size() >= kMaxPreparedStatements) return std::string();
  std::string name = "pgagent_" + std::to_string(++next_statement_);
  ResultPtr res(PQprepare(conn_, name.c_str(), text.c_str(), nparams, nullptr));
  if (!res || PQresultStatus(res.get()) != PGRES_COMMAND_OK) return ErrorFromResult(res.get());
  prepared_.emplace(text, name);
  return name;
}

Result<PgResult> LibpqSession::Query(std::string_view sql, const std::vector<PgValue>& params) {
  if (!IsConnected()) return UnavailableError("not connected to PostgreSQL at " + Endpoint());
  std::string text = TagQuery(sql);
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  int n = static_cast<int>(values.size());
  PGAGENT_ASSIGN_OR_RETURN(std::string name, Prepare(text, n));
  ResultPtr res(name.empty() ? PQexecParams(conn_, text.c_str(), n, nullptr, values.data(), nullptr,
                                            nullptr, /*resultFormat=*/0)
                             : PQexecPrepared(conn_, name.c_str(), n, values.data(), nullptr,
                                              nullptr, /*resultFormat=*/0));
  ExecStatusType st = res ? PQresultStatus(res.get()) : PGRES_FATAL_ERROR;
  if (res && PQstatus(conn_) == CONNECTION_OK &&
      (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)) {
    return ConvertResult(res.get(), bytes_received_);
  }
  Status error = ErrorFromResult(res.get());
  if (!name.empty() && IsConnected()) {
    prepared_.erase(text);
    ResultPtr dealloc(PQexec(conn_, ("DEALLOCATE " + name).c_str()));
  }
  return error;
}

}  // namespace pgagent
