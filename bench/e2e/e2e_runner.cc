#include "bench/e2e/e2e_runner.h"

#include <google/protobuf/util/json_util.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "bench/e2e/tagged_client.h"
#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace pgagent::e2e {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using pgagent::testing::ChildProcess;
using pgagent::testing::PgCluster;
using pgagent::testing::TestListener;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// ---------------------------------------------------------------- a daemon under test

// One daemon binary, restarted as needed; each process instance gets its own sample series.
class Daemon {
 public:
  Daemon(std::string name, std::string binary, std::string config, std::string log, int nice,
         std::string policy)
      : name_(std::move(name)),
        binary_(std::move(binary)),
        config_(std::move(config)),
        log_(std::move(log)),
        nice_(nice),
        policy_(std::move(policy)) {}

  Status Start(double t_s) {
    // nice(1) execs the daemon in the same process, so the pid stays the daemon's.
    std::vector<std::string> argv = {binary_, config_};
    if (nice_ != 0) argv.insert(argv.begin(), {"/usr/bin/nice", "-n", std::to_string(nice_)});
    // chrt(1) execs too: SCHED_BATCH or SCHED_IDLE for every thread (--policy).
    if (policy_ == "batch") argv.insert(argv.begin(), {"/usr/bin/chrt", "--batch", "0"});
    if (policy_ == "idle") argv.insert(argv.begin(), {"/usr/bin/chrt", "--idle", "0"});
    auto child = ChildProcess::Start(argv, log_);
    if (!child.ok()) return child.status();
    proc_ = std::move(*child);
    series_.emplace_back();
    started_at_.push_back(t_s);
    return Status::Ok();
  }
  void Kill9() {
    if (!proc_) return;
    proc_->Signal(SIGKILL);
    (void)proc_->Wait(10s);
    proc_.reset();
  }
  // SIGTERM; returns the exit code (-1 when not running).
  int Stop(std::chrono::milliseconds grace) {
    if (!proc_) return -1;
    const int code = proc_->Stop(grace);
    proc_.reset();
    return code;
  }
  // The exit code when the process ended by itself, else nullopt.
  std::optional<int> ExitedByItself() {
    if (!proc_ || proc_->running()) return std::nullopt;
    auto code = proc_->Wait(0ms);
    proc_.reset();
    return code.value_or(-1);
  }
  bool running() const { return proc_ != nullptr; }
  // CPU seconds (utime + stime, all threads) of the running process; 0 when not running.
  double CpuSeconds() const {
    if (!proc_) return 0;
    auto s = ReadProcSample(proc_->pid());
    return s.ok() ? s->cpu_s : 0;
  }
  void Sample(double t_s) {
    if (!proc_) return;
    auto s = ReadProcSample(proc_->pid());
    if (!s.ok()) return;
    s->t_s = t_s;
    series_.back().Add(*s);
  }
  const std::vector<SampleSeries>& series() const { return series_; }
  const std::string& name() const { return name_; }
  const std::string& log() const { return log_; }

 private:
  std::string name_, binary_, config_, log_;
  int nice_ = 0;
  std::string policy_;  // "other", "batch" or "idle"
  std::unique_ptr<ChildProcess> proc_;
  std::vector<SampleSeries> series_;
  std::vector<double> started_at_;
};

DaemonStats Summarize(const Daemon& d, double wall_s) {
  DaemonStats st;
  st.name = d.name();
  st.instances = static_cast<int>(d.series().size());
  double cpu = 0, longest = -1;
  for (const SampleSeries& s : d.series()) {
    if (s.samples().size() < 2) continue;
    cpu += s.samples().back().cpu_s - s.samples().front().cpu_s;
    for (const auto& p : s.samples())
      st.rss_max_mb_all = std::max(st.rss_max_mb_all, p.rss_kb / 1024.0);
    const SeriesStats ss = s.Stats();
    if (ss.seconds > longest) {
      longest = ss.seconds;
      st.longest = ss;
      // The trend after warm-up: the second half of the instance's life.
      st.longest_second_half = s.Stats(s.samples().front().t_s + ss.seconds / 2);
    }
  }
  st.cpu_percent_all = wall_s > 0 ? cpu / wall_s * 100.0 : 0;
  return st;
}

// ---------------------------------------------------------------- the marker log writer

// Writes numbered RAISE LOG markers at a fixed rate through its own libpq connection, so
// they travel the server's real logging collector into the log file collectord follows.
// A failed batch (server restarting) is retried with the same numbers: a number is counted
// as written only when its batch committed.
class MarkerWriter {
 public:
  MarkerWriter(std::string conninfo, int per_second)
      : conninfo_(std::move(conninfo)), rate_(per_second) {}
  ~MarkerWriter() { Stop(); }
  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  uint64_t written() const { return written_; }
  uint64_t errors() const { return errors_; }

 private:
  void Run() {
    PGconn* conn = nullptr;
    const auto t0 = Clock::now();
    while (!stop_) {
      if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
        if (conn != nullptr) PQfinish(conn);
        conn = PQconnectdb(conninfo_.c_str());
        if (PQstatus(conn) != CONNECTION_OK) {
          ++errors_;
          std::this_thread::sleep_for(200ms);
          continue;
        }
      }
      const uint64_t target = static_cast<uint64_t>(SecondsSince(t0) * rate_);
      const uint64_t done = written_;
      if (target <= done) {
        std::this_thread::sleep_for(10ms);
        continue;
      }
      const uint64_t batch = std::min<uint64_t>(target - done, std::max(rate_ / 5, 1));
      const std::string from = std::to_string(done + 1), to = std::to_string(done + batch);
      const char* params[2] = {from.c_str(), to.c_str()};
      PGresult* r = PQexecParams(conn, "SELECT pgagent_e2e_mark($1::bigint, $2::bigint)", 2,
                                 nullptr, params, nullptr, nullptr, 0);
      const bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
      PQclear(r);
      if (ok) {
        written_ = done + batch;
      } else {
        ++errors_;
        std::this_thread::sleep_for(100ms);
      }
    }
    if (conn != nullptr) PQfinish(conn);
  }

  std::string conninfo_;
  int rate_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> errors_{0};
  std::thread thread_;
};

// ---------------------------------------------------------------- the ledger's parser thread

// Parses fetched listener JSON into a DeliveryLedger on its own thread, so the runner's
// loop (and the listener, held while the runner fetches) never waits for the parsing.
class LedgerFeeder {
 public:
  LedgerFeeder() : thread_([this] { Run(); }) {}
  ~LedgerFeeder() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Push(std::string json) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(json));
    }
    cv_.notify_all();
  }
  // Waits until everything pushed so far is in the ledger.
  void Flush() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  }
  void Reset() {
    Flush();
    std::lock_guard<std::mutex> lock(mu_);
    ledger_ = DeliveryLedger();
  }
  uint64_t MarkersSeenUpTo(uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    return ledger_.MarkersSeenUpTo(n);
  }
  LedgerSummary Summarize(uint64_t markers_written) {
    std::lock_guard<std::mutex> lock(mu_);
    return ledger_.Summarize(markers_written);
  }
  uint64_t row_gaps() {
    std::lock_guard<std::mutex> lock(mu_);
    return row_gaps_;
  }
  // Runs `f` on the ledger under the feeder's lock.
  void Inspect(const std::function<void(const DeliveryLedger&)>& f) {
    std::lock_guard<std::mutex> lock(mu_);
    f(ledger_);
  }
  uint64_t parse_errors() {
    std::lock_guard<std::mutex> lock(mu_);
    return parse_errors_;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_
      std::string json = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      google::protobuf::ListValue rows;
      const bool parsed = google::protobuf::util::JsonStringToMessage(json, &rows).ok();
      std::vector<int64_t> ids;
      for (const auto& v : rows.values()) {
        auto it = v.struct_value().fields().find("row_id");
        if (it != v.struct_value().fields().end())
          ids.push_back(static_cast<int64_t>(it->second.number_value()));
      }
      std::sort(ids.begin(), ids.end());
      lock.lock();
      if (!parsed) ++parse_errors_;
      // Row ids are assigned in order and survive clear-stored: a gap means rows were
      // stored between the fetch and the clear (the harness lost them, not the agent).
      for (int64_t id : ids) {
        if (id > next_row_id_) row_gaps_ += static_cast<uint64_t>(id - next_row_id_);
        next_row_id_ = std::max(next_row_id_, id + 1);
      }
      ledger_.Add(rows);
      busy_ = false;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool busy_ = false;
  bool stop_ = false;
  DeliveryLedger ledger_;
  int64_t next_row_id_ = 1;
  uint64_t row_gaps_ = 0;
  uint64_t parse_errors_ = 0;
  std::thread thread_;  // last: starts after the members above exist
};

// ---------------------------------------------------------------- the run

class Runner {
 public:
  explicit Runner(const E2eOptions& o) : o_(o) {}
  ~Runner() {
    if (dir_.empty()) return;
    if (o_.keep_dir) {
      Say("kept " + dir_);
    } else {
      pgagent::testing::RemoveTree(dir_);
    }
  }

  Status SetUp(E2eReport* report);
  // One A/B series at out->log_min_duration_ms.
  void Overhead(OverheadResult* out);
  // pgbench -i once per cluster.
  Status InitPgbench();
  void Soak(SoakResult* out);
  void Footprint(int interval_s, FootprintResult* out);
  void Budget(BudgetResult* out);

 private:
  struct ServerCpu {
    double total_s = 0, logger_s = 0;
  };
  // CPU counters read at the start and at the end of one overhead run.
  struct CpuCounters {
    Clock::time_point wall;
    MachineCpu machine;
    double collectord_s = 0, shipperd_s = 0;
    ServerCpu server;
    double children_s = 0;           // reaped children of this process: pgbench (and a few psql)
    std::map<int, double> backends;  // pid -> CPU seconds of the agent's sessions
  };
  std::map<int, double> MonitorBackendCpu();
  ServerCpu ReadServerCpu() const;
  CpuCounters ReadCpuCounters(bool with_agent, const Daemon& collector, const Daemon& shipper);
  static void AccountCpu(bool with_agent, double tps, const CpuCounters& before,
                         const CpuCounters& after, OverheadResult* out);
  void Say(const std::string& s) const {
    if (o_.progress) o_.progress(s);
  }
  std::string Bin(const std::string& rel) const {
    return (o_.binary_dir.empty() ? pgagent::testing::BinaryDir() : o_.binary_dir) + "/" + rel;
  }
  // A config for one phase; `tag` names its state/buffer/run dirs.
  std::string WriteConfig(const std::string& tag, int interval_s, const std::string& log_start,
                          bool relaxed_limit = false, const std::string& extra = "");
  Result<double> RunPgbench(int seconds);
  // Fetches the listener's rows into ledger_ and drops exactly those (by row id); requests
  // are never held, so draining costs the agent nothing. `listener_down` is unused.
  Status Drain(bool listener_down);
  // Absolute path of the server's current log file (pg_current_logfile()).
  Result<std::string> CurrentLogPath();
  // logrotate's copytruncate of the server's current log file: copy to <file>.1, truncate.
  Status CopyTruncateCurrentLog();
  // logrotate without copytruncate: `renames` (from, to) in order, then pg_rotate_logfile()
  // and a wait (<= 10 s) until the server has opened a new file under `path`.
  Status RenameAndReopen(const std::string& path,
                         const std::vector<std::pair<std::string, std::string>>& renames);
  // Drains until markers 1..written all arrived (true) or final_wait_s passed, sampling the
  // daemons and restarting one that exited by itself (check_exits).
  bool WaitForMarkers(uint64_t written, const std::function<void()>& check_exits);
  // The csvlog sub-phase (E2eOptions::csvlog_s).
  void SoakCsvlog(CsvlogResult* out);
  // The budget phase's figures from the ledger, the client and the listener.
  void SummarizeBudget(const std::vector<TaggedRequest>& requests, double phase_start,
                       double outage_from, double outage_until, BudgetResult* out);
  void Progress(double t, const std::string& what, std::vector<ChaosEvent>* events) const {
    if (events) events->push_back({t, what});
    char buf[32];
    std::snprintf(buf, sizeof(buf), "[%7.1fs] ", t);
    Say(buf + what);
  }

