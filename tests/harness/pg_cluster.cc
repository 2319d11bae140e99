#include "tests/harness/pg_cluster.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/harness/subprocess.h"

namespace pgagent::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kStartTimeout = 60s;
constexpr int kPortAttempts = 3;

// Reads the watchdog pipe until EOF (the test process closed it or died), then stops the
// postmaster we started (pid from postmaster.pid) and removes the cluster directory.
constexpr const char* kWatchdogScript = R"sh(
trap '' INT TERM HUP QUIT PIPE
while read -r _; do :; done
pidfile="$1/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  case "$pid" in
    ''|*[!0-9]*) ;;
    *)
      kill -QUIT "$pid" 2>/dev/null
      i=0
      while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
      kill -KILL "$pid" 2>/dev/null
      ;;
  esac
fi
rm -rf "$2"
)sh";

std::string QuoteConfValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'')
      out += "''";
    else if (c == '\\')
      out += "\\\\";
    else
      out += c;
  }
  return out + "'";
}

bool IsSettingName(const std::string& name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
  });
}

int MajorOf(const fs::path& version_dir) {
  const std::string name = version_dir.filename().string();
  if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) return -1;
  return std::atoi(name.c_str());
}

std::string TrimTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// Closes the write end and waits (bounded) for the watchdog to finish its cleanup.
void ReapWatchdog(pid_t pid) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    pid_t r = waitpid(pid, nullptr, WNOHANG);
    if (r == pid || r < 0) return;
    std::this_thread::sleep_for(5ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

}  // namespace

std::string MatrixBinDir(int major) {
  const char* env = std::getenv("PGAGENT_PG_MATRIX_DIR");
  std::string root = env && *env ? env : "/var/cache/pgagent/pg-matrix";
  return root + "/" + std::to_string(major) + "/bin";
}

Result<std::string> FindPgBinDir() {
  if (const char* env = std::getenv("PGAGENT_PG_BINDIR"); env && *env) {
    if (access((std::string(env) + "/initdb").c_str(), X_OK) == 0) return std::string(env);
    return NotFoundError(std::string("PGAGENT_PG_BINDIR has no initdb: ") + env +
                         " (the version matrix is installed by scripts/install-deps.sh)");
  }
  return FindClientBinDir();
}

Result<std::string> FindClientBinDir() {
  std::error_code ec;
  int best_major = -1;
  std::string best;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int major = MajorOf(entry.path());
    std::string bin = entry.path().string() + "/bin";
    if (major > best_major && access((bin + "/initdb").c_str(), X_OK) == 0) {
      best_major = major;
      best = bin;
    }
  }
  if (!best.empty()) return best;
  auto out = RunChecked({"pg_config", "--bindir"});
  if (out.ok()) {
    std::string bin = TrimTrailingNewlines(*out);
    if (access((bin + "/initdb").c_str(), X_OK) == 0) return bin;
  }
  return NotFoundError(
      "no PostgreSQL server binaries (initdb) under /usr/lib/postgresql/*/bin; "
      "install postgresql-15 or set PGAGENT_PG_BINDIR");
}

Result<std::unique_ptr<PgCluster>> PgCluster::Prepare(const std::string& bin_dir) {
  std::unique_ptr<PgCluster> cluster(new PgCluster());
  cluster->owner_pid_ = getpid();
  if (!bin_dir.empty()) {
    if (access((bin_dir + "/initdb").c_str(), X_OK) != 0) {
      return NotFoundError("no initdb in " + bin_dir +
                           " (the version matrix is installed by scripts/install-deps.sh)");
    }
    cluster->bin_dir_ = bin_dir;
  } else {
    PGAGENT_ASSIGN_OR_RETURN(cluster->bin_dir_, FindPgBinDir());
  }
  auto client = FindClientBinDir();
  cluster->client_dir_ = client.ok() ? *client : cluster->bin_dir_;
  auto version = RunChecked({cluster->bin_dir_ + "/postgres", "--version"});
  if (!version.ok()) return version.status().WithContext("postgres --version");
  // "postgres (PostgreSQL) 12.22" -> 12
  auto digit = version->find_first_of("0123456789");
  cluster->major_ = digit == std::string::npos ? 0 : std::atoi(version->c_str() + digit);
  cluster->run_as_postgres_ = geteuid() == 0;
  PGAGENT_ASSIGN_OR_RETURN(cluster->root_dir_, MakeTempDir("pgagent-pg-"));
  cluster->data_dir_ = cluster->root_dir_ + "/data";
  cluster->socket_dir_ = cluster->root_dir_;
  if (chmod(cluster->root_dir_.c_str(), 0750) != 0) {
    return ErrnoStatus("chmod " + cluster->root_dir_, errno);
  }
  if (cluster->run_as_postgres_) {
    PGAGENT_ASSIGN_OR_RETURN(OsUser pg, LookupOsUser("postgres"));
    if (chown(cluster->root_dir_.c_str(), pg.uid, pg.gid) != 0) {
      return ErrnoStatus("chown postgres " + cluster->root_dir_, errno);
    }
  }
  PGAGENT_RETURN_IF_ERROR(cluster->StartWatchdog());
  return cluster;
}

