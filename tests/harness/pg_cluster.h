// A throwaway PostgreSQL cluster (15 by default) for integration tests: initdb into a temp dir, a
// free port on 127.0.0.1, the unix socket in the temp dir, pg_stat_statements preloaded,
// logging_collector on with log_destination 'stderr,csvlog,jsonlog' and
// log_line_prefix '%m [%p] %q%u@%d %a '. Runs as the `postgres` OS user when the test
// runs as root (PostgreSQL refuses root).
//
// One cluster per test binary: use PgClusterEnvironment (a gtest Environment) or
// PgCluster::Shared(). The cluster is stopped (pg_ctl stop -m immediate) and its directory
// removed when the object is destroyed, also after a failed test.
// A crashed test binary does not leave PostgreSQL behind: a small watchdog process (a
// /bin/sh child reading a close-on-exec pipe) stops the postmaster (SIGQUIT, by the pid
// in postmaster.pid) and removes the directory when the test process dies.
// Settings beyond the above: compute_query_id=on, track_io_timing=on, log_directory='log'
// inside the data dir, log_file_mode=0640 (data dir group-readable, initdb -g),
// max_connections=200, fsync=off; PgClusterOptions::settings override any of them.
// Versions: PgClusterOptions::bin_dir (or $PGAGENT_PG_BINDIR) picks other server binaries,
// e.g. the version matrix's /var/cache/pgagent/pg-matrix/<major>/bin (scripts/install-deps.sh).
// Client tools that dir lacks (psql, pg_basebackup) come from Debian's newest
// /usr/lib/postgresql/*/bin. jsonlog is only configured on 15+ (older servers lack it).
// StartStandbyOf() makes a streaming replica of a running cluster.
// Thread-safety: not thread-safe; use from the test thread.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "tests/harness/subprocess.h"

namespace pgagent::testing {

struct PgClusterOptions {
  // Extra postgresql.conf lines, e.g. {"log_min_duration_statement", "0"}.
  std::map<std::string, std::string> settings;
  // Start with log_destination csvlog/jsonlog too (default on; jsonlog on 15+ only).
  bool all_log_formats = true;
  // Server binaries (initdb, pg_ctl, postgres); empty: FindPgBinDir().
  std::string bin_dir;
  // argv put in front of `pg_ctl start` / `restart` (e.g. SyslogDaemon::ServerStartPrefix(),
  // a private mount namespace). It runs as the test's user; when that is root, the prefix
  // ends in `setpriv` to the postgres user, so that the prefix itself may need root.
  std::vector<std::string> start_prefix;
};

// Where a version of the matrix is installed: $PGAGENT_PG_MATRIX_DIR (default
// /var/cache/pgagent/pg-matrix) + "/<major>/bin".
std::string MatrixBinDir(int major);

// Directory with initdb/pg_ctl/postgres/psql: $PGAGENT_PG_BINDIR when set, else the newest
// /usr/lib/postgresql/<major>/bin, else `pg_config --bindir`. kNotFound when none.
Result<std::string> FindPgBinDir();
// The same search without $PGAGENT_PG_BINDIR: Debian's client tools.
Result<std::string> FindClientBinDir();

class PgCluster {
 public:
  // initdb + start + wait until it accepts connections. Errors name the failing step
  // and include the server log tail.
  static Result<std::unique_ptr<PgCluster>> Start(const PgClusterOptions& options = {});
  // The cluster of this test binary, started on first use and stopped at exit.
  // Aborts the test binary with a clear message when it cannot start.
  static PgCluster& Shared();
  // A streaming standby of `primary` (on a free port, its own temp dir and watchdog),
  // replicating through the physical slot `slot` (created here). With a pg_basebackup of
  // the server's major version or newer: `pg_basebackup -S slot` (+ -R when the versions
  // are the same; else the same files written here, without newer libpq options); else the
  // low-level backup API (pg_backup_start / pg_start_backup) with a copy of the data
  // directory, standby.signal and primary_conninfo, which is what -R writes.
  // Waits until the standby accepts connections.
  static Result<std::unique_ptr<PgCluster>> StartStandbyOf(const PgCluster& primary,
                                                           const std::string& slot);

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
  // tuples only, '|' separator, trailing newlines removed). The SQL is fed on stdin with
  // ON_ERROR_STOP, so several statements (and CREATE DATABASE) are fine.
  // Errors carry psql's stderr.
  Result<std::string> Psql(const std::string& sql, const std::string& user = "postgres",
                           const std::string& dbname = "postgres") const;