  E2eOptions o_;
  std::unique_ptr<PgCluster> pg_;
  bool pgbench_initialised_ = false;
  std::unique_ptr<TestListener> listener_;
  std::string dir_;
  LedgerFeeder ledger_;
};

std::string Runner::WriteConfig(const std::string& tag, int interval_s,
                                const std::string& log_start, bool relaxed_limit,
                                const std::string& extra) {
  const std::string path = dir_ + "/" + tag + ".ini";
  std::ofstream f(path);
  f << "; pgagent end-to-end run, phase " << tag << "\n"
    << "[database]\nhost = 127.0.0.1\nport = " << pg_->port()
    << "\nname = postgres\nuser = bitville_monitor\n"
    << "[collection]\ninterval_s = " << interval_s << "\nlog_path = auto\nlog_start = " << log_start
    << "\n" << extra
    << "[listener]\nurl = " << listener_->ingest_url()
    << "\napi_key = " << listener_->options().api_key
    << "\nproject_id = e2e\nca_file = " << listener_->ca_file()
    << "\n"
    // The overhead phase logs every statement (~30k lines/s): far more than 100 requests a
    // minute can carry, and it measures CPU, not delivery. Only it runs with a relaxed
    // budget (and the listener's limit off); every other phase uses the defaults against
    // the listener's real limit.
    << (relaxed_limit ? "requests_per_minute = 6000\n" : "")
    << "[buffer]\npath = " << (o_.buffer_dir.empty() ? dir_ : o_.buffer_dir) << "/" << tag
    << "-buffer\nmax_size_mb = " << o_.buffer_max_mb << "\n"
    << "[ipc]\nruntime_dir = " << dir_ << "/" << tag << "-run\n"
    << "[agent]\nstate_dir = " << dir_ << "/" << tag << "-state\ncontrol_dir = " << dir_ << "/"
    << tag << "-run\n";
  f.close();
  chmod(path.c_str(), 0600);
  return path;
}

Status Runner::SetUp(E2eReport* report) {
  for (const char* rel : {"collectord/pgagent-collectord", "shipperd/pgagent-shipperd"}) {
    if (access(Bin(rel).c_str(), X_OK) != 0) return NotFoundError(Bin(rel) + " is not built");
  }
  pgagent::testing::PgClusterOptions po;
  po.settings["log_min_duration_statement"] = "0";
  po.settings["log_rotation_size"] = "0";  // rotations only when the chaos schedule says so
  po.settings["log_rotation_age"] = "0";
  po.all_log_formats = false;  // stderr only: the format most installations follow
  Say("starting PostgreSQL");
  PGAGENT_ASSIGN_OR_RETURN(pg_, PgCluster::Start(po));
  PGAGENT_RETURN_IF_ERROR(
      pg_->Psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
                "CREATE ROLE bitville_monitor LOGIN;"
                "GRANT pg_monitor TO bitville_monitor;"
                "CREATE FUNCTION pgagent_e2e_mark(a bigint, b bigint) RETURNS bigint "
                "LANGUAGE plpgsql AS $$BEGIN FOR i IN a..b LOOP "
                "RAISE LOG 'pgagent-e2e-mark %', i; END LOOP; RETURN b - a + 1; END$$;")
          .status());
  pgagent::testing::TestListenerOptions lo;  // the real contract: 100 requests/min/IP
  // The runner drains the listener every few seconds; after an outage the agent delivers
  // its backlog faster than that, and the Python listener holds parsed rows at ~10x their
  // size (one full run reached 18 GB and was OOM-killed). Past 128 MiB of unfetched bodies
  // it answers 503 + Retry-After: 1, as a busy listener would; the agent retries.
  lo.max_stored_bytes = 128LL << 20;
  Say("starting the HTTPS test listener");
  PGAGENT_ASSIGN_OR_RETURN(listener_, TestListener::Start(lo));
  PGAGENT_ASSIGN_OR_RETURN(dir_, pgagent::testing::MakeTempDir("pgagent-e2e-"));

  auto version = pg_->Psql("SHOW server_version");
  report->environment["postgresql"] = version.ok() ? *version : "?";
  report->environment["cpus_online"] = std::to_string(sysconf(_SC_NPROCESSORS_ONLN));
  utsname u{};
  if (uname(&u) == 0) report->environment["kernel"] = std::string(u.sysname) + " " + u.release;
  std::ifstream loadavg("/proc/loadavg");
  std::string l1;
  loadavg >> l1;
  report->environment["loadavg_1m_at_start"] = l1;
  report->environment["agent_nice"] = std::to_string(o_.agent_nice);
  return Status::Ok();
}

Result<double> Runner::RunPgbench(int seconds) {
  pgagent::testing::RunOptions ro;
  ro.timeout = std::chrono::seconds(seconds + 120);
  PGAGENT_ASSIGN_OR_RETURN(
      std::string out,
      pgagent::testing::RunChecked(
          {pg_->bin_dir() + "/pgbench", "-n", "-c", std::to_string(o_.pgbench_clients), "-j",
           std::to_string(o_.pgbench_threads), "-T", std::to_string(seconds), "-h", "127.0.0.1",
           "-p", std::to_string(pg_->port()), "-U", "postgres", "postgres"},
          ro));
  const size_t pos = out.find("tps = ");
  if (pos == std::string::npos) return InternalError("no tps in pgbench output: " + out);
  return std::stod(out.substr(pos + 6));
}

Status Runner::Drain(bool /*listener_down*/) {
  // Fetch, then drop only the rows fetched (by row id): ingest goes on meanwhile and rows
  // stored after the fetch stay for the next drain, so no request is held or reset.
  PGAGENT_ASSIGN_OR_RETURN(std::string json, listener_->StoredJson());
  int64_t through = 0;
  static const std::string kRowId = "\"row_id\": ";
  for (size_t pos = json.find(kRowId); pos != std::string::npos;
       pos = json.find(kRowId, pos + kRowId.size())) {
    through = std::max<int64_t>(through, std::atoll(json.c_str() + pos + kRowId.size()));
  }
  if (through > 0) PGAGENT_RETURN_IF_ERROR(listener_->ClearStoredThrough(through));
  ledger_.Push(std::move(json));
  return Status::Ok();
}

Result<std::string> Runner::CurrentLogPath() {
  PGAGENT_ASSIGN_OR_RETURN(std::string current, pg_->Psql("SELECT pg_current_logfile()"));
  while (!current.empty() && (current.back() == '\n' || current.back() == ' ')) current.pop_back();
  if (current.empty()) return UnavailableError("pg_current_logfile() is empty");
  return current.starts_with("/") ? current : pg_->data_dir() + "/" + current;
}

Status Runner::RenameAndReopen(const std::string& path,
                               const std::vector<std::pair<std::string, std::string>>& renames) {
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) return ErrnoStatus("stat " + path, errno);
  for (const auto& [from, to] : renames) {
    if (std::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename " + from, errno);
  }
  PGAGENT_RETURN_IF_ERROR(pg_->Psql("SELECT pg_rotate_logfile()").status());
  const auto deadline = Clock::now() + 10s;
  struct stat now {};
  while (::stat(path.c_str(), &now) != 0 || now.st_ino == before.st_ino) {
    if (Clock::now() > deadline) return UnavailableError("the server did not reopen " + path);
    std::this_thread::sleep_for(20ms);
  }
  return Status::Ok();
}

Status Runner::CopyTruncateCurrentLog() {
  PGAGENT_ASSIGN_OR_RETURN(const std::string path, CurrentLogPath());
  std::error_code ec;
  std::filesystem::copy_file(path, path + ".1", std::filesystem::copy_options::overwrite_existing,
                             ec);
  if (ec) return UnavailableError("copy " + path + ": " + ec.message());
  if (truncate(path.c_str(), 0) != 0) return ErrnoStatus("truncate " + path, errno);
  return Status::Ok();
}

Status Runner::InitPgbench() {
  if (pgbench_initialised_) return Status::Ok();
  Say("overhead: pgbench -i -s " + std::to_string(o_.pgbench_scale));
  pgagent::testing::RunOptions ro;
  ro.timeout = 600s;
  PGAGENT_RETURN_IF_ERROR(
      pgagent::testing::RunChecked(
          {pg_->bin_dir() + "/pgbench", "-i", "-q", "-s", std::to_string(o_.pgbench_scale), "-h",
           "127.0.0.1", "-p", std::to_string(pg_->port()), "-U", "postgres", "postgres"},
          ro)
          .status());
  pgbench_initialised_ = true;
  return Status::Ok();
}

void Runner::Overhead(OverheadResult* out) {
  out->ran = true;
  if (Status init = InitPgbench(); !init.ok()) {
    out->error = init.ToString();
    return;
  }
  const std::string setting = std::to_string(out->log_min_duration_ms);
  Say("overhead: log_min_duration_statement = " + setting + " ms");
  if (auto set = pg_->Psql("ALTER SYSTEM SET log_min_duration_statement = " + setting +
                           "; SELECT pg_reload_conf();");
      !set.ok()) {
    out->error = set.status().ToString();
    return;
  }
  std::this_thread::sleep_for(500ms);  // the reload reaches every backend
  // This phase measures CPU with every statement logged, far beyond what 100 requests a
  // minute carry: it is the one phase with the listener's limit off (restored after).
  (void)listener_->SetRateLimit(0);
  struct ResetLogSetting {
    PgCluster* pg;
    TestListener* listener;
    ~ResetLogSetting() {
      (void)pg->Psql("ALTER SYSTEM RESET log_min_duration_statement; SELECT pg_reload_conf();");
      (void)listener->SetRateLimit(100, 60);
    }
  } reset{pg_.get(), listener_.get()};
  const std::string config =
      WriteConfig("overhead" + setting, o_.overhead_interval_s, "end", /*relaxed_limit=*/true,
                  "log_statements = " + o_.overhead_log_statements + "\n");
  for (int pair = 0; pair < o_.overhead_pairs; ++pair) {
    // A B, B A, A B, ...: TPS drifts over a series (tables grow, autovacuum, checkpoints);
    // alternating which run goes first keeps the drift out of the median ratio.
    const bool agent_first = pair % 2 == 1;
    for (bool with_agent : {agent_first, !agent_first}) {
      (void)pg_->Psql("CHECKPOINT");
      Daemon shipper("shipperd", Bin("shipperd/pgagent-shipperd"), config,
                     dir_ + "/overhead" + setting + "-shipperd.log", o_.agent_nice,
                     o_.agent_policy);
      Daemon collector("collectord", Bin("collectord/pgagent-collectord"), config,
                       dir_ + "/overhead" + setting + "-collectord.log", o_.agent_nice,
                       o_.agent_policy);
      const auto t0 = Clock::now();
      int acked_before = 0;
      if (with_agent) {
        // The listener acknowledges (200) without parsing or storing: in production it runs
        // on another host, here its JSON parsing would compete with PostgreSQL for the CPUs.
        acked_before = listener_->CountWithStatus(200).value_or(0);
        if (!listener_->FailNext("status", -1, 200).ok() || !shipper.Start(0).ok() ||
            !collector.Start(0).ok()) {
          out->error = "cannot start the daemons";
          return;
        }
        // Warm: the first cycle has been delivered before the measurement starts.
        (void)pgagent::testing::WaitUntil(
            [&] { return listener_->CountWithStatus(200).value_or(0) >= acked_before + 3; }, 30s);
      }
      std::atomic<bool> sampling{with_agent};
      std::thread sampler([&] {
        while (sampling) {
          collector.Sample(SecondsSince(t0));
          shipper.Sample(SecondsSince(t0));
          for (int i = 0; i < 10 && sampling; ++i) std::this_thread::sleep_for(100ms);
        }
      });
      const CpuCounters before = ReadCpuCounters(with_agent, collector, shipper);
      auto tps = RunPgbench(o_.overhead_run_s);
      const CpuCounters after = ReadCpuCounters(with_agent, collector, shipper);
      sampling = false;
      sampler.join();
      AccountCpu(with_agent, tps.ok() ? *tps : 0, before, after, out);
      if (with_agent) {
        collector.Stop(15s);
        shipper.Stop(15s);
        (void)listener_->ClearFailures();
        out->requests_acked += static_cast<uint64_t>(
            std::max(0, listener_->CountWithStatus(200).value_or(0) - acked_before));
        if (!collector.series().empty()) out->collector = collector.series().back().Stats();
        if (!shipper.series().empty()) out->shipper = shipper.series().back().Stats();
      }
      if (!tps.ok()) {
        out->error = tps.status().ToString();
        return;
      }
      (with_agent ? out->tps_with : out->tps_without).push_back(*tps);
      char buf[96];
      std::snprintf(buf, sizeof(buf), "overhead: run %d %s agent: %.1f tps", pair + 1,
                    with_agent ? "with" : "without", *tps);
      Say(buf);
    }
    out->pair_ratios.push_back(out->tps_with.back() / out->tps_without.back());
  }
  out->median_ratio = Median(out->pair_ratios);
  out->cpu.agent_ms_per_s = Median(out->cpu.agent_ms_per_s_runs);
  out->cpu.agent_share_of_busy = Median(out->cpu.agent_share_of_busy_runs);
  out->cpu.cpu_implied_ratio = 1 - out->cpu.agent_share_of_busy;
}