Status PgCluster::StartOnFreePort() {
  Status started;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    PGAGENT_ASSIGN_OR_RETURN(port_, PickFreePort());
    std::ofstream conf(data_dir_ + "/postgresql.conf", std::ios::app);
    conf << "port = " << port_ << "\n";
    conf.close();
    if (!conf) return InternalError("cannot append port to postgresql.conf");
    started = StartAgain();
    if (started.ok()) return started;
    // Another process may have taken the port between PickFreePort() and the start.
  }
  return started.WithContext("start PostgreSQL");
}

Result<std::unique_ptr<PgCluster>> PgCluster::Start(const PgClusterOptions& options) {
  PGAGENT_ASSIGN_OR_RETURN(auto cluster, Prepare(options.bin_dir));
  cluster->start_prefix_ = options.start_prefix;
  PGAGENT_RETURN_IF_ERROR(cluster->RunInitdb(options));
  PGAGENT_RETURN_IF_ERROR(cluster->WriteConfig(options));
  PGAGENT_RETURN_IF_ERROR(cluster->StartOnFreePort());
  return cluster;
}

std::string PgCluster::Tool(const std::string& name) const {
  const std::string own = bin_dir_ + "/" + name;
  if (access(own.c_str(), X_OK) == 0) return own;
  return client_dir_ + "/" + name;
}

RunOptions PgCluster::AsPostgres(std::chrono::seconds timeout) const {
  RunOptions run;
  run.timeout = timeout;
  if (run_as_postgres_) {
    auto pg = LookupOsUser("postgres");
    if (pg.ok()) run.user = *pg;
  }
  run.cwd = root_dir_;
  return run;
}

Result<std::unique_ptr<PgCluster>> PgCluster::StartStandbyOf(const PgCluster& primary,
                                                             const std::string& slot) {
  PGAGENT_ASSIGN_OR_RETURN(auto standby, Prepare(primary.bin_dir_));
  PGAGENT_RETURN_IF_ERROR(standby->CopyFromPrimary(primary, slot));
  // The copy carries the primary's settings; the standby's socket dir and port are its own.
  std::ofstream conf(standby->data_dir_ + "/postgresql.conf", std::ios::app);
  conf << "unix_socket_directories = " << QuoteConfValue(standby->socket_dir_) << "\n";
  conf.close();
  if (!conf) return InternalError("cannot write the standby's postgresql.conf");
  PGAGENT_RETURN_IF_ERROR(standby->StartOnFreePort());
  return standby;
}

Status PgCluster::CopyFromPrimary(const PgCluster& primary, const std::string& slot) {
  PGAGENT_RETURN_IF_ERROR(
      primary.Psql("SELECT pg_create_physical_replication_slot('" + slot + "', true)").status());
  const std::string basebackup = Tool("pg_basebackup");
  auto version = RunChecked({basebackup, "--version"});
  auto digit = version.ok() ? version->find_first_of("0123456789") : std::string::npos;
  const int client_major = digit == std::string::npos ? 0 : std::atoi(version->c_str() + digit);
  // pg_basebackup refuses servers newer than itself.
  if (client_major < major_) return BaseBackupLowLevel(primary, slot);
  // -R writes the client's libpq options (e.g. channel_binding, 13+) into primary_conninfo,
  // which an older server's walreceiver rejects: then the standby files are written here.
  const bool write_recovery_conf = client_major == major_;
  std::vector<std::string> argv = {
      basebackup, "-h",       primary.host(), "-p",      std::to_string(primary.port()),
      "-U",       "postgres", "-D",           data_dir_, "-S",
      slot,       "-X",       "stream",       "-c",      "fast",
      "--no-sync"};
  if (write_recovery_conf) argv.push_back("-R");
  auto out = RunChecked(argv, AsPostgres(kStartTimeout));
  if (!out.ok()) return out.status().WithContext("pg_basebackup");
  return write_recovery_conf ? Status::Ok() : WriteStandbyFiles(primary, slot, "");
}

