// Helpers for the collectord/pg integration tests: a plain libpq connection that a test
// uses to play an application (hold locks, run statements), and a PgSession decorator that
// records what the collectors send and can slow one query down on the server.
// Thread-safety: test thread only.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "collectord/pg/libpq_session.h"
#include "collectord/pg/pg_session.h"
#include "tests/harness/pg_cluster.h"

namespace pgagent::testing {

// One application connection. Every statement is bounded by statement_timeout and
// lock_timeout (set in the startup options) so that a failing test can never hang.
class TestBackend {
 public:
  TestBackend(const PgCluster& cluster, const std::string& application_name,
              const std::string& user = "postgres") {
    std::string conninfo = cluster.ConnString(user) + " application_name='" + application_name +
                           "' options='-c statement_timeout=30000 -c lock_timeout=20000'";
    conn_ = PQconnectdb(conninfo.c_str());
  }
  ~TestBackend() {
    if (conn_ != nullptr) PQfinish(conn_);
  }
  TestBackend(const TestBackend&) = delete;
  TestBackend& operator=(const TestBackend&) = delete;

  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(conn_); }
  int pid() const { return PQbackendPID(conn_); }

  // Runs SQL synchronously; returns the first value of the first row ("" if none) or
  // "ERROR: ..." on failure.
  std::string Exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string out;
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_TUPLES_OK && PQntuples(r) > 0 && PQnfields(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    } else if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      out = std::string("ERROR: ") + PQresultErrorMessage(r);
    }
    PQclear(r);
    return out;
  }
  // Sends SQL without waiting (for statements that will block on a lock).
  bool Send(const std::string& sql) { return PQsendQuery(conn_, sql.c_str()) == 1; }
  // Consumes the results of a Send() (blocks until the statement ends; bounded by the
  // statement/lock timeouts).
  void Drain() {
    while (PGresult* r = PQgetResult(conn_)) PQclear(r);
  }

 private:
  PGconn* conn_ = nullptr;
};

// Polls `condition` every 20 ms for at most `limit`; returns its last value. Used only to
// wait for real server state (a backend reaching a lock wait), never to test timing.
template <typename F>
bool WaitFor(F condition, std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// Delegates to a real LibpqSession, recording every query and its parameters. When
// `slow_when_contains` is set, a matching SELECT is wrapped so that the server sleeps
// `slow_seconds` before returning, which lets a test hit a real statement_timeout.
class RecordingSession final : public PgSession {
 public:
  explicit RecordingSession(PgConnectionOptions options) : real_(std::move(options)) {}

  Status Connect() override { return real_.Connect(); }
  void Close() override { real_.Close(); }
  bool IsConnected() const override { return real_.IsConnected(); }
  uint64_t BytesReceived() const override { return real_.BytesReceived(); }
  Result<PgResult> Query(std::string_view sql, const std::vector<PgValue>& params = {}) override {
    std::string text(sql);
    queries.push_back({text, params});
    if (!slow_when_contains.empty() && text.find(slow_when_contains) != std::string::npos) {
      text = "SELECT q.* FROM (" + text + ") q, pg_sleep(" + std::to_string(slow_seconds) + ")";
    }
    return real_.Query(text, params);
  }

  std::vector<std::pair<std::string, std::vector<PgValue>>> queries;
  std::string slow_when_contains;
  double slow_seconds = 2.0;

 private:
  LibpqSession real_;
};

}  // namespace pgagent::testing
