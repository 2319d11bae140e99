#include "collectord/collector_daemon.h"

#include <algorithm>

#include "collectord/cycle_scheduler.h"
#include "collectord/health_report.h"
#include "collectord/log_setup.h"
#include "collectord/pg/activity_collector.h"
#include "collectord/pg/cluster_collector.h"
#include "collectord/pg/pg_connection.h"
#include "collectord/pg/privileges.h"
#include "collectord/pg/statements_collector.h"
#include "collectord/self_limiter.h"
#include "collectord/sql/correlation.h"
#include "collectord/system/backend_resources.h"
#include "collectord/system/load_signal.h"
#include "collectord/system/system_collector.h"
#include "common/daemon.h"
#include "common/ipc_frame.h"
#include "common/log.h"

namespace pgagent {

using namespace std::chrono_literals;
using pgagent::v1::Record;

namespace {

std::string QuoteConninfo(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string DirName(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

// The outbox as the log pump's outlet; refusals are counted by the daemon.
class OutboxOutlet final : public LogOutlet {
 public:
  OutboxOutlet(ZmqOutbox& outbox, uint64_t& refused) : outbox_(outbox), refused_(refused) {}
  bool CanAcceptLog() const override { return outbox_.CanAcceptLog(); }
  void Offer(Record record) override {
    if (!outbox_.Offer(std::move(record)).ok()) ++refused_;
  }

 private:
  ZmqOutbox& outbox_;
  uint64_t& refused_;
};

}  // namespace

// Everything built from one configuration; a reload builds a new set (the outbox, and the
// log pump when the log settings did not change, carry over).
struct CollectorParts {
  std::optional<CorrelationExtractor> extractor;
  std::unique_ptr<PgSession> session;
  std::unique_ptr<PgConnection> connection;
  std::unique_ptr<ActivityCollector> activity;
  std::unique_ptr<StatementsCollector> statements;
  std::unique_ptr<ClusterCollector> cluster;  // null when [collection] cluster_enabled = false
  std::unique_ptr<system::SystemCollector> system;
  std::unique_ptr<system::BackendResourceSampler> backends;
  std::unique_ptr<system::ProcLoadSignalSource> load;
  std::unique_ptr<CycleScheduler> scheduler;
  std::unique_ptr<SelfLimiter> limiter;
  std::unique_ptr<LogSetup> log_setup;
  std::unique_ptr<LogPump> logs;  // null until the log is set up
  CollectorRunBook runs;
  uint64_t privileges_generation = 0;  // connection generation of the last privilege check
  std::string privilege_problem;       // empty when the role sees everything
  std::unique_ptr<CpuShare> cpu;
};

std::string BuildConninfo(const DatabaseConfig& db) {
  std::string c = "host=" + QuoteConninfo(db.host) + " port=" + std::to_string(db.port) +
                  " dbname=" + QuoteConninfo(db.name) + " user=" + QuoteConninfo(db.user);
  if (!db.password.empty()) c += " password=" + QuoteConninfo(db.password);
  if (!db.sslmode.empty()) c += " sslmode=" + QuoteConninfo(db.sslmode);
  if (!db.sslrootcert.empty()) c += " sslrootcert=" + QuoteConninfo(db.sslrootcert);
  return c;
}

PgConnectionOptions PgOptionsFor(const Config& config) {
  const DatabaseConfig& db = config.database;
  PgConnectionOptions po;
  po.conninfo = BuildConninfo(db);
  po.application_name = db.application_name;
  po.connect_timeout = std::chrono::seconds(db.connect_timeout_s);
  po.statement_timeout = std::chrono::milliseconds(db.statement_timeout_ms);
  po.lock_timeout = std::chrono::milliseconds(db.lock_timeout_ms);
  po.idle_in_transaction_session_timeout =
      std::chrono::milliseconds(db.idle_in_transaction_timeout_ms);
  po.max_agent_sessions = static_cast<uint32_t>(db.max_agent_sessions);
  po.backoff.max = std::chrono::seconds(db.reconnect_max_backoff_s);
  return po;
}

ZmqOutboxOptions OutboxOptionsFor(const Config& config) {
  ZmqOutboxOptions oo;
  oo.endpoint = IngestEndpoint(config.ipc.runtime_dir);
  oo.window.max_inflight_bytes = static_cast<size_t>(config.ipc.window_max_bytes);
  oo.window.max_inflight_records = static_cast<size_t>(config.ipc.window_max_records);
  oo.window.max_record_bytes = config.ipc.max_message_bytes - 64 * 1024;
  oo.window.ack_timeout = std::chrono::milliseconds(config.ipc.ack_timeout_ms);
  oo.window.heartbeat_interval = std::chrono::milliseconds(config.ipc.heartbeat_interval_ms);
  oo.window.peer_timeout = std::chrono::milliseconds(config.ipc.heartbeat_timeout_ms);
  return oo;
}

namespace {

Status BuildPg(const Config& config, const CollectorEdges& edges, CollectorParts& parts) {
  CorrelationOptions co;
  co.application_name_pattern = config.correlation.application_name_pattern;
  co.comment_pattern = config.correlation.comment_pattern;
  co.extract_traceparent = config.correlation.extract_traceparent;
  PGAGENT_ASSIGN_OR_RETURN(CorrelationExtractor extractor, CorrelationExtractor::Create(co));
  parts.extractor.emplace(std::move(extractor));
  const PgConnectionOptions po = PgOptionsFor(config);
  parts.session = edges.open_session(po);
  parts.connection = std::make_unique<PgConnection>(*parts.session, edges.clock, po);
  const CollectionConfig& c = config.collection;
  ActivityOptions ao;
  ao.max_rows = static_cast<uint32_t>(c.activity_max_rows);
  ao.max_query_length = static_cast<size_t>(c.query_max_length);
  ao.send_raw_query_text = c.send_raw_query_text;
  parts.activity =
      std::make_unique<ActivityCollector>(*parts.connection, &*parts.extractor, edges.clock, ao);
  StatementsOptions so;
  so.top_n = static_cast<size_t>(c.statements_top_n);
  so.calls_threshold = static_cast<uint64_t>(c.statements_min_delta_calls);
  so.max_texts_per_cycle = static_cast<size_t>(c.statements_texts_per_cycle);
  so.recheck_every_cycles = static_cast<uint32_t>(c.statements_recheck_cycles);
  so.max_query_length = static_cast<size_t>(c.query_max_length);
  so.send_raw_query_text = c.send_raw_query_text;
  so.include_own_statements = c.include_own_statements;
  parts.statements =
      std::make_unique<StatementsCollector>(*parts.connection, &*parts.extractor, edges.clock, so);
  return Status::Ok();
}

void BuildCluster(const Config& config, const CollectorEdges& edges, CollectorParts& parts) {
  if (!config.collection.cluster_enabled) return;
  ClusterOptions cl;
  cl.visits.interval = std::chrono::seconds(config.collection.interval_s);
  cl.visits.schema_interval = std::chrono::seconds(config.collection.schema_interval_s);
  cl.visits.databases = config.collection.databases;
  cl.visits.top_n = static_cast<size_t>(config.collection.objects_top_n);
  auto open_database = [po = PgOptionsFor(config),
                        open = edges.open_session](const std::string& dbname) {
    PgConnectionOptions visit = po;
    visit.dbname_override = dbname;
    return open(visit);
  };
  parts.cluster = std::make_unique<ClusterCollector>(*parts.connection, &*parts.extractor,
                                                     edges.clock, cl, open_database);
}

system::BurstOptions BurstOptionsFor(const CollectionConfig& c) {
  system::BurstOptions bo;
  bo.load_per_core_threshold = c.burst_enabled ? c.burst_load_per_core : 0;
  bo.psi_cpu_some_avg10_threshold = c.burst_enabled ? c.burst_psi_cpu_some_avg10 : 0;
  bo.normal_interval = std::chrono::seconds(c.interval_s);
  bo.burst_interval =
      std::min(std::chrono::seconds(c.burst_interval_s), std::chrono::seconds(c.interval_s));
  bo.hold_down = std::chrono::seconds(c.burst_hold_down_s);
  bo.max_burst_samples_per_minute = static_cast<uint32_t>(c.burst_max_extra_cycles_per_min);
  return bo;
}

void BuildSystem(const Config& config, const CollectorEdges& edges, CollectorParts& parts) {
  system::SystemOptions sys;
  sys.data_directory = config.collection.data_directory;
  if (config.collection.log_path != "auto") sys.log_directory = DirName(config.collection.log_path);
  sys.include_partitions = config.collection.include_partitions;
  sys.include_virtual_devices = config.collection.include_virtual_devices;
  parts.system = std::make_unique<system::SystemCollector>(sys, edges.procfs, edges.clock);
  parts.backends = std::make_unique<system::BackendResourceSampler>(
      edges.procfs, edges.clock, system::HostBackendSamplerOptions());
  parts.load = std::make_unique<system::ProcLoadSignalSource>(
      edges.procfs, system::ProcLoadSignalSource::OnlineCores());
  parts.scheduler =
      std::make_unique<CycleScheduler>(BurstOptionsFor(config.collection), edges.clock);
  SelfLimitOptions lo;
  lo.max_rss_bytes = static_cast<uint64_t>(config.agent.max_rss_mb) << 20;
  lo.max_cpu_percent = static_cast<double>(config.agent.max_cpu_percent);
  parts.limiter = std::make_unique<SelfLimiter>(lo);
  parts.cpu = std::make_unique<CpuShare>(edges.procfs, edges.clock);
}

Result<std::unique_ptr<CollectorParts>> BuildParts(const Config& config,
                                                   const CollectorEdges& edges,
                                                   const RecordStamper& stamper) {
  auto parts = std::make_unique<CollectorParts>();
  PGAGENT_RETURN_IF_ERROR(BuildPg(config, edges, *parts));
  BuildCluster(config, edges, *parts);
  BuildSystem(config, edges, *parts);
  parts->log_setup =
      std::make_unique<LogSetup>(config, *parts->connection, edges.log_fs, edges.clock, stamper);
  return parts;
}

std::string HostFor(const Config& config) {
  return config.agent.hostname.empty() ? HostName() : config.agent.hostname;
}

}  // namespace

CollectorDaemon::CollectorDaemon(const Config& config, CollectorEdges edges, ZmqOutbox& outbox)
    : config_(config),
      edges_(std::move(edges)),
      outbox_(outbox),
      stamper_(edges_.clock, config.listener.project_id, HostFor(config)) {}

CollectorDaemon::~CollectorDaemon() { Stop(0ms); }

Status CollectorDaemon::Start() {
  PGAGENT_ASSIGN_OR_RETURN(parts_, BuildParts(config_, edges_, stamper_));
  started_ = edges_.clock.Monotonic();
  beat_ms_ = MonoMs(edges_.clock);
  log::Info("collectord.started",
            {{"boot_id", outbox_.boot_id()},
             {"ipc", IngestEndpoint(config_.ipc.runtime_dir)},
             {"database", config_.database.host + ":" + std::to_string(config_.database.port)},
             {"interval_s", config_.collection.interval_s}});
  worker_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void CollectorDaemon::Stop(std::chrono::milliseconds grace) {
  stop_grace_ = grace;
  stop_ = true;
  if (worker_.joinable()) worker_.join();
}

void CollectorDaemon::Reconfigure(const Config& config) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_config_ = config;
}

bool CollectorDaemon::Healthy() const {
  // A cycle may legitimately take up to a few statement timeouts.
  const int64_t limit = std::max<int64_t>(60000, 4 * config_.database.statement_timeout_ms + 10000);
  return MonoMs(edges_.clock) - beat_ms_ < limit;
}

pgagent::v1::AgentHealth CollectorDaemon::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

void CollectorDaemon::Loop() {
  while (!stop_) {
    ApplyPendingConfig();
    beat_ms_ = MonoMs(edges_.clock);
    if (parts_->scheduler->Due()) RunScheduledCycle();
    PumpLogs();
    PumpOutbox(TimeUntilWork());
  }
  DrainOnStop(stop_grace_);
}

// The worker waits in the outbox (woken early by any frame from shipperd) until the next
// cycle, log read or offset commit is due, and at least once per heartbeat interval, when
// the outbox may owe shipperd a heartbeat; a stop or reload waits at most that long too.
std::chrono::milliseconds CollectorDaemon::TimeUntilWork() const {
  auto next = parts_->scheduler->next_cycle();
  next =
      std::min(next, parts_->logs ? parts_->logs->NextWake() : parts_->log_setup->next_attempt());
  const auto now = edges_.clock.Monotonic();
  const auto until = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
  const auto cap =
      std::chrono::milliseconds(std::max<int64_t>(config_.ipc.heartbeat_interval_ms, 1));
  return std::clamp(until, std::chrono::milliseconds(1), cap);
}

void CollectorDaemon::RunScheduledCycle() {
  const auto signal = parts_->load->Read();
  const bool burst = parts_->scheduler->Begin(signal.ok() ? *signal : system::LoadSignal{});
  RunCycle(burst);
  last_cycle_unix_s_ = std::chrono::duration<double>(edges_.clock.Now().time_since_epoch()).count();
  parts_->scheduler->End(parts_->limiter->interval_multiplier());
}

void CollectorDaemon::RunCollectors(bool burst, std::vector<Record>* records) {
  auto run = [&](Collector& collector, pgagent::v1::RecordKind kind) -> Record* {
    Record record = stamper_.New(kind);
    record.set_burst(burst);
    const auto start = edges_.clock.Monotonic();
    Status s = collector.Collect(record);
    parts_->runs.NoteRun(
        std::string(collector.Name()),
        std::chrono::duration<double, std::milli>(edges_.clock.Monotonic() - start).count(), s);
    if (!s.ok()) return nullptr;
    records->push_back(std::move(record));
    return &records->back();
  };
  if (Record* activity = run(*parts_->activity, pgagent::v1::RECORD_KIND_ACTIVITY)) {
    parts_->backends->Attach(*activity->mutable_activity());
  }
  if (parts_->scheduler->TakeStatements(burst)) {
    run(*parts_->statements, pgagent::v1::RECORD_KIND_STATEMENTS);
  } else {
    parts_->runs.NoteSkipped("pg_stat_statements");
  }
  if (parts_->cluster && parts_->scheduler->TakeCluster(burst))
    run(*parts_->cluster, pgagent::v1::RECORD_KIND_CLUSTER);
  run(*parts_->system, pgagent::v1::RECORD_KIND_SYSTEM);
}

void CollectorDaemon::RunCycle(bool burst) {
  std::vector<Record> records;
  CheckPrivilegesOnNewConnection();
  RunCollectors(burst, &records);
  if (!parts_->logs) parts_->logs = parts_->log_setup->TryOpen();
  for (auto& r : records) Offer(std::move(r));
  Record health = stamper_.New(pgagent::v1::RECORD_KIND_HEALTH);
  *health.mutable_health() = BuildHealth();
  {
    std::lock_guard<std::mutex> lock(mu_);
    health_ = health.health();
  }
  // At most once a minute and only when it changed (common/health_gate.h): at interval_s = 1
  // a record per cycle would be 60 listener rows a minute about the agent itself.
  if (health_gate_.ShouldSend(health.health(), edges_.clock.Monotonic())) Offer(std::move(health));
}

pgagent::v1::AgentHealth CollectorDaemon::BuildHealth() {
  pgagent::v1::AgentHealth h;
  h.set_component("collectord");
  h.set_version(PGAGENT_VERSION);
  h.set_uptime_s(std::chrono::duration<double>(edges_.clock.Monotonic() - started_).count());
  h.set_rss_bytes(ReadSelfUsage(edges_.procfs).rss_bytes);
  h.set_cpu_percent(parts_->cpu->Sample());
  ObserveSelfLimits(h.rss_bytes(), h.cpu_percent());
  h.set_shedding(parts_->limiter->shedding());
  parts_->runs.AddTo(&h);
  h.set_db_state(std::string(parts_->connection->StateName()));
  h.set_privilege_problem(parts_->privilege_problem);
  h.set_skipped_cycles(parts_->scheduler->skipped_cycles());
  AddIpcHealth(outbox_.stats(), shipper_alive_, &h);
  AddCounters(&h);
  AddLogHealth(parts_->logs ? &parts_->logs->source() : nullptr, parts_->log_setup->problem(),
               edges_.log_fs, &h);
  return h;
}

// The PostgreSQL and host sides' counters.
void CollectorDaemon::AddCounters(pgagent::v1::AgentHealth* health) const {
  auto& counters = *health->mutable_counters();
  counters["burst_cycles"] = parts_->scheduler->burst_cycles();
  counters["statement_texts_fetched"] = parts_->statements->texts_fetched_total();
  counters["query_text_fail_closed"] =
      parts_->statements->texts_fail_closed() + parts_->activity->texts_fail_closed();
  counters["db_connections_lost"] = parts_->connection->connections_lost();
  if (parts_->cluster) {
    counters["cluster_warnings"] = parts_->cluster->warnings_total();
    counters["cluster_database_visits"] = parts_->cluster->visitor().visits_total();
    counters["cluster_database_visit_failures"] = parts_->cluster->visitor().visit_failures_total();
  }
  counters["backend_stat_unreadable"] = parts_->backends->stats().stat_permission_denied_pids;
  counters["backend_io_unreadable"] = parts_->backends->stats().io_permission_denied_pids;
}

void CollectorDaemon::ObserveSelfLimits(uint64_t rss_bytes, double cpu_percent) {
  switch (parts_->limiter->Observe(rss_bytes, cpu_percent)) {
    case SelfLimitChange::kStartedShedding:
      log::Warn("collectord.shedding_work",
                {{"reason", parts_->limiter->reason()},
                 {"rss_mb", static_cast<uint64_t>(rss_bytes >> 20)},
                 {"max_rss_mb", config_.agent.max_rss_mb},
                 {"cpu_percent", cpu_percent},
                 {"max_cpu_percent", config_.agent.max_cpu_percent},
                 {"effect", "statement texts skipped, interval doubled until usage falls"}});
      break;
    case SelfLimitChange::kStoppedShedding:
      log::Info("collectord.shedding_stopped",
                {{"rss_mb", static_cast<uint64_t>(rss_bytes >> 20)}, {"cpu_percent", cpu_percent}});
      break;
    case SelfLimitChange::kNone:
      break;
  }
  parts_->statements->set_fetch_texts(parts_->limiter->fetch_statement_texts());
}

// Once per connection: a role without pg_read_all_stats gets "<insufficient privilege>"
// instead of other sessions' queries. Warned once per distinct problem, shown in status.
void CollectorDaemon::CheckPrivilegesOnNewConnection() {
  PgConnection& connection = *parts_->connection;
  if (!connection.EnsureConnected().ok()) return;
  if (connection.generation() == parts_->privileges_generation) return;
  Status checked = CheckMonitoringPrivileges(connection.session());
  if (checked.code() == StatusCode::kUnavailable) return;  // try again on the next cycle
  parts_->privileges_generation = connection.generation();
  const std::string problem = checked.ok() ? "" : checked.message();
  if (!problem.empty() && problem != parts_->privilege_problem) {
    log::Warn("collector.insufficient_privilege",
              {{"error", problem}, {"effect", "other sessions' queries are not visible"}});
  }
  parts_->privilege_problem = problem;
}

void CollectorDaemon::Offer(Record record) {
  if (!outbox_.Offer(std::move(record)).ok()) ++outbox_refused_;
}

void CollectorDaemon::PumpLogs() {
  if (!parts_->logs) {
    parts_->logs = parts_->log_setup->TryOpen();
    if (!parts_->logs) return;
  }
  OutboxOutlet outlet(outbox_, outbox_refused_);
  parts_->logs->FlushDueCommit();
  parts_->logs->Pump(outlet);
}

void CollectorDaemon::PumpOutbox(std::chrono::milliseconds timeout) {
  std::vector<Record> acked;
  outbox_.Poll(timeout, &acked);
  NoteShipperLiveness();
  if (parts_->logs) parts_->logs->OnAcked(acked);
}

void CollectorDaemon::NoteShipperLiveness() {
  const bool alive = outbox_.PeerAlive();
  if (alive == shipper_alive_) return;
  shipper_alive_ = alive;
  if (alive) {
    log::Info("ipc.shipperd_answering");
    return;
  }
  const auto s = outbox_.stats().window;
  log::Warn("ipc.shipperd_not_answering",
            {{"socket", IngestSocketPath(config_.ipc.runtime_dir)},
             {"unacknowledged_records", s.inflight_records + s.pending_records},
             {"effect", "records wait in the window; log reading pauses when it is full"}});
}

void CollectorDaemon::ApplyPendingConfig() {
  std::optional<Config> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next.swap(pending_config_);
  }
  if (!next) return;
  stamper_.set_project_id(next->listener.project_id);
  auto rebuilt = BuildParts(*next, edges_, stamper_);
  if (!rebuilt.ok()) {
    stamper_.set_project_id(config_.listener.project_id);
    log::Error("config.reload_rejected", {{"error", rebuilt.status().ToString()},
                                          {"effect", "the previous configuration stays in force"}});
    return;
  }
  // The outbox (unacknowledged records) survives; logs restart from the committed offset
  // when their settings changed, after handing over what is pending.
  const auto& a = next->collection;
  const auto& b = config_.collection;
  const bool logs_changed = a.log_path != b.log_path || a.log_format != b.log_format ||
                            a.log_line_prefix != b.log_line_prefix ||
                            a.send_raw_query_text != b.send_raw_query_text;
  if (!logs_changed) (*rebuilt)->logs = std::move(parts_->logs);
  (*rebuilt)->scheduler->CarryCountersFrom(*parts_->scheduler);
  parts_ = std::move(*rebuilt);
  config_ = *next;
  log::Info("config.applied", {{"logs_restarted", logs_changed}});
}

void CollectorDaemon::DrainOnStop(std::chrono::milliseconds grace) {
  if (!parts_) return;
  OutboxOutlet outlet(outbox_, outbox_refused_);
  if (parts_->logs) parts_->logs->FlushSource();
  const auto deadline = edges_.clock.Monotonic() + grace;
  while (edges_.clock.Monotonic() < deadline) {
    if (parts_->logs) parts_->logs->OfferPending(outlet);
    const size_t pending = parts_->logs ? parts_->logs->pending_batches() : 0;
    if (pending == 0 && outbox_.Idle()) break;
    PumpOutbox(50ms);
  }
  const auto s = outbox_.stats().window;
  log::Info("collectord.drained",
            {{"unacknowledged_records", s.inflight_records + s.pending_records},
             {"pending_log_batches", parts_->logs ? parts_->logs->pending_batches() : 0}});
  parts_.reset();
}

Result<std::vector<Record>> CollectorDaemon::RunOnce(const Config& config, CollectorEdges edges) {
  RecordStamper stamper(edges.clock, config.listener.project_id, HostFor(config));
  PGAGENT_ASSIGN_OR_RETURN(auto parts, BuildParts(config, edges, stamper));
  Status connected = parts->connection->EnsureConnected();
  if (!connected.ok()) return connected;
  PGAGENT_RETURN_IF_ERROR(CheckMonitoringPrivileges(*parts->session));
  std::vector<Record> out;
  auto run = [&](Collector& c, pgagent::v1::RecordKind kind) -> Status {
    Record r = stamper.New(kind);
    Status s = c.Collect(r);
    if (!s.ok()) return s.WithContext(std::string(c.Name()));
    out.push_back(std::move(r));
    return Status::Ok();
  };
  PGAGENT_RETURN_IF_ERROR(run(*parts->activity, pgagent::v1::RECORD_KIND_ACTIVITY));
  parts->backends->Attach(*out.back().mutable_activity());
  Status st = run(*parts->statements, pgagent::v1::RECORD_KIND_STATEMENTS);
  if (!st.ok() && st.code() != StatusCode::kFailedPrecondition) return st;
  if (parts->cluster)
    PGAGENT_RETURN_IF_ERROR(run(*parts->cluster, pgagent::v1::RECORD_KIND_CLUSTER));
  PGAGENT_RETURN_IF_ERROR(run(*parts->system, pgagent::v1::RECORD_KIND_SYSTEM));
  return out;
}

}  // namespace pgagent