Status PgCluster::WriteStandbyFiles(const PgCluster& primary, const std::string& slot,
                                    const std::string& backup_label) {
  const std::string conninfo =
      "host=" + primary.host() + " port=" + std::to_string(primary.port()) + " user=postgres";
  std::string files = ": > '" + data_dir_ +
                      "/standby.signal' && printf \"primary_conninfo = '%s'\\nprimary_slot_name"
                      " = '%s'\\n\" \"$2\" \"$3\" >> '" +
                      data_dir_ + "/postgresql.auto.conf'";
  if (!backup_label.empty()) files += " && printf '%s' \"$1\" > '" + data_dir_ + "/backup_label'";
  return RunChecked({"/bin/sh", "-c", files, "sh", backup_label, conninfo, slot},
                    AsPostgres(std::chrono::seconds(30)))
      .status()
      .WithContext("standby files");
}

Status PgCluster::BaseBackupLowLevel(const PgCluster& primary, const std::string& slot) {
  PGconn* conn = PQconnectdb(primary.ConnString().c_str());
  auto exec = [&](const std::string& sql) -> Result<std::string> {
    PGresult* r = PQexec(conn, sql.c_str());
    const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string out = ok && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    std::string error = ok ? "" : PQresultErrorMessage(r);
    PQclear(r);
    if (!ok) return UnavailableError(sql + ": " + error);
    return out;
  };
  const bool v15 = major_ >= 15;
  auto started = exec(v15 ? "SELECT pg_backup_start('pgagent-standby', true)"
                          : "SELECT pg_start_backup('pgagent-standby', true, false)");
  Status st = started.status();
  if (st.ok()) {
    // Everything but the WAL, the logs and the running server's own files.
    const std::string copy = "mkdir -p '" + data_dir_ + "' && chmod 0750 '" + data_dir_ +
                             "' && tar -C '" + primary.data_dir_ +
                             "' --exclude=./postmaster.pid --exclude=./postmaster.opts"
                             " --exclude='./pg_wal/*' --exclude='./log/*' -cf - . | tar -C '" +
                             data_dir_ + "' -xf -";
    st = RunChecked({"/bin/sh", "-c", copy}, AsPostgres(kStartTimeout)).status();
  }
  auto label = exec(v15 ? "SELECT labelfile FROM pg_backup_stop(true)"
                        : "SELECT labelfile FROM pg_stop_backup(false, true)");
  PQfinish(conn);
  PGAGENT_RETURN_IF_ERROR(st.WithContext("copy of the primary's data directory"));
  if (!label.ok()) return label.status();
  return WriteStandbyFiles(primary, slot, *label);
}

PgCluster& PgCluster::Shared() {
  static std::unique_ptr<PgCluster> shared = [] {
    auto started = Start();
    if (!started.ok()) {
      std::fprintf(stderr, "FATAL: cannot start the shared PostgreSQL test cluster: %s\n",
                   started.status().ToString().c_str());
      std::fflush(stderr);
      std::abort();
    }
    return std::move(started).value();
  }();
  return *shared;
}

PgCluster::~PgCluster() {
  if (getpid() != owner_pid_) {
    // A forked copy of the test process (e.g. a death test) exiting: the cluster and the
    // watchdog belong to the parent.
    if (watchdog_fd_ >= 0) close(watchdog_fd_);
    return;
  }
  if (started_) {
    Status stopped = PgCtl({"stop", "-m", "immediate"});
    if (!stopped.ok()) {
      // pg_ctl failed: stop the postmaster we started, by its pid.
      auto pidfile = ReadFile(data_dir_ + "/postmaster.pid");
      if (pidfile.ok()) {
        long pid = std::atol(pidfile->c_str());
        if (pid > 1) kill(static_cast<pid_t>(pid), SIGKILL);
      }
    }
    started_ = false;
  }
  RemoveTree(root_dir_);
  StopWatchdog();
}

std::string PgCluster::ConnString(const std::string& user, const std::string& dbname) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=" + user + " dbname=" + dbname +
         " connect_timeout=10";
}