// The monitoring role's backends (the agent's own sessions) and their CPU seconds.
std::map<int, double> Runner::MonitorBackendCpu() {
  std::map<int, double> cpu;
  auto pids = pg_->Psql("SELECT pid FROM pg_stat_activity WHERE usename = 'bitville_monitor'");
  if (!pids.ok()) return cpu;
  std::istringstream in(*pids);
  for (int pid = 0; in >> pid;) {
    auto s = ReadProcSample(pid);
    if (s.ok()) cpu[pid] = s->cpu_s;
  }
  return cpu;
}

// CPU seconds of the whole server (the postmaster, its children and its exited children)
// and of its logging
// collector ("postgres: logger"): what PostgreSQL itself spends, the latter only to move
// its log lines into the files.
Runner::ServerCpu Runner::ReadServerCpu() const {
  ServerCpu cpu;
  std::ifstream pid_file(pg_->data_dir() + "/postmaster.pid");
  long postmaster = 0;
  if (!(pid_file >> postmaster)) return cpu;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat_file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    // cutime cstime. Read here, not by ReadProcSample: a backend that has exited but is not
    // yet waited for (a zombie, just after pgbench ends) still counts with its final times.
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; f.size() < 15 && fields >> x;) f.push_back(x);
    const long pid = std::stol(name);
    if (f.size() < 15 || (std::stol(f[1]) != postmaster && pid != postmaster)) continue;
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double own_s = (std::stod(f[11]) + std::stod(f[12])) / ticks;
    cpu.total_s += own_s;
    // Backends already waited for count through the postmaster's children times.
    if (pid == postmaster) cpu.total_s += (std::stod(f[13]) + std::stod(f[14])) / ticks;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::string cmd;
    std::getline(cmdline, cmd, '\0');
    if (cmd.rfind("postgres: logger", 0) == 0) cpu.logger_s = own_s;
  }
  return cpu;
}

Runner::CpuCounters Runner::ReadCpuCounters(bool with_agent, const Daemon& collector,
                                            const Daemon& shipper) {
  CpuCounters c;
  c.wall = Clock::now();
  if (auto m = ReadMachineCpu(); m.ok()) c.machine = *m;
  c.server = ReadServerCpu();
  rusage children{};
  if (getrusage(RUSAGE_CHILDREN, &children) == 0) {
    c.children_s = static_cast<double>(children.ru_utime.tv_sec + children.ru_stime.tv_sec) +
                   static_cast<double>(children.ru_utime.tv_usec + children.ru_stime.tv_usec) / 1e6;
  }
  if (with_agent) {
    c.collectord_s = collector.CpuSeconds();
    c.shipperd_s = shipper.CpuSeconds();
    c.backends = MonitorBackendCpu();
  }
  return c;
}

void Runner::AccountCpu(bool with_agent, double tps, const CpuCounters& before,
                        const CpuCounters& after, OverheadResult* out) {
  const double wall_s = std::chrono::duration<double>(after.wall - before.wall).count();
  const double busy_s = after.machine.busy_s - before.machine.busy_s;
  const double total_s = after.machine.total_s - before.machine.total_s;
  if (wall_s <= 0 || total_s <= 0) return;
  (with_agent ? out->cpu.busy_share_with : out->cpu.busy_share_without).push_back(busy_s / total_s);
  (with_agent ? out->cpu.logger_ms_per_s_with : out->cpu.logger_ms_per_s_without)
      .push_back(1000 * (after.server.logger_s - before.server.logger_s) / wall_s);
  // Only backends seen at both ends count (a reconnect in between would be missed; the
  // agent keeps one session open, so that does not happen in a healthy run).
  double backend_s = 0;
  for (const auto& [pid, cpu_s] : after.backends) {
    auto it = before.backends.find(pid);
    if (it != before.backends.end()) backend_s += cpu_s - it->second;
  }
  OverheadCpu& c = out->cpu;
  // CPU per pgbench transaction of the server (less the agent's own sessions) and of
  // pgbench: what the same work cost with and without the agent beside it.
  const double transactions = tps * wall_s;
  if (transactions > 0) {
    const double server_s = after.server.total_s - before.server.total_s - backend_s;
    (with_agent ? c.server_ms_per_txn_with : c.server_ms_per_txn_without)
        .push_back(1000 * server_s / transactions);
    (with_agent ? c.pgbench_ms_per_txn_with : c.pgbench_ms_per_txn_without)
        .push_back(1000 * (after.children_s - before.children_s) / transactions);
  }
  if (!with_agent) return;
  c.collectord_ms_per_s.push_back(1000 * (after.collectord_s - before.collectord_s) / wall_s);
  c.shipperd_ms_per_s.push_back(1000 * (after.shipperd_s - before.shipperd_s) / wall_s);
  c.backend_ms_per_s.push_back(1000 * backend_s / wall_s);
  c.agent_ms_per_s_runs.push_back(c.collectord_ms_per_s.back() + c.shipperd_ms_per_s.back() +
                                  c.backend_ms_per_s.back());
  if (busy_s > 0)
    c.agent_share_of_busy_runs.push_back(c.agent_ms_per_s_runs.back() * wall_s / 1000 / busy_s);
}

void Runner::Footprint(int interval_s, FootprintResult* out) {
  out->interval_s = interval_s;
  const std::string tag = "footprint" + std::to_string(interval_s);
  const std::string config = WriteConfig(tag, interval_s, "end");
  Say("footprint: interval " + std::to_string(interval_s) + " s for " +
      std::to_string(o_.footprint_s) + " s");
  auto before = listener_->StoredCount();
  Daemon shipper("shipperd", Bin("shipperd/pgagent-shipperd"), config,
                 dir_ + "/" + tag + "-shipperd.log", o_.agent_nice, o_.agent_policy);
  Daemon collector("collectord", Bin("collectord/pgagent-collectord"), config,
                   dir_ + "/" + tag + "-collectord.log", o_.agent_nice, o_.agent_policy);
  if (!shipper.Start(0).ok() || !collector.Start(0).ok()) return;
  // Light, steady load so the collectors have something to read.
  auto load =
      ChildProcess::Start({pg_->bin_dir() + "/pgbench", "-n", "-c", "2", "-j", "1", "-R", "20",
                           "-T", std::to_string(o_.footprint_s + 30), "-h", "127.0.0.1", "-p",
                           std::to_string(pg_->port()), "-U", "postgres", "postgres"},
                          dir_ + "/" + tag + "-pgbench.log");
  std::this_thread::sleep_for(3s);  // past start-up
  const auto t0 = Clock::now();
  while (SecondsSince(t0) < o_.footprint_s) {
    collector.Sample(SecondsSince(t0));
    shipper.Sample(SecondsSince(t0));
    std::this_thread::sleep_for(1s);
  }
  collector.Sample(SecondsSince(t0));
  shipper.Sample(SecondsSince(t0));
  if (load.ok()) (*load)->Stop(5s);
  collector.Stop(15s);
  shipper.Stop(15s);
  out->seconds = SecondsSince(t0);
  out->collector = collector.series().back().Stats();
  out->shipper = shipper.series().back().Stats();
  auto after = listener_->StoredCount();
  out->rows_received = static_cast<uint64_t>(std::max(0, after.value_or(0) - before.value_or(0)));
}

