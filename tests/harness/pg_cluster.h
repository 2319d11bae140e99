// A throwaway PostgreSQL 15 cluster for integration tests: initdb into a temp dir, a free
// port on 127.0.0.1, the unix socket in the temp dir, pg_stat_statements preloaded,
// logging_collector on with log_destination 'stderr,csvlog,jsonlog' and
// log_line_prefix '%m [%p] %q%u@%d %a '. Runs as the `postgres` OS user when the test
// runs as root (PostgreSQL refuses root).
//
// One cluster per test binary: use PgClusterEnvironment (a gtest Environment) or
// PgCluster::Shared(). The cluster is stopped (pg_ctl stop -m immediate) and its directory
// removed when the object is destroyed, also after a failed test.
// Thread-safety: not thread-safe; use from the test thread.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgagent::testing {

struct PgClusterOptions {
  // Extra postgresql.conf lines, e.g. {"log_min_duration_statement", "0"}.
  std::map<std::string, std::string> settings;
  // Start with log_destination csvlog/jsonlog too (default on).
  bool all_log_formats = true;
};

class PgCluster {
 public:
  // initdb + start + wait until it accepts connections. Errors name the failing step
  // and include the server log tail.
  static Result<std::unique_ptr<PgCluster>> Start(const PgClusterOptions& options = {});
  // The cluster of this test binary, started on first use and stopped at exit.
  // Aborts the test binary with a clear message when it cannot start.
  static PgCluster& Shared();

  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // 127.0.0.1 / port / superuser "postgres" / database "postgres".
  std::string host() const { return "127.0.0.1"; }
  int port() const { return port_; }
  std::string superuser() const { return "postgres"; }
  // Directory holding the unix socket.
  std::string socket_dir() const { return socket_dir_; }
  std::string data_dir() const { return data_dir_; }
  // log_directory (absolute), where stderr/csv/json logs are written.
  std::string log_dir() const { return data_dir_ + "/log"; }
  // libpq connection string for a user/database (TCP, no password: trust auth).
  std::string ConnString(const std::string& user = "postgres",
                         const std::string& dbname = "postgres") const;

  // Runs SQL through psql as the superuser (or `user`); returns stdout (unaligned,
  // tuples only, '|' separator). Errors carry psql's stderr.
  Result<std::string> Psql(const std::string& sql, const std::string& user = "postgres",
                           const std::string& dbname = "postgres") const;

  // pg_ctl restart (fast mode), keeping the same port and data. Waits until ready.
  Status Restart();
  // pg_ctl stop -m fast / start again; between them connections fail.
  Status Stop();
  Status StartAgain();
  // ALTER SYSTEM SET name = value; SELECT pg_reload_conf().
  Status SetAndReload(const std::string& name, const std::string& value);

 private:
  PgCluster() = default;
  Status RunInitdb(const PgClusterOptions& options);
  Status WaitReady();
  std::string root_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string bin_dir_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace pgagent::testing