Status PgCluster::StartWatchdog() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoStatus("pipe for the cluster watchdog", errno);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  std::string data = data_dir_, root = root_dir_;
  const char* argv[] = {"/bin/sh",    "-c",         kWatchdogScript, "pgagent-pg-watchdog",
                        data.c_str(), root.c_str(), nullptr};
  pid_t pid = fork();
  if (pid < 0) {
    Status s = ErrnoStatus("fork the cluster watchdog", errno);
    close(fds[0]);
    close(fds[1]);
    if (devnull >= 0) close(devnull);
    return s;
  }
  if (pid == 0) {
    // Child: stdin = read end of the pipe; stdout/stderr away from the test's output
    // (ctest waits for its pipes to close).
    dup2(fds[0], 0);
    if (devnull >= 0) {
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    setpgid(0, 0);  // away from the terminal's Ctrl-C, which would kill the test too
    CloseInheritedFdsOnExec();
    execv("/bin/sh", const_cast<char* const*>(argv));
    _exit(127);
  }
  close(fds[0]);
  if (devnull >= 0) close(devnull);
  watchdog_pid_ = pid;
  watchdog_fd_ = fds[1];
  return Status::Ok();
}

void PgCluster::StopWatchdog() {
  if (watchdog_fd_ >= 0) close(watchdog_fd_);
  watchdog_fd_ = -1;
  if (watchdog_pid_ > 0) ReapWatchdog(watchdog_pid_);
  watchdog_pid_ = -1;
}

Status PgCluster::RunInitdb(const PgClusterOptions& /*options*/) {
  RunOptions run;
  run.timeout = kStartTimeout;
  if (run_as_postgres_) {
    PGAGENT_ASSIGN_OR_RETURN(run.user, LookupOsUser("postgres"));
  }
  run.cwd = root_dir_;
  run.env["LC_ALL"] = "C";
  auto out = RunChecked({bin_dir_ + "/initdb", "-D", data_dir_, "-U", "postgres", "--auth=trust",
                         "-E", "UTF8", "--locale=C", "--no-sync", "--allow-group-access"},
                        run);
  if (!out.ok()) return out.status().WithContext("initdb into " + data_dir_);
  return Status::Ok();
}

Status PgCluster::WriteConfig(const PgClusterOptions& options) {
  std::map<std::string, std::string> settings = {
      {"listen_addresses", "127.0.0.1"},
      {"unix_socket_directories", socket_dir_},
      {"max_connections", "200"},
      {"shared_buffers", "32MB"},
      {"shared_preload_libraries", "pg_stat_statements"},
      {"pg_stat_statements.track", "all"},
      {"track_io_timing", "on"},
      {"logging_collector", "on"},
      {"log_destination", !options.all_log_formats ? "stderr"
                          : major_ >= 15           ? "stderr,csvlog,jsonlog"
                                                   : "stderr,csvlog"},
      {"log_directory", "log"},
      {"log_file_mode", "0640"},
      {"log_line_prefix", "%m [%p] %q%u@%d %a "},
      {"fsync", "off"},
      {"synchronous_commit", "off"},
      {"full_page_writes", "off"},
  };
  if (major_ >= 14) settings["compute_query_id"] = "on";  // 14+ only
  for (const auto& [name, value] : options.settings) {
    if (!IsSettingName(name)) return InvalidArgumentError("bad setting name: " + name);
    settings[name] = value;
  }
  std::ofstream conf(data_dir_ + "/postgresql.conf", std::ios::app);
  conf << "\n# pgagent test harness\n";
  for (const auto& [name, value] : settings) {
    conf << name << " = " << QuoteConfValue(value) << "\n";
  }
  conf.close();
  if (!conf) return InternalError("cannot write " + data_dir_ + "/postgresql.conf");
  return Status::Ok();
}