void Runner::Soak(SoakResult* out) {
  out->ran = true;
  (void)Drain(false);  // earlier phases' rows are not part of the soak's accounting
  ledger_.Reset();
  // A fresh log file with a fixed name, as logrotate setups have: the soak's collector reads
  // it from the beginning, so markers written before its first cycle are read too.
  if (Status s = pg_->SetAndReload("log_filename", "postgresql.log"); !s.ok()) {
    out->error = s.ToString();
    return;
  }
  (void)pg_->Psql("SELECT pg_rotate_logfile()");
  std::this_thread::sleep_for(1500ms);
  const std::string config = WriteConfig("soak", o_.soak_interval_s, "beginning");
  Daemon shipper("shipperd", Bin("shipperd/pgagent-shipperd"), config, dir_ + "/soak-shipperd.log",
                 o_.agent_nice, o_.agent_policy);
  Daemon collector("collectord", Bin("collectord/pgagent-collectord"), config,
                   dir_ + "/soak-collectord.log", o_.agent_nice, o_.agent_policy);
  const auto t0 = Clock::now();
  if (!shipper.Start(0).ok() || !collector.Start(0).ok()) {
    out->error = "cannot start the daemons";
    return;
  }

  // The chaos schedule: kills, restarts and rotations spread over 10%..70% of the soak
  // (the last 30% stays calm, so the final instances show the steady-state trend), the
  // listener outage starting at 35%.
  std::multimap<double, std::string> plan;  // t -> event
  std::mt19937 rng(o_.seed);
  std::uniform_real_distribution<double> when(0.10 * o_.soak_s, 0.70 * o_.soak_s);
  for (int i = 0; i < o_.kills; ++i) {
    // Both daemons are killed at least once; beyond that, either at random.
    const bool coll = i < 2 ? (i == 0) == (rng() % 2 == 0) : rng() % 2 == 0;
    plan.emplace(when(rng), coll ? "kill collectord" : "kill shipperd");
  }
  for (int i = 0; i < o_.pg_restarts; ++i) {
    plan.emplace(o_.soak_s * (0.15 + 0.45 * (i + 1) / (o_.pg_restarts + 1)), "restart postgresql");
  }
  for (int i = 0; i < o_.rotations; ++i) plan.emplace(when(rng), "rotate log");
  if (o_.chaos_copytruncate) plan.emplace(0.25 * o_.soak_s, "copytruncate while collectord is down");
  if (o_.chaos_double_rename)
    plan.emplace(0.55 * o_.soak_s, "double rename while collectord is down");
  if (o_.chaos_dead_letter) {
    plan.emplace(0.20 * o_.soak_s, "reject one request (400)");  // before the outage
    plan.emplace(0.80 * o_.soak_s, "requeue dead letters");
  }
  if (o_.listener_down_s > 0) {
    plan.emplace(0.35 * o_.soak_s, "listener down (connection reset)");
    plan.emplace(0.35 * o_.soak_s + o_.listener_down_s / 2.0, "listener down (503)");
    plan.emplace(0.35 * o_.soak_s + o_.listener_down_s, "listener up");
  }

  MarkerWriter writer(
      "host=127.0.0.1 port=" + std::to_string(pg_->port()) +
          " user=postgres dbname=postgres application_name=pgagent-e2e-writer connect_timeout=5",
      o_.log_lines_per_s);
  writer.Start();
  const std::vector<std::string> pgbench_argv = {pg_->bin_dir() + "/pgbench",
                                                 "-n",
                                                 "-c",
                                                 "4",
                                                 "-j",
                                                 "2",
                                                 "-R",
                                                 std::to_string(o_.soak_pgbench_tps),
                                                 "-T",
                                                 std::to_string(o_.soak_s + 10),
                                                 "-h",
                                                 "127.0.0.1",
                                                 "-p",
                                                 std::to_string(pg_->port()),
                                                 "-U",
                                                 "postgres",
                                                 "postgres"};
  auto pgbench = ChildProcess::Start(pgbench_argv, dir_ + "/soak-pgbench.log");
  Progress(0,
           "soak: started (interval " + std::to_string(o_.soak_interval_s) + " s, " +
               std::to_string(o_.log_lines_per_s) + " markers/s, pgbench -R " +
               std::to_string(o_.soak_pgbench_tps) + ")",
           nullptr);

  bool listener_down = false;
  int rotated = 0;  // rotations by rename so far (names postgresql.log.rot<n>)
  double next_sample = 0, next_drain = o_.drain_every_s;
  std::vector<std::pair<double, Daemon*>> restarts;  // restart a killed daemon at t
  auto check_exits = [&](Daemon& d, double t) {
    if (auto code = d.ExitedByItself()) {
      DaemonStats& st = &d == &collector ? out->collector : out->shipper;
      ++st.unexpected_exits;
      st.unexpected_exit_detail.push_back(
          "t=" + std::to_string(static_cast<int>(t)) + "s exit " + std::to_string(*code) +
          ", log tail: " + pgagent::testing::FileTail(d.log(), 600));
      Progress(t, d.name() + " exited by itself with " + std::to_string(*code) + "; restarting",
               &out->events);
      (void)d.Start(t);
    }
  };
  while (true) {
    const double t = SecondsSince(t0);
    if (t >= o_.soak_s) break;
    while (!plan.empty() && plan.begin()->first <= t) {
      const std::string kind = plan.begin()->second;
      plan.erase(plan.begin());
      if (kind == "kill collectord" || kind == "kill shipperd") {
        Daemon& d = kind == "kill collectord" ? collector : shipper;
        if (!d.running()) {  // still down from the previous kill: kill it once it is back
          plan.emplace(t + 2.0, kind);
          continue;
        }
        d.Kill9();
        ++(&d == &collector ? out->collector : out->shipper).killed;
        restarts.push_back({t + 1.0, &d});
      } else if (kind == "restart postgresql") {
        Status s = pg_->Restart();
        if (!s.ok()) Progress(t, "postgresql restart failed: " + s.ToString(), &out->events);
      } else if (kind == "rotate log") {
        auto path = CurrentLogPath();
        Status s = path.ok() ? RenameAndReopen(
                                   *path, {{*path, *path + ".rot" + std::to_string(++rotated)}})
                             : path.status();
        if (!s.ok()) Progress(t, "rotation failed: " + s.ToString(), &out->events);
      } else if (kind == "double rename while collectord is down") {
        if (!collector.running()) {
          plan.emplace(t + 2.0, kind);
          continue;
        }
        collector.Kill9();
        // logrotate twice: postgresql.log -> .dr-1 (reopened), a second later .dr-1 -> .dr-2
        // and the middle file postgresql.log -> .dr-1 (reopened).
        auto path = CurrentLogPath();
        Status s = path.ok() ? RenameAndReopen(*path, {{*path, *path + ".dr-1"}}) : path.status();
        if (s.ok()) {
          std::this_thread::sleep_for(1s);  // markers go to the middle file meanwhile
          s = RenameAndReopen(*path,
                              {{*path + ".dr-1", *path + ".dr-2"}, {*path, *path + ".dr-1"}});
        }
        if (s.ok()) ++out->double_renames;
        if (!s.ok()) Progress(t, "double rename failed: " + s.ToString(), &out->events);
        restarts.push_back({SecondsSince(t0) + 1.0, &collector});
      } else if (kind == "copytruncate while collectord is down") {
        if (collector.running()) {
          collector.Stop(10s);
          Status s = CopyTruncateCurrentLog();
          if (s.ok()) ++out->copytruncates;
          if (!s.ok()) Progress(t, "copytruncate failed: " + s.ToString(), &out->events);
          restarts.push_back({SecondsSince(t0) + 2.0, &collector});
        } else {
          plan.emplace(t + 2.0, kind);
          continue;
        }
      } else if (kind == "reject one request (400)") {
        // A coalesced log request (not a correlation row): its records carry markers.
        (void)listener_->FailNext("status", 1, 400, 0, -1, "\"source\":\"pg_log\",\"data\"");
      } else if (kind == "requeue dead letters") {
        pgagent::testing::RunOptions ro;
        ro.timeout = 30s;
        auto run = pgagent::testing::RunProcess(
            {Bin("tools/pgagentctl/pgagentctl"), "--config", config, "deadletter", "requeue"}, ro);
        out->requeue_output = run.ok() ? run->out + run->err : run.status().ToString();
      } else if (kind == "listener down (connection reset)") {
        listener_down = true;
        (void)listener_->FailNext("reset", -1);
      } else if (kind == "listener down (503)") {
        (void)listener_->ClearFailures();
        (void)listener_->FailNext("status", -1, 503);
      } else if (kind == "listener up") {
        (void)listener_->ClearFailures();
        listener_down = false;
      }
      Progress(SecondsSince(t0), kind, &out->events);
    }
    for (auto it = restarts.begin(); it != restarts.end();) {
      if (it->first <= t) {
        (void)it->second->Start(t);
        it = restarts.erase(it);
      } else {
        ++it;
      }
    }
    check_exits(collector, t);
    check_exits(shipper, t);
    if (pgbench.ok() && !(*pgbench)->running()) {  // clients abort when PostgreSQL restarts
      ++out->pgbench_restarts;
      pgbench = ChildProcess::Start(pgbench_argv, dir_ + "/soak-pgbench.log");
    }
    if (t >= next_sample) {
      collector.Sample(t);
      shipper.Sample(t);
      next_sample += o_.sample_every_s;
    }
    if (t >= next_drain) {
      Status s = Drain(listener_down);
      if (!s.ok()) Progress(t, "drain failed: " + s.ToString(), &out->events);
      next_drain = SecondsSince(t0) + o_.drain_every_s;
      char buf[128];
      std::snprintf(buf, sizeof(buf), "markers written %llu, seen %llu",
                    static_cast<unsigned long long>(writer.written()),
                    static_cast<unsigned long long>(ledger_.MarkersSeenUpTo(writer.written())));
      Progress(SecondsSince(t0), buf, nullptr);
    }
    std::this_thread::sleep_for(100ms);
  }
  if (listener_down) (void)listener_->ClearFailures();
  for (auto& [when_s, d] : restarts) (void)d->Start(when_s);
  writer.Stop();
  if (pgbench.ok()) (*pgbench)->Stop(5s);
  out->seconds = SecondsSince(t0);
  out->markers_written = writer.written();
  out->writer_errors = writer.errors();
  out->marker_rate = out->markers_written / out->seconds;
  Progress(out->seconds, "soak: load stopped; waiting for the backlog", &out->events);

  // Every marker must arrive while the daemons keep running (sampled, not killed).
  const auto drain_start = Clock::now();
  out->all_markers_arrived = WaitForMarkers(out->markers_written, [&] {
    check_exits(collector, SecondsSince(t0));
    check_exits(shipper, SecondsSince(t0));
    collector.Sample(SecondsSince(t0));
    shipper.Sample(SecondsSince(t0));
  });
  out->backlog_drain_s = SecondsSince(drain_start);
  Progress(SecondsSince(t0),
           out->all_markers_arrived ? "every marker arrived" : "markers still missing",
           &out->events);
  // Graceful stop: collectord hands over what it holds, shipperd delivers what it stored.
  const int c_exit = collector.Stop(15s);
  // Quiet for longer than an aggregate interval (15 s): live aggregates wait that long.
  for (int quiet = 0, i = 0; quiet < 12 && i < 90; ++i) {
    std::this_thread::sleep_for(2s);
    ledger_.Flush();
    const uint64_t before = ledger_.Summarize(0).rows;
    (void)Drain(false);
    ledger_.Flush();
    quiet = ledger_.Summarize(0).rows == before ? quiet + 1 : 0;
  }
  const int s_exit = shipper.Stop(15s);
  Progress(SecondsSince(t0),
           "daemons stopped (collectord " + std::to_string(c_exit) + ", shipperd " +
               std::to_string(s_exit) + ")",
           &out->events);
  (void)Drain(false);
  ledger_.Flush();
  auto stats = listener_->StatsJson();
  out->listener_stats_json = stats.ok() ? *stats : "{}";
  out->harness_row_gaps = ledger_.row_gaps() + ledger_.parse_errors();
  out->ledger = ledger_.Summarize(out->markers_written);
  const int killed_c = out->collector.killed, killed_s = out->shipper.killed;
  const int unexpected_c = out->collector.unexpected_exits,
            unexpected_s = out->shipper.unexpected_exits;
  auto details_c = out->collector.unexpected_exit_detail,
       details_s = out->shipper.unexpected_exit_detail;
  out->collector = Summarize(collector, out->seconds);
  out->shipper = Summarize(shipper, out->seconds);
  out->collector.killed = killed_c;
  out->shipper.killed = killed_s;
  out->collector.unexpected_exits = unexpected_c;
  out->shipper.unexpected_exits = unexpected_s;
  out->collector.unexpected_exit_detail = details_c;
  out->shipper.unexpected_exit_detail = details_s;
  out->no_loss = out->ledger.markers_missing == 0 && out->ledger.seq_holes == 0 &&
                 out->ledger.boots_not_starting_at_1 == 0 && out->harness_row_gaps == 0;
  if (o_.csvlog_s > 0) SoakCsvlog(&out->csvlog);
  (void)pg_->Psql("ALTER SYSTEM RESET log_filename;\nSELECT pg_reload_conf();");
}

bool Runner::WaitForMarkers(uint64_t written, const std::function<void()>& check_exits) {
  const auto start = Clock::now();
  while (SecondsSince(start) < o_.final_wait_s) {
    check_exits();
    (void)Drain(false);
    ledger_.Flush();
    if (ledger_.MarkersSeenUpTo(written) == written) return true;
    std::this_thread::sleep_for(2s);
  }
  return false;
}

namespace {

// The number of a uint64 counter in pgagentctl status --json ("name": "N"); 0 when absent.
uint64_t JsonCounter(const std::string& json, const std::string& name) {
  const size_t pos = json.find("\"" + name + "\": \"");
  return pos == std::string::npos
             ? 0
             : std::strtoull(json.c_str() + pos + name.size() + 5, nullptr, 10);
}

}  // namespace