  // pg_ctl restart (fast mode), keeping the same port and data. Waits until ready.
  Status Restart();
  // pg_ctl stop -m fast / start again; between them connections fail.
  Status Stop();
  Status StartAgain();
  // ALTER SYSTEM SET name = value; SELECT pg_reload_conf().
  // kInvalidArgument when name is not a plain (dotted) identifier.
  Status SetAndReload(const std::string& name, const std::string& value);

  // Directory with the PostgreSQL server binaries used (pg_ctl, postgres, ...).
  std::string bin_dir() const { return bin_dir_; }
  // Path of a client tool (psql, pgbench, pg_basebackup): bin_dir()'s when it has one,
  // else Debian's (FindClientBinDir()).
  std::string Tool(const std::string& name) const;
  // Major version of the server binaries (12, ..., 18).
  int major_version() const { return major_; }
  // Absolute paths of the files in log_dir() ending in `suffix` (".log", ".csv",
  // ".json"), oldest first by name.
  std::vector<std::string> LogFiles(const std::string& suffix) const;
  // Last bytes of the newest stderr log (and the pre-collector startup log), for errors.
  std::string ServerLogTail() const;

 private:
  PgCluster() = default;
  // Temp dir, owner, watchdog and binaries of a new cluster (before initdb / a copy).
  static Result<std::unique_ptr<PgCluster>> Prepare(const std::string& bin_dir);
  // Picks a port, appends it to postgresql.conf and starts (retrying taken ports).
  Status StartOnFreePort();
  Status CopyFromPrimary(const PgCluster& primary, const std::string& slot);
  Status BaseBackupLowLevel(const PgCluster& primary, const std::string& slot);
  // standby.signal, primary_conninfo and primary_slot_name (what pg_basebackup -R writes),
  // and backup_label when not empty.
  Status WriteStandbyFiles(const PgCluster& primary, const std::string& slot,
                           const std::string& backup_label);
  RunOptions AsPostgres(std::chrono::seconds timeout) const;
  Status RunInitdb(const PgClusterOptions& options);
  Status WriteConfig(const PgClusterOptions& options);
  Status StartWatchdog();
  void StopWatchdog();
  Status PgCtl(const std::vector<std::string>& args);
  Status WaitReady();
  // The error `s` with the server log tail appended.
  Status WithLog(const Status& s) const;
  std::string startup_log() const { return root_dir_ + "/postmaster.log"; }
  std::string root_dir_;
  std::string data_dir_;
  std::string socket_dir_;
  std::string bin_dir_;
  std::string client_dir_;
  int major_ = 0;
  int port_ = 0;
  bool started_ = false;
  bool run_as_postgres_ = false;  // tests run as root: initdb/pg_ctl as `postgres`
  std::vector<std::string> start_prefix_;
  pid_t owner_pid_ = -1;          // a forked child (death test) must not stop our cluster
  pid_t watchdog_pid_ = -1;
  int watchdog_fd_ = -1;  // write end; closing it (or dying) wakes the watchdog
};

// gtest Environment that starts PgCluster::Shared() before the first test, so a cluster
// that cannot start fails fast with one clear message:
//   ::testing::AddGlobalTestEnvironment(new pgagent::testing::PgClusterEnvironment);
class PgClusterEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
};

}  // namespace pgagent::testing