Status PgCluster::PgCtl(const std::vector<std::string>& args) {
  RunOptions run;
  run.timeout = kStartTimeout + 10s;
  if (run_as_postgres_) {
    PGAGENT_ASSIGN_OR_RETURN(run.user, LookupOsUser("postgres"));
  }
  run.cwd = root_dir_;
  std::vector<std::string> argv = {bin_dir_ + "/pg_ctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-D", data_dir_, "-w", "-t", std::to_string(kStartTimeout.count())});
  // start/restart: the postmaster's own stdout/stderr (before the logging collector takes
  // over) go to a file, never to our pipes.
  if (args[0] == "start" || args[0] == "restart") argv.insert(argv.end(), {"-l", startup_log()});
  if ((args[0] == "start" || args[0] == "restart") && !start_prefix_.empty()) {
    std::vector<std::string> prefixed = start_prefix_;
    if (run.user) {  // the prefix runs as root and drops to postgres just before pg_ctl
      prefixed.insert(prefixed.end(),
                      {"/usr/bin/setpriv", "--reuid=" + std::to_string(run.user->uid),
                       "--regid=" + std::to_string(run.user->gid), "--init-groups", "--"});
      run.env["HOME"] = run.user->home;
      run.env["USER"] = run.env["LOGNAME"] = run.user->name;
      run.user.reset();
    }
    argv.insert(argv.begin(), prefixed.begin(), prefixed.end());
  }
  auto out = RunChecked(argv, run);
  if (!out.ok()) return out.status();
  return Status::Ok();
}

Status PgCluster::WaitReady() {
  const std::string conninfo = ConnString();
  auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return Status::Ok();
    std::this_thread::sleep_for(20ms);
  }
  return DeadlineExceededError("PostgreSQL did not accept connections on 127.0.0.1:" +
                               std::to_string(port_));
}

Status PgCluster::Restart() {
  Status s = PgCtl({"restart", "-m", "fast"});
  if (!s.ok()) return WithLog(s.WithContext("pg_ctl restart"));
  started_ = true;
  s = WaitReady();
  return s.ok() ? s : WithLog(s);
}

Status PgCluster::Stop() {
  Status s = PgCtl({"stop", "-m", "fast"});
  if (!s.ok()) return WithLog(s.WithContext("pg_ctl stop"));
  started_ = false;
  return Status::Ok();
}

Status PgCluster::StartAgain() {
  Status s = PgCtl({"start"});
  if (!s.ok()) return WithLog(s.WithContext("pg_ctl start"));
  started_ = true;
  s = WaitReady();
  return s.ok() ? s : WithLog(s);
}

Status PgCluster::SetAndReload(const std::string& name, const std::string& value) {
  if (!IsSettingName(name)) return InvalidArgumentError("bad setting name: " + name);
  std::string literal = "'";
  for (char c : value) literal += (c == '\'') ? std::string("''") : std::string(1, c);
  literal += "'";
  auto out = Psql("ALTER SYSTEM SET " + name + " = " + literal + ";\nSELECT pg_reload_conf();");
  if (!out.ok()) return out.status().WithContext("SetAndReload " + name);
  return Status::Ok();
}

Result<std::string> PgCluster::Psql(const std::string& sql, const std::string& user,
                                    const std::string& dbname) const {
  RunOptions run;
  run.stdin_data = sql;
  run.timeout = 120s;
  run.env["PGAPPNAME"] = "pgagent-test-psql";
  auto out = RunProcess(
      {Tool("psql"), "-XAtq", "-F", "|", "-v", "ON_ERROR_STOP=1", "-d", ConnString(user, dbname)},
      run);
  if (!out.ok()) return out.status().WithContext("psql");
  if (out->exit_code != 0) {
    return UnavailableError("psql as " + user + " on " + dbname + " failed (exit " +
                            std::to_string(out->exit_code) +
                            "): " + TrimTrailingNewlines(out->err));
  }
  return TrimTrailingNewlines(std::move(out->out));
}

std::vector<std::string> PgCluster::LogFiles(const std::string& suffix) const {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(log_dir(), ec)) {
    const std::string path = entry.path().string();
    if (path.size() >= suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      files.push_back(path);
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string PgCluster::ServerLogTail() const {
  std::string tail;
  std::string startup = FileTail(startup_log(), 2000);
  if (!startup.empty()) tail += "--- " + startup_log() + " ---\n" + startup;
  auto logs = LogFiles(".log");
  if (!logs.empty()) tail += "--- " + logs.back() + " ---\n" + FileTail(logs.back(), 4000);
  return tail;
}

Status PgCluster::WithLog(const Status& s) const {
  std::string tail = ServerLogTail();
  if (tail.empty()) return s;
  return Status(s.code(), s.message() + "\nserver log tail:\n" + tail);
}

void PgClusterEnvironment::SetUp() { PgCluster::Shared(); }

}  // namespace pgagent::testing