// The same markers through csvlog, with statements longer than log_max_line_bytes among
// them: each is cut as an entry (counted) and the markers after it still arrive.
void Runner::SoakCsvlog(CsvlogResult* out) {
  out->ran = true;
  (void)Drain(false);
  ledger_.Reset();
  if (Status s = pg_->SetAndReload("log_destination", "stderr,csvlog"); !s.ok()) {
    out->error = s.ToString();
    return;
  }
  std::this_thread::sleep_for(1500ms);  // the logger opens postgresql.csv
  const std::string config = WriteConfig("soak-csv", o_.soak_interval_s, "beginning", false,
                                         "log_format = csvlog\nlog_max_line_bytes = " +
                                             std::to_string(o_.csvlog_max_line_bytes) + "\n");
  ::mkdir((dir_ + "/soak-csv-run").c_str(), 0770);  // the control sockets' dir, as systemd makes it
  Daemon shipper("shipperd", Bin("shipperd/pgagent-shipperd"), config,
                 dir_ + "/soak-csv-shipperd.log", o_.agent_nice, o_.agent_policy);
  Daemon collector("collectord", Bin("collectord/pgagent-collectord"), config,
                   dir_ + "/soak-csv-collectord.log", o_.agent_nice, o_.agent_policy);
  if (!shipper.Start(0).ok() || !collector.Start(0).ok()) {
    out->error = "cannot start the daemons";
    return;
  }
  MarkerWriter writer("host=127.0.0.1 port=" + std::to_string(pg_->port()) +
                          " user=postgres dbname=postgres application_name=pgagent-e2e-writer "
                          "connect_timeout=5",
                      o_.log_lines_per_s);
  writer.Start();
  const auto t0 = Clock::now();
  Progress(0, "soak (csvlog): started", nullptr);
  // One literal of csvlog_oversized_bytes: logged (log_min_duration_statement = 0 in its
  // session: the budget phase leaves the server at 250 ms) as one csv record longer than
  // log_max_line_bytes, cut inside its quoted message field.
  const std::string oversized = "SET log_min_duration_statement = 0;\nSELECT length('" +
                                std::string(static_cast<size_t>(o_.csvlog_oversized_bytes), 'x') +
                                "')";
  uint64_t written_at_last = 0;
  for (int i = 1; i <= o_.csvlog_oversized; ++i) {
    std::this_thread::sleep_until(
        t0 + std::chrono::duration<double>(o_.csvlog_s * i / (o_.csvlog_oversized + 1.0)));
    if (pg_->Psql(oversized).ok()) ++out->oversized_written;
    written_at_last = writer.written();
  }
  std::this_thread::sleep_until(t0 + std::chrono::seconds(o_.csvlog_s));
  writer.Stop();
  out->seconds = SecondsSince(t0);
  out->markers_written = writer.written();
  out->markers_after_last_oversized = out->markers_written - written_at_last;
  const bool arrived = WaitForMarkers(out->markers_written, [] {});
  pgagent::testing::RunOptions ro;
  ro.timeout = 30s;
  auto status = pgagent::testing::RunProcess(
      {Bin("tools/pgagentctl/pgagentctl"), "--config", config, "status", "--json"}, ro);
  const std::string json = status.ok() ? status->out : "";
  out->truncated_entries = JsonCounter(json, "log_truncated_entries");
  out->cut_bytes = JsonCounter(json, "log_cut_bytes");
  out->csv_resyncs = JsonCounter(json, "log_csv_resyncs");
  out->unparsed_lines = JsonCounter(json, "log_unparsed_lines");
  (void)collector.Stop(15s);
  (void)shipper.Stop(15s);
  (void)pg_->SetAndReload("log_destination", "stderr");
  (void)Drain(false);
  ledger_.Flush();
  out->harness_row_gaps = ledger_.row_gaps() + ledger_.parse_errors();
  out->ledger = ledger_.Summarize(out->markers_written);
  out->no_loss = arrived && out->ledger.markers_missing == 0 && out->harness_row_gaps == 0 &&
                 out->oversized_written == o_.csvlog_oversized &&
                 out->truncated_entries >= static_cast<uint64_t>(o_.csvlog_oversized);
  Progress(out->seconds,
           std::string("soak (csvlog): ") + (out->no_loss ? "nothing lost" : "LOSS") + ", " +
               std::to_string(out->ledger.markers_seen) + " of " +
               std::to_string(out->markers_written) + " markers, " +
               std::to_string(out->truncated_entries) + " entries cut",
           nullptr);
}

// ---------------------------------------------------------------- the budget phase

namespace {

double UnixNowS() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The number after "<key>": in the listener's stats JSON (-1 when absent).
int StatsNumber(const std::string& json, const std::string& key) {
  const size_t pos = json.find("\"" + key + "\": ");
  return pos == std::string::npos ? -1 : std::atoi(json.c_str() + pos + key.size() + 4);
}

}  // namespace

void Runner::SummarizeBudget(const std::vector<TaggedRequest>& requests, double phase_start,
                             double outage_from, double outage_until, BudgetResult* out) {
  ledger_.Flush();
  std::vector<double> lags;
  ledger_.Inspect([&](const DeliveryLedger& ledger) {
    // Records waiting for their aggregate when the listener went down are outage records
    // too: a minute before it counts as the outage.
    for (const Arrival& a : ledger.arrivals()) {
      if (a.collected_unix_s >= outage_from - 60 && a.collected_unix_s <= outage_until) continue;
      lags.push_back(a.lag_s);
    }
    double last_outage_link = 0;
    for (const TaggedRequest& r : requests) {
      if (!r.completed) continue;
      auto it = ledger.linked_at().find(r.correlation_id);
      const bool linked = it != ledger.linked_at().end();
      if (r.kind == "fast") {
        ++out->tagged_fast;
        out->linked_fast += linked;
        continue;
      }
      // A request whose row could not go before the listener went down (issued during the
      // outage, or less than the longest settle time, 20 s, before it) is an outage request.
      if (r.issued_unix_s >= outage_from - 20 && r.issued_unix_s <= outage_until) {
        ++out->outage_tagged;
        out->outage_linked += linked;
        if (linked) last_outage_link = std::max(last_outage_link, it->second);
        continue;
      }
      ++out->tagged_slow_or_failing;
      out->linked_slow_or_failing += linked;
      const bool in_time = linked && it->second - r.issued_unix_s <= 60;
      out->linked_slow_or_failing_60s += in_time;
      if (!in_time && out->late.size() < 10) {
        char buf[160];
        std::snprintf(buf, sizeof(buf), "%s %s by %s, issued %.1f s into the phase: %s",
                      r.kind.c_str(), r.correlation_id.c_str(),
                      r.comment ? "comment" : "application_name", r.issued_unix_s - phase_start,
                      linked ? ("linked after " + std::to_string(static_cast<int>(
                                                      it->second - r.issued_unix_s)) + " s")
                                   .c_str()
                             : "never linked");
        out->late.push_back(buf);
      }
    }
    if (out->outage_tagged > 0 && out->outage_linked == out->outage_tagged) {
      out->outage_all_linked_after_s = std::max(0.0, last_outage_link - outage_until);
    }
    out->burst_records = ledger.burst_records();
    const auto& buffer = ledger.shipper_buffer();
    if (!buffer.empty()) {
      out->buffer_records_early = buffer.front().second;
      for (const auto& [t, n] : buffer) {
        if (t <= outage_from) out->buffer_records_late = n;
      }
    }
  });
  out->live_records = lags.size();
  out->live_lag_p50_s = Percentile(lags, 50);
  out->live_lag_p99_s = Percentile(lags, 99);
  out->live_lag_max_s = Percentile(lags, 100);
  out->linked_share_60s =
      out->tagged_slow_or_failing == 0
          ? 0
          : static_cast<double>(out->linked_slow_or_failing_60s) / out->tagged_slow_or_failing;
  auto stats = listener_->StatsJson();
  out->listener_stats_json = stats.ok() ? *stats : "{}";
  out->responses_429 = listener_->CountWithStatus(429).value_or(-1);
  out->responses_400 = listener_->CountWithStatus(400).value_or(-1);
  out->responses_200 = listener_->CountWithStatus(200).value_or(-1);
  out->max_requests_in_a_window = StatsNumber(out->listener_stats_json, "max_window_requests");
  out->unsafe_integers = StatsNumber(out->listener_stats_json, "unsafe_integers");
  out->ledger = ledger_.Summarize(0);
  out->rows = out->ledger.rows;
  out->correlation_rows = out->ledger.correlation_rows;
  out->harness_row_gaps = ledger_.row_gaps() + ledger_.parse_errors();
  out->no_loss = out->ledger.seq_holes == 0 && out->ledger.boots_not_starting_at_1 == 0 &&
                 out->harness_row_gaps == 0;
}

void Runner::Budget(BudgetResult* out) {
  out->ran = true;
  (void)Drain(false);  // earlier phases' rows are not part of this accounting
  ledger_.Reset();
  if (Status s = listener_->Reset(); !s.ok()) {  // the real limit, zero counters
    out->error = s.ToString();
    return;
  }
  const std::string setting = std::to_string(o_.budget_log_min_ms);
  (void)pg_->Psql("ALTER SYSTEM SET log_min_duration_statement = " + setting +
                  "; SELECT pg_reload_conf();");
  (void)pg_->Psql("SELECT pg_rotate_logfile()");
  std::this_thread::sleep_for(1500ms);
  if (Status init = InitPgbench(); !init.ok()) {
    out->error = init.ToString();
    return;
  }
  const std::string config = WriteConfig(
      "budget", o_.budget_interval_s, "beginning", false,
      o_.budget_burst_load_per_core > 0
          ? "burst_load_per_core = " + std::to_string(o_.budget_burst_load_per_core) + "\n"
          : "");
  Daemon shipper("shipperd", Bin("shipperd/pgagent-shipperd"), config,
                 dir_ + "/budget-shipperd.log", o_.agent_nice, o_.agent_policy);
  Daemon collector("collectord", Bin("collectord/pgagent-collectord"), config,
                   dir_ + "/budget-collectord.log", o_.agent_nice, o_.agent_policy);
  if (!shipper.Start(0).ok() || !collector.Start(0).ok()) {
    out->error = "cannot start the daemons";
    return;
  }
  const std::string pg_conn = "host=127.0.0.1 port=" + std::to_string(pg_->port()) +
                              " user=postgres dbname=postgres connect_timeout=5";
  TaggedClientOptions to;
  to.conninfo = pg_conn + " application_name=pgagent-e2e-php";
  to.per_minute = o_.tagged_per_minute;
  to.slow_seconds = o_.budget_log_min_ms / 1000.0 + 0.15;
  TaggedClient client(to);
  const int total_s = o_.budget_steady_s + o_.budget_outage_s + o_.budget_drain_limit_s;
  auto pgbench = ChildProcess::Start(
      {pg_->bin_dir() + "/pgbench", "-n", "-c", "4", "-j", "2", "-R",
       std::to_string(o_.budget_pgbench_tps), "-T", std::to_string(total_s + 30), "-h",
       "127.0.0.1", "-p", std::to_string(pg_->port()), "-U", "postgres", "postgres"},
      dir_ + "/budget-pgbench.log");
  client.Start();
  const auto t0 = Clock::now();
  const double phase_start = UnixNowS();
  Progress(0, "budget: started at the listener's real limit (interval " +
                  std::to_string(o_.budget_interval_s) + " s, " +
                  std::to_string(static_cast<int>(o_.tagged_per_minute)) +
                  " tagged requests/min)",
           nullptr);
  auto run_until = [&](double until_s, bool down, const std::function<bool()>& done) {
    double next_drain = SecondsSince(t0) + o_.budget_drain_every_s;
    while (SecondsSince(t0) < until_s) {
      if (done && done()) return true;
      if (SecondsSince(t0) >= next_drain) {
        (void)Drain(down);
        next_drain = SecondsSince(t0) + o_.budget_drain_every_s;
      }
      std::this_thread::sleep_for(200ms);
    }
    return done ? done() : true;
  };
  run_until(o_.budget_steady_s, false, nullptr);
  out->steady_s = SecondsSince(t0);
  const double outage_from = UnixNowS();
  Progress(SecondsSince(t0), "budget: listener down for " + std::to_string(o_.budget_outage_s) + " s",
           nullptr);
  (void)listener_->FailNext("reset", -1);
  run_until(o_.budget_steady_s + o_.budget_outage_s, true, nullptr);
  (void)listener_->ClearFailures();
  const double outage_until = UnixNowS();
  out->outage_s = outage_until - outage_from;
  Progress(SecondsSince(t0), "budget: listener up; draining", nullptr);
  const auto back = Clock::now();
  // Drained: every record collected before the listener came back has arrived (no hole in
  // any boot, and one of them was collected after the return).
  auto drained = [&] {
    (void)Drain(false);
    ledger_.Flush();
    bool done = false;
    ledger_.Inspect([&](const DeliveryLedger& ledger) {
      const LedgerSummary s = ledger.Summarize(0);
      double newest = 0;
      for (const Arrival& a : ledger.arrivals()) newest = std::max(newest, a.collected_unix_s);
      done = s.seq_holes == 0 && newest >= outage_until;
    });
    return done;
  };
  if (run_until(total_s, false, drained)) out->drain_s = SecondsSince(back);
  // Then the outage's correlation rows: one request each, as the budget allows.
  auto outage_ids_linked = [&] {
    (void)Drain(false);
    ledger_.Flush();
    bool all = true;
    ledger_.Inspect([&](const DeliveryLedger& ledger) {
      for (const TaggedRequest& r : client.requests()) {
        if (!r.completed || r.kind == "fast" || r.issued_unix_s < outage_from - 20 ||
            r.issued_unix_s > outage_until) {
          continue;
        }
        if (!ledger.linked_at().count(r.correlation_id)) all = false;
      }
    });
    return all;
  };
  run_until(total_s, false, outage_ids_linked);
  // Let the last tagged requests be linked (rows settle for up to 20 s), then stop.
  client.Stop();
  run_until(SecondsSince(t0) + 45, false, nullptr);
  if (pgbench.ok()) (*pgbench)->Stop(5s);
  collector.Stop(15s);
  // What collectord handed over last waits up to an aggregate interval for its request.
  run_until(SecondsSince(t0) + 30, false, nullptr);
  shipper.Stop(15s);
  (void)Drain(false);
  (void)pg_->Psql("ALTER SYSTEM RESET log_min_duration_statement; SELECT pg_reload_conf();");
  const auto requests = client.requests();
  out->tagged_per_minute = requests.size() / std::max(1.0, SecondsSince(t0) / 60.0);
  SummarizeBudget(requests, phase_start, outage_from,
                  outage_until + (out->drain_s < 0 ? 1e9 : out->drain_s), out);
  char buf[200];
  std::snprintf(buf, sizeof(buf),
                "budget: 429=%d 400=%d max/window=%d lag p99 %.1f s drain %.0f s linked %.3f",
                out->responses_429, out->responses_400, out->max_requests_in_a_window,
                out->live_lag_p99_s, out->drain_s, out->linked_share_60s);
  Progress(SecondsSince(t0), buf, nullptr);
}

// ---------------------------------------------------------------- report rendering

// A minimal JSON writer: values after Key() or inside arrays, commas handled here.
class Json {
 public:
  Json& Key(const std::string& k) {
    Comma();
    Quoted(k);
    out_ += ':';
    need_comma_ = false;
    return *this;
  }
  Json& Num(double v) {
    Comma();
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%.6g", std::isfinite(v) ? v : 0.0);
    out_ += buf;
    need_comma_ = true;
    return *this;
  }
  Json& Bool(bool v) {
    Comma();
    out_ += v ? "true" : "false";
    need_comma_ = true;
    return *this;
  }
  Json& Str(const std::string& s) {
    Comma();
    Quoted(s);
    need_comma_ = true;
    return *this;
  }
  // Already-serialized JSON (e.g. the listener's stats); "null" when empty.
  Json& Raw(const std::string& s) {
    Comma();
    out_ += s.empty() ? "null" : s;
    need_comma_ = true;
    return *this;
  }
  Json& Open(char c) {
    Comma();
    out_ += c;
    need_comma_ = false;
    return *this;
  }
  Json& Close(char c) {
    out_ += c;
    need_comma_ = true;
    return *this;
  }
  const std::string& str() const { return out_; }

 private:
  void Comma() {
    if (need_comma_) out_ += ',';
  }
  void Quoted(const std::string& s) {
    out_ += '"';
    for (unsigned char c : s) {
      if (c == '"' || c == '\\') {
        out_ += '\\';
        out_ += static_cast<char>(c);
      } else if (c < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
        out_ += buf;
      } else {
        out_ += static_cast<char>(c);
      }
    }
    out_ += '"';
  }
  std::string out_;
  bool need_comma_ = false;
};

void SeriesJson(Json& j, const std::string& key, const SeriesStats& s) {
  j.Key(key).Open('{');
  j.Key("samples").Num(static_cast<double>(s.samples)).Key("seconds").Num(s.seconds);
  j.Key("rss_mean_mb").Num(s.rss_mean_mb).Key("rss_max_mb").Num(s.rss_max_mb);
  j.Key("rss_anon_mean_mb").Num(s.rss_anon_mean_mb).Key("rss_anon_max_mb").Num(s.rss_anon_max_mb);
  j.Key("cpu_percent").Num(s.cpu_percent);
  j.Key("rss_slope_mb_per_h")
      .Num(s.rss_slope_mb_per_h)
      .Key("rss_anon_slope_mb_per_h")
      .Num(s.rss_anon_slope_mb_per_h);
  j.Close('}');
}

void NumList(Json& j, const std::string& key, const std::vector<double>& v) {
  j.Key(key).Open('[');
  for (double x : v) j.Num(x);
  j.Close(']');
}

void DaemonJson(Json& j, const std::string& key, const DaemonStats& d) {
  j.Key(key).Open('{');
  j.Key("instances")
      .Num(d.instances)
      .Key("killed")
      .Num(d.killed)
      .Key("unexpected_exits")
      .Num(d.unexpected_exits);
  j.Key("cpu_percent_all").Num(d.cpu_percent_all).Key("rss_max_mb_all").Num(d.rss_max_mb_all);
  SeriesJson(j, "longest_instance", d.longest);
  SeriesJson(j, "longest_instance_second_half", d.longest_second_half);
  j.Key("unexpected_exit_detail").Open('[');
  for (const auto& s : d.unexpected_exit_detail) j.Str(s);
  j.Close(']');
  j.Close('}');
}

std::string Fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string SeriesRow(const std::string& label, const SeriesStats& s) {
  return "| " + label + " | " + Fmt("%.0f", s.seconds) + " s | " + Fmt("%.1f", s.rss_mean_mb) +
         " / " + Fmt("%.1f", s.rss_max_mb) + " | " + Fmt("%.1f", s.rss_anon_mean_mb) + " / " +
         Fmt("%.1f", s.rss_anon_max_mb) + " | " + Fmt("%.2f", s.cpu_percent) + " | " +
         // A slope over a few minutes is start-up noise, not a trend.
         (s.seconds >= 300 ? Fmt("%+.2f", s.rss_anon_slope_mb_per_h)
                           : std::string("n/a (< 300 s)")) +
         " |\n";
}

const char* kSeriesHeader =
    "| daemon | sampled | RSS mean / max (MB) | RssAnon mean / max (MB) | CPU % of one core | "
    "RssAnon slope "
    "(MB/h) |\n|---|---|---|---|---|---|\n";

}  // namespace

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

E2eOptions QuickOptions() {
  E2eOptions o;
  o.overhead_run_s = 8;
  o.soak_s = 50;
  // At the listener's real limit 80 requests of 1 MiB a minute carry ~1.4 MB/s; the soak's
  // markers (RAISE LOG with their CONTEXT, ~500 bytes each as JSON) stay well below that,
  // so the outage's backlog drains while the load goes on.
  o.log_lines_per_s = 500;
  o.footprint_s = 15;
  o.budget_steady_s = 90;
  o.budget_outage_s = 45;
  o.budget_drain_limit_s = 240;
  o.sample_every_s = 1;
  o.drain_every_s = 5;
  o.final_wait_s = 150;
  return o;
}

E2eOptions FullOptions() {
  E2eOptions o;
  o.variant = "full";
  o.overhead_run_s = 60;
  o.overhead_pairs = 4;
  o.soak_s = 1800;
  o.log_lines_per_s = 1000;  // at the real limit (see QuickOptions)
  o.budget_steady_s = 1800;
  o.budget_outage_s = 3600;
  o.budget_drain_limit_s = 1200;
  o.kills = 20;
  o.pg_restarts = 2;
  o.listener_down_s = 300;
  o.rotations = 10;
  o.sample_every_s = 5;
  o.drain_every_s = 15;
  o.final_wait_s = 900;
  o.footprint_s = 300;
  return o;
}

std::string E2eReport::ToJson() const {
  Json j;
  j.Open('{');
  j.Key("variant").Str(options.variant).Key("started_at").Str(started_at).Key("wall_s").Num(wall_s);
  j.Key("environment").Open('{');
  for (const auto& [k, v] : environment) j.Key(k).Str(v);
  j.Close('}');
  if (budget.ran) {
    const BudgetResult& b = budget;
    j.Key("budget").Open('{');
    j.Key("steady_s").Num(b.steady_s).Key("outage_s").Num(b.outage_s);
    j.Key("interval_s").Num(options.budget_interval_s);
    j.Key("log_min_duration_statement_ms").Num(options.budget_log_min_ms);
    j.Key("responses_429").Num(b.responses_429).Key("responses_400").Num(b.responses_400);
    j.Key("responses_200").Num(b.responses_200);
    j.Key("max_requests_in_a_window").Num(b.max_requests_in_a_window);
    j.Key("unsafe_integers").Num(b.unsafe_integers);
    j.Key("rows").Num(static_cast<double>(b.rows));
    j.Key("correlation_rows").Num(static_cast<double>(b.correlation_rows));
    j.Key("live_records").Num(static_cast<double>(b.live_records));
    j.Key("live_lag_p50_s").Num(b.live_lag_p50_s).Key("live_lag_p99_s").Num(b.live_lag_p99_s);
    j.Key("live_lag_max_s").Num(b.live_lag_max_s).Key("drain_s").Num(b.drain_s);
    j.Key("buffer_records_early").Num(static_cast<double>(b.buffer_records_early));
    j.Key("buffer_records_late").Num(static_cast<double>(b.buffer_records_late));
    j.Key("tagged_per_minute").Num(b.tagged_per_minute);
    j.Key("tagged_slow_or_failing").Num(static_cast<double>(b.tagged_slow_or_failing));
    j.Key("linked_slow_or_failing").Num(static_cast<double>(b.linked_slow_or_failing));
    j.Key("linked_slow_or_failing_within_60s")
        .Num(static_cast<double>(b.linked_slow_or_failing_60s));
    j.Key("linked_share_within_60s").Num(b.linked_share_60s);
    j.Key("outage_tagged").Num(static_cast<double>(b.outage_tagged));
    j.Key("outage_linked").Num(static_cast<double>(b.outage_linked));
    j.Key("outage_all_linked_after_s").Num(b.outage_all_linked_after_s);
    j.Key("tagged_fast").Num(static_cast<double>(b.tagged_fast));
    j.Key("linked_fast").Num(static_cast<double>(b.linked_fast));
    j.Key("seq_holes").Num(static_cast<double>(b.ledger.seq_holes));
    j.Key("harness_row_gaps").Num(static_cast<double>(b.harness_row_gaps));
    j.Key("burst_records").Num(static_cast<double>(b.burst_records));
    j.Key("no_loss").Bool(b.no_loss).Key("error").Str(b.error);
    j.Close('}');
  }
  j.Key("overhead").Open('[');
  for (const OverheadResult& overhead : overhead) {
    j.Open('{');
    j.Key("ran")
        .Bool(overhead.ran)
        .Key("log_min_duration_statement_ms")
        .Num(overhead.log_min_duration_ms)
        .Key("log_statements")
        .Str(options.overhead_log_statements)
        .Key("scale")
        .Num(options.pgbench_scale)
        .Key("clients")
        .Num(options.pgbench_clients);
    j.Key("run_s").Num(options.overhead_run_s).Key("interval_s").Num(options.overhead_interval_s);
    NumList(j, "tps_without_agent", overhead.tps_without);
    NumList(j, "tps_with_agent", overhead.tps_with);
    NumList(j, "pair_ratios", overhead.pair_ratios);
    j.Key("median_ratio").Num(overhead.median_ratio).Key("target_ratio").Num(0.995);
    j.Key("requests_acked").Num(static_cast<double>(overhead.requests_acked));
    SeriesJson(j, "collectord_during_load", overhead.collector);
    SeriesJson(j, "shipperd_during_load", overhead.shipper);
    const OverheadCpu& c = overhead.cpu;
    j.Key("cpu").Open('{');
    NumList(j, "collectord_ms_per_s", c.collectord_ms_per_s);
    NumList(j, "shipperd_ms_per_s", c.shipperd_ms_per_s);
    NumList(j, "monitor_backends_ms_per_s", c.backend_ms_per_s);
    NumList(j, "agent_ms_per_s", c.agent_ms_per_s_runs);
    NumList(j, "agent_share_of_busy", c.agent_share_of_busy_runs);
    NumList(j, "machine_busy_share_without_agent", c.busy_share_without);
    NumList(j, "machine_busy_share_with_agent", c.busy_share_with);
    NumList(j, "server_logger_ms_per_s_without_agent", c.logger_ms_per_s_without);
    NumList(j, "server_logger_ms_per_s_with_agent", c.logger_ms_per_s_with);
    NumList(j, "server_ms_per_transaction_without_agent", c.server_ms_per_txn_without);
    NumList(j, "server_ms_per_transaction_with_agent", c.server_ms_per_txn_with);
    NumList(j, "pgbench_ms_per_transaction_without_agent", c.pgbench_ms_per_txn_without);
    NumList(j, "pgbench_ms_per_transaction_with_agent", c.pgbench_ms_per_txn_with);
    j.Key("median_agent_ms_per_s").Num(c.agent_ms_per_s);
    j.Key("median_agent_share_of_busy").Num(c.agent_share_of_busy);
    j.Key("cpu_implied_ratio").Num(c.cpu_implied_ratio);
    j.Close('}');
    j.Key("error").Str(overhead.error);
    j.Close('}');
  }
  j.Close(']');
  const LedgerSummary& l = soak.ledger;
  j.Key("soak").Open('{');
  j.Key("ran")
      .Bool(soak.ran)
      .Key("seconds")
      .Num(soak.seconds)
      .Key("interval_s")
      .Num(options.soak_interval_s);
  j.Key("markers_target_per_s")
      .Num(options.log_lines_per_s)
      .Key("markers_per_s")
      .Num(soak.marker_rate);
  j.Key("markers_written").Num(static_cast<double>(soak.markers_written));
  j.Key("writer_errors").Num(static_cast<double>(soak.writer_errors));
  j.Key("pgbench_tps_target")
      .Num(options.soak_pgbench_tps)
      .Key("pgbench_restarts")
      .Num(static_cast<double>(soak.pgbench_restarts));
  j.Key("no_loss").Bool(soak.no_loss).Key("all_markers_arrived").Bool(soak.all_markers_arrived);
  j.Key("backlog_drain_s")
      .Num(soak.backlog_drain_s)
      .Key("harness_row_gaps")
      .Num(static_cast<double>(soak.harness_row_gaps));
  j.Key("ledger").Open('{');
  j.Key("rows")
      .Num(static_cast<double>(l.rows))
      .Key("correlation_rows")
      .Num(static_cast<double>(l.correlation_rows));
  j.Key("rows_by_source").Open('{');
  for (const auto& [k, v] : l.rows_by_source) j.Key(k).Num(static_cast<double>(v));
  j.Close('}');
  j.Key("records_by_kind").Open('{');
  for (const auto& [k, v] : l.records_by_kind) j.Key(k).Num(static_cast<double>(v));
  j.Close('}');
  j.Key("distinct_records").Num(static_cast<double>(l.distinct_records));
  j.Key("duplicate_record_rows").Num(static_cast<double>(l.duplicate_record_rows));
  j.Key("boots")
      .Num(static_cast<double>(l.boots))
      .Key("boots_not_starting_at_1")
      .Num(static_cast<double>(l.boots_not_starting_at_1));
  j.Key("seq_holes").Num(static_cast<double>(l.seq_holes));
  j.Key("markers_seen")
      .Num(static_cast<double>(l.markers_seen))
      .Key("markers_missing")
      .Num(static_cast<double>(l.markers_missing));
  j.Key("marker_duplicates").Num(static_cast<double>(l.marker_duplicates));
  j.Key("first_missing_markers").Open('[');
  for (uint64_t n : l.first_missing_markers) j.Num(static_cast<double>(n));
  j.Close(']');
  j.Key("boots_detail").Open('[');
  for (const auto& b : l.boots_detail) {
    j.Open('{')
        .Key("boot_id")
        .Str(b.boot_id)
        .Key("first_seq")
        .Num(static_cast<double>(b.first_seq));
    j.Key("last_seq")
        .Num(static_cast<double>(b.last_seq))
        .Key("distinct")
        .Num(static_cast<double>(b.distinct));
    j.Key("holes").Num(static_cast<double>(b.holes)).Close('}');
  }
  j.Close(']');
  j.Close('}');
  j.Key("daemons").Open('{');
  DaemonJson(j, "collectord", soak.collector);
  DaemonJson(j, "shipperd", soak.shipper);
  j.Close('}');
  j.Key("events").Open('[');
  for (const auto& e : soak.events)
    j.Open('{').Key("t_s").Num(e.t_s).Key("what").Str(e.what).Close('}');
  j.Close(']');
  j.Key("listener_stats").Raw(soak.listener_stats_json);
  j.Key("error").Str(soak.error);
  j.Key("copytruncates").Num(soak.copytruncates).Key("double_renames").Num(soak.double_renames);
  if (soak.csvlog.ran) {
    const CsvlogResult& c = soak.csvlog;
    j.Key("csvlog").Open('{').Key("seconds").Num(c.seconds).Key("no_loss").Bool(c.no_loss);
    j.Key("markers_written").Num(static_cast<double>(c.markers_written));
    j.Key("markers_seen").Num(static_cast<double>(c.ledger.markers_seen));
    j.Key("markers_missing").Num(static_cast<double>(c.ledger.markers_missing));
    j.Key("markers_after_last_oversized").Num(static_cast<double>(c.markers_after_last_oversized));
    j.Key("oversized_written").Num(c.oversized_written);
    j.Key("oversized_bytes").Num(options.csvlog_oversized_bytes);
    j.Key("log_max_line_bytes").Num(options.csvlog_max_line_bytes);
    j.Key("truncated_entries").Num(static_cast<double>(c.truncated_entries));
    j.Key("cut_bytes").Num(static_cast<double>(c.cut_bytes));
    j.Key("csv_resyncs").Num(static_cast<double>(c.csv_resyncs));
    j.Key("unparsed_lines").Num(static_cast<double>(c.unparsed_lines));
    j.Key("harness_row_gaps").Num(static_cast<double>(c.harness_row_gaps));
    j.Key("error").Str(c.error).Close('}');
  }
  j.Close('}');
  j.Key("footprint").Open('[');
  for (const auto& f : footprints) {
    j.Open('{').Key("interval_s").Num(f.interval_s).Key("seconds").Num(f.seconds);
    j.Key("rows_received").Num(static_cast<double>(f.rows_received));
    SeriesJson(j, "collectord", f.collector);
    SeriesJson(j, "shipperd", f.shipper);
    j.Close('}');
  }
  j.Close(']');
  j.Close('}');
  return j.str() + "\n";
}

// The overhead series' CPU accounting as a markdown paragraph.
static std::string CpuAccountingMarkdown(const OverheadCpu& c) {
  if (c.agent_ms_per_s_runs.empty()) return "";
  std::ostringstream md;
  md << "\nCPU accounting (from /proc, median of the loaded runs): the agent used **"
     << Fmt("%.1f", c.agent_ms_per_s) << " ms of CPU per second** (collectord "
     << Fmt("%.1f", Median(c.collectord_ms_per_s)) << ", shipperd "
     << Fmt("%.1f", Median(c.shipperd_ms_per_s)) << ", its sessions' server backends "
     << Fmt("%.1f", Median(c.backend_ms_per_s)) << "), **"
     << Fmt("%.2f", 100 * c.agent_share_of_busy)
     << "% of the machine's busy CPU time**; CPU-implied ratio **"
     << Fmt("%.4f", c.cpu_implied_ratio) << "** (the TPS ratio if TPS followed the CPU left to "
     << "PostgreSQL and pgbench; without the indirect costs the TPS ratio includes). Machine "
     << "busy share: " << Fmt("%.1f", 100 * Median(c.busy_share_without)) << "% without, "
     << Fmt("%.1f", 100 * Median(c.busy_share_with)) << "% with the agent.";
  if (Median(c.logger_ms_per_s_without) >= 1) {
    md << " For scale: PostgreSQL's own logging collector (`postgres: logger`) used "
       << Fmt("%.1f", Median(c.logger_ms_per_s_without))
       << " ms of CPU per second in the runs without the agent, just to move the log lines "
          "into the files.";
  }
  if (!c.server_ms_per_txn_without.empty() && !c.server_ms_per_txn_with.empty()) {
    md << " CPU per transaction, without / with the agent: PostgreSQL "
       << Fmt("%.4f", Median(c.server_ms_per_txn_without)) << " / "
       << Fmt("%.4f", Median(c.server_ms_per_txn_with)) << " ms (its sessions excluded), pgbench "
       << Fmt("%.4f", Median(c.pgbench_ms_per_txn_without)) << " / "
       << Fmt("%.4f", Median(c.pgbench_ms_per_txn_with))
       << " ms (the same work costing more beside the agent, beyond the scatter between runs, is "
          "the "
          "indirect cost that the CPU-implied ratio leaves out).";
  }
  md << "\n";
  return md.str();
}

std::string E2eReport::ToMarkdown() const {
  std::ostringstream md;
  md << "# pgagent end-to-end report (" << options.variant << ")\n\n";
  md << "Started " << started_at << ", took " << Fmt("%.0f", wall_s) << " s. Environment:";
  for (const auto& [k, v] : environment) md << " " << k << " `" << v << "`;";
  md << "\n\nBoth daemons are the build tree's binaries, run as child processes against a "
        "throwaway PostgreSQL cluster and the HTTPS test listener at its real limit (100 "
        "requests per minute per IP, fixed windows, 429 + Retry-After) with the agent's "
        "default budget, except the overhead phase (every statement logged: listener limit "
        "off, agent `requests_per_minute = 6000`). Absolute numbers depend on the machine and "
        "its other load.\n\n";
  if (budget.ran) {
    const BudgetResult& b = budget;
    md << "## Delivery at the listener's real limit (interval " << options.budget_interval_s
       << " s, log_min_duration_statement = " << options.budget_log_min_ms << " ms, pgbench -R "
       << options.budget_pgbench_tps << ", " << Fmt("%.1f", b.tagged_per_minute)
       << " tagged PHP requests/min)\n\n"
       << "| figure | value | target |\n|---|---|---|\n"
       << "| steady state / outage | " << Fmt("%.0f", b.steady_s) << " s / "
       << Fmt("%.0f", b.outage_s) << " s | |\n"
       << "| responses 429 / 400 | " << b.responses_429 << " / " << b.responses_400 << " | 0 / 0 |\n"
       << "| most requests in one 60 s window | " << b.max_requests_in_a_window << " | <= 80 |\n"
       << "| rows stored (correlation rows) | " << b.rows << " (" << b.correlation_rows << ") | |\n"
       << "| live delivery lag p50 / p99 / max | " << Fmt("%.1f", b.live_lag_p50_s) << " / "
       << Fmt("%.1f", b.live_lag_p99_s) << " / " << Fmt("%.1f", b.live_lag_max_s) << " s ("
       << b.live_records << " records) | p99 <= 60 s |\n"
       << "| shipperd buffer, first / last health before the outage | "
       << b.buffer_records_early << " / " << b.buffer_records_late << " records | no growth |\n"
       << "| backlog drained after the outage | "
       << (b.drain_s < 0 ? std::string("NOT within the limit") : Fmt("%.0f s", b.drain_s))
       << " | <= 600 s |\n"
       << "| tagged slow or failing requests issued during the outage: linked / all linked after the return | "
       << b.outage_linked << " of " << b.outage_tagged << " / "
       << (b.outage_all_linked_after_s < 0 ? std::string("not all within the limit")
                                           : Fmt("%.0f s", b.outage_all_linked_after_s))
       << " | delayed, never dropped |\n"
       << "| tagged slow or failing requests (listener up) linked within 60 s | "
       << b.linked_slow_or_failing_60s << " of " << b.tagged_slow_or_failing << " ("
       << Fmt("%.1f%%", 100 * b.linked_share_60s) << "); linked at all: "
       << b.linked_slow_or_failing << " | >= 99% |\n"
       << "| tagged fast requests linked | " << b.linked_fast << " of " << b.tagged_fast
       << " | (seen only when sampled) |\n"
       << "| snapshots taken by burst sampling | " << b.burst_records << " | |\n"
       << "| 64-bit numbers JSON.parse would round | " << b.unsafe_integers << " | 0 |\n"
       << "| seq holes / boots not from 1 / rows the harness missed | " << b.ledger.seq_holes
       << " / " << b.ledger.boots_not_starting_at_1 << " / " << b.harness_row_gaps
       << " | 0 / 0 / 0 |\n\n";
    for (const std::string& late : b.late) md << "- late or not linked: " << late << "\n";
    if (!b.late.empty()) md << "\n";
    if (!b.error.empty()) md << "Error: " << b.error << "\n\n";
  }
  for (const OverheadResult& overhead : overhead) {
    if (!overhead.ran) continue;
    md << "## Overhead, log_min_duration_statement = " << overhead.log_min_duration_ms
       << " ms (pgbench, scale " << options.pgbench_scale << ", " << options.pgbench_clients
       << " clients, " << options.overhead_run_s << " s runs, agent at a "
       << options.overhead_interval_s << " s interval, daemons at nice " << options.agent_nice
       << ", policy " << options.agent_policy << ")\n\n";
    md << "| pair | TPS without agent | TPS with agent | ratio |\n|---|---|---|---|\n";
    for (size_t i = 0; i < overhead.pair_ratios.size(); ++i) {
      md << "| " << i + 1 << " | " << Fmt("%.1f", overhead.tps_without[i]) << " | "
         << Fmt("%.1f", overhead.tps_with[i]) << " | " << Fmt("%.4f", overhead.pair_ratios[i])
         << " |\n";
    }
    md << "\n**Median ratio: " << Fmt("%.4f", overhead.median_ratio) << "** (target >= 0.995; "
       << (overhead.median_ratio >= 0.995 ? "met" : "NOT met")
       << "). Requests delivered during the loaded runs: " << overhead.requests_acked
       << " (the listener acknowledged them without parsing, so that it "
       << "does not compete with PostgreSQL for the CPUs).\n\nDaemons during the last loaded "
          "run:\n\n"
       << kSeriesHeader << SeriesRow("collectord", overhead.collector)
       << SeriesRow("shipperd", overhead.shipper);
    md << CpuAccountingMarkdown(overhead.cpu);
    if (!overhead.error.empty()) md << "\nError: `" << overhead.error << "`\n";
    md << "\n";
  }
  if (soak.ran) {
    const LedgerSummary& l = soak.ledger;
    md << "## Soak with chaos (" << Fmt("%.0f", soak.seconds) << " s at a "
       << options.soak_interval_s << " s interval)\n\n";
    md << "Load: pgbench -R " << options.soak_pgbench_tps
       << " (4 clients), log_min_duration_statement = 0, plus "
       << "numbered `RAISE LOG` markers through the server's logging collector: target "
       << options.log_lines_per_s << "/s, achieved " << Fmt("%.0f", soak.marker_rate) << "/s ("
       << soak.markers_written << " markers).\n\n";
    md << "Chaos: " << soak.collector.killed << " SIGKILLs of collectord, " << soak.shipper.killed
       << " of shipperd, " << options.pg_restarts << " PostgreSQL restart(s), listener down "
       << options.listener_down_s << " s, " << options.rotations
       << " log rotations (log_filename = postgresql.log renamed, then pg_rotate_logfile), "
       << soak.copytruncates << " copytruncate(s) and " << soak.double_renames
       << " double rename(s) while collectord was down.\n\n";
    md << "**Nothing lost: " << (soak.no_loss ? "YES" : "NO") << "**\n\n";
    md << "| check | value |\n|---|---|\n";
    md << "| markers seen / written | " << l.markers_seen << " / " << soak.markers_written
       << " |\n";
    md << "| markers missing | " << l.markers_missing << " |\n";
    md << "| marker duplicates (re-read after a kill) | " << l.marker_duplicates << " |\n";
    md << "| boot ids (one per collectord and per shipperd process, plus any renumbering) | "
       << l.boots << " |\n";
    md << "| distinct records | " << l.distinct_records << " |\n";
    md << "| seq holes inside a boot | " << l.seq_holes << " |\n";
    md << "| boots not starting at seq 1 | " << l.boots_not_starting_at_1 << " |\n";
    md << "| duplicate record rows | " << l.duplicate_record_rows << " |\n";
    md << "| listener rows (of which per-correlation copies) | " << l.rows << " ("
       << l.correlation_rows << ") |\n";
    md << "| backlog after load stop arrived within | " << Fmt("%.0f", soak.backlog_drain_s)
       << " s |\n";
    md << "| harness row gaps (must be 0) | " << soak.harness_row_gaps << " |\n";
    md << "| unexpected daemon exits | collectord " << soak.collector.unexpected_exits
       << ", shipperd " << soak.shipper.unexpected_exits << " |\n\n";
    md << "Records by kind:";
    for (const auto& [k, v] : l.records_by_kind) md << " " << k << " " << v << ";";
    md << "\n\nResources (longest-lived instance; its RssAnon slope is the growth trend):\n\n"
       << kSeriesHeader << SeriesRow("collectord", soak.collector.longest)
       << SeriesRow("shipperd", soak.shipper.longest);
    // Over less than 150 s a slope is start-up noise, not a trend.
    auto trend = [](const SeriesStats& half) {
      return half.seconds >= 150
                 ? Fmt("%+.2f MB/h", half.rss_anon_slope_mb_per_h) + " over " +
                       Fmt("%.0f s", half.seconds)
                 : std::string("n/a (") + Fmt("%.0f", half.seconds) + " s is too short)";
    };
    md << "\nGrowth trend after warm-up (RssAnon slope over the second half of the longest "
          "instance's life): "
       << "collectord " << trend(soak.collector.longest_second_half) << ", shipperd "
       << trend(soak.shipper.longest_second_half) << ".\n";
    md << "\nAll instances together: collectord " << Fmt("%.1f", soak.collector.cpu_percent_all)
       << " % CPU, max RSS " << Fmt("%.1f", soak.collector.rss_max_mb_all) << " MB; shipperd "
       << Fmt("%.1f", soak.shipper.cpu_percent_all) << " % CPU, max RSS "
       << Fmt("%.1f", soak.shipper.rss_max_mb_all) << " MB.\n\n";
    md << "<details><summary>Events</summary>\n\n";
    for (const auto& e : soak.events) md << "- " << Fmt("%.1f", e.t_s) << " s: " << e.what << "\n";
    md << "\nListener counters: `" << soak.listener_stats_json << "`\n\n</details>\n\n";
    for (const DaemonStats* d : {&soak.collector, &soak.shipper}) {
      for (const auto& s : d->unexpected_exit_detail)
        md << "Unexpected exit of " << d->name << ": `" << s << "`\n\n";
    }
    if (soak.csvlog.ran) {
      const CsvlogResult& c = soak.csvlog;
      md << "### csvlog sub-phase (" << Fmt("%.0f", c.seconds) << " s)\n\n"
         << "The same markers through csvlog, with " << c.oversized_written << " statements of "
         << options.csvlog_oversized_bytes
         << " bytes at log_max_line_bytes = " << options.csvlog_max_line_bytes
         << ". **Nothing lost: " << (c.no_loss ? "YES" : "NO") << "** (markers seen "
         << c.ledger.markers_seen << " / " << c.markers_written << ", "
         << c.markers_after_last_oversized << " of them after the last oversized entry; "
         << c.truncated_entries << " entries cut, " << c.cut_bytes << " bytes cut, "
         << c.csv_resyncs << " resyncs, " << c.unparsed_lines << " unparsed)"
         << (c.error.empty() ? "" : "; error: " + c.error) << ".\n\n";
    }
  }
  if (!footprints.empty()) {
    md << "## Footprint (pgbench -R 20 background load)\n\n| interval | daemon | sampled | RSS "
          "mean / max (MB) | "
          "RssAnon mean / max (MB) | CPU % of one core | RssAnon slope (MB/h) "
          "|\n|---|---|---|---|---|---|---|\n";
    for (const auto& f : footprints) {
      md << "| " << f.interval_s << " s " << SeriesRow("collectord", f.collector);
      md << "| " << f.interval_s << " s " << SeriesRow("shipperd", f.shipper);
    }
    md << "\n";
  }
  return md.str();
}

Result<E2eReport> RunE2e(const E2eOptions& options) {
  E2eReport report;
  report.options = options;
  report.options.progress = nullptr;
  report.started_at = UtcNow();
  const auto t0 = Clock::now();
  Runner runner(options);
  PGAGENT_RETURN_IF_ERROR(runner.SetUp(&report));
  if (options.run_overhead) {
    for (int ms : options.overhead_log_min_duration_ms) {
      report.overhead.emplace_back();
      report.overhead.back().log_min_duration_ms = ms;
      runner.Overhead(&report.overhead.back());
    }
  }
  if (options.run_budget) runner.Budget(&report.budget);
  if (options.run_soak) runner.Soak(&report.soak);
  if (options.run_footprint) {
    for (int interval : {60, 1}) {
      report.footprints.emplace_back();
      runner.Footprint(interval, &report.footprints.back());
    }
  }
  report.wall_s = SecondsSince(t0);
  return report;
}

Status WriteReport(const E2eReport& report, const std::string& dir) {
  std::string path;
  for (size_t pos = 0; pos != std::string::npos;) {  // mkdir -p
    pos = dir.find('/', pos + 1);
    path = dir.substr(0, pos);
    if (!path.empty()) mkdir(path.c_str(), 0755);
  }
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"report.md", report.ToMarkdown()},
        std::pair<std::string, std::string>{"report.json", report.ToJson()}}) {
    std::ofstream f(dir + "/" + name);
    f << text;
    if (!f) return UnavailableError("cannot write " + dir + "/" + name);
  }
  return Status::Ok();
}

}  // namespace pgagent::e2e
