#include "collectord/collector_daemon.h"

#include <sys/stat.h>

#include <deque>
#include <map>

#include "collectord/logs/log_parser.h"
#include "collectord/logs/log_settings.h"
#include "collectord/logtail/log_source.h"
#include "collectord/logtail/offset_store.h"
#include "collectord/outbox/zmq_outbox.h"
#include "collectord/pg/activity_collector.h"
#include "collectord/pg/cluster_collector.h"
#include "collectord/pg/libpq_session.h"
#include "collectord/pg/pg_connection.h"
#include "collectord/pg/privileges.h"
#include "collectord/pg/statements_collector.h"
#include "collectord/self_limiter.h"
#include "collectord/server_log_settings.h"
#include "collectord/sql/correlation.h"
#include "collectord/system/backend_resources.h"
#include "collectord/system/burst_controller.h"
#include "collectord/system/load_signal.h"
#include "collectord/system/proc_fs.h"
#include "collectord/system/system_collector.h"
#include "common/daemon.h"
#include "common/ipc_frame.h"
#include "common/log.h"

namespace pgagent {

using namespace std::chrono_literals;
using pgagent::v1::LogBatch;
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

// Per-collector bookkeeping for the health record.
struct CollectorRun {
  std::string name;
  double last_duration_ms = 0;
  uint64_t runs = 0;
  uint64_t errors = 0;
  uint64_t skipped = 0;
  std::string last_error;
  bool failing = false;  // logged once per failure streak
};

std::optional<LogFormat> FormatFromPath(const std::string& path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".csv")) return LogFormat::kCsvlog;
  if (ends_with(".json")) return LogFormat::kJsonlog;
  return std::nullopt;
}

// Bytes of the followed file not yet acknowledged by shipperd (0 when unknown or when the
// committed file was rotated away: it is then finished before the new one is read).
uint64_t LogLagBytes(const logtail::FileTailer& tailer) {
  const auto committed = tailer.last_commit();
  if (!committed) return 0;
  struct stat st {};
  if (::stat(committed->path.c_str(), &st) != 0 || !committed->SameFile(st.st_dev, st.st_ino)) return 0;
  const auto size = static_cast<uint64_t>(st.st_size);
  return size > committed->offset ? size - committed->offset : 0;
}

std::string DirName(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

struct CollectorParts {
  std::optional<CorrelationExtractor> extractor;
  std::unique_ptr<LibpqSession> session;
  std::unique_ptr<PgConnection> connection;
  std::unique_ptr<ActivityCollector> activity;
  std::unique_ptr<StatementsCollector> statements;
  std::unique_ptr<ClusterCollector> cluster;  // null when [collection] cluster_enabled = false
  std::chrono::steady_clock::time_point last_cluster{};
  std::unique_ptr<system::RealProcFs> procfs;
  std::unique_ptr<system::SystemCollector> system;
  std::unique_ptr<system::BackendResourceSampler> backends;
  std::unique_ptr<system::ProcLoadSignalSource> load;
  std::unique_ptr<system::BurstController> burst;
  // Logs: built once the file and format are known (log_path = auto needs the server).
  std::unique_ptr<LogParser> log_parser;
  std::unique_ptr<logtail::OffsetStore> offsets;
  std::unique_ptr<logtail::LogSource> log_source;
  std::string log_problem;  // why there is no log source yet
  uint64_t privileges_generation = 0;  // connection generation of the last privilege check
  std::string privilege_problem;       // empty when the role sees everything
  std::chrono::steady_clock::time_point next_log_setup{};
  std::deque<LogBatch> pending_logs;  // produced, not yet accepted by the outbox
  std::unique_ptr<ZmqOutbox> outbox;
  std::map<std::string, CollectorRun> runs;
  std::chrono::steady_clock::time_point next_cycle{};
  std::chrono::steady_clock::time_point last_statements{};
  bool statements_ran = false;
  uint64_t skipped_cycles = 0;
  uint64_t burst_cycles = 0;
  uint64_t outbox_refused = 0;
  CpuShare cpu;
  std::unique_ptr<SelfLimiter> limiter;
  bool shipper_alive = true;
};

std::string BuildConninfo(const DatabaseConfig& db) {
  std::string c = "host=" + QuoteConninfo(db.host) + " port=" + std::to_string(db.port) +
                  " dbname=" + QuoteConninfo(db.name) + " user=" + QuoteConninfo(db.user);
  if (!db.password.empty()) c += " password=" + QuoteConninfo(db.password);
  if (!db.sslmode.empty()) c += " sslmode=" + QuoteConninfo(db.sslmode);
  if (!db.sslrootcert.empty()) c += " sslrootcert=" + QuoteConninfo(db.sslrootcert);
  return c;
}

std::vector<LogBatch> SplitLogBatch(LogBatch batch, size_t max_bytes) {
  std::vector<LogBatch> parts;
  if (batch.ByteSizeLong() <= max_bytes || batch.entries_size() == 0) {
    parts.push_back(std::move(batch));
    return parts;
  }
  const size_t field_cap = max_bytes / 8;  // long text fields of one oversized entry
  LogBatch current;
  current.set_format(batch.format());
  // Size of `current` kept as a running sum: ByteSizeLong() on the growing batch for every
  // entry would be quadratic. Each entry costs its size plus a tag and a length (<= 6 bytes).
  size_t current_bytes = current.ByteSizeLong();
  auto close_current = [&] {
    if (current.entries_size() == 0) return;
    current.set_count(static_cast<uint32_t>(current.entries_size()));
    for (const auto& e : current.entries()) ++(*current.mutable_levels())[e.level()];
    parts.push_back(std::move(current));
    current = LogBatch();
    current.set_format(batch.format());
    current_bytes = current.ByteSizeLong();
  };
  for (auto& entry : *batch.mutable_entries()) {
    size_t entry_bytes = entry.ByteSizeLong();
    if (entry_bytes + 64 > max_bytes) {
      for (std::string* field : {entry.mutable_message(), entry.mutable_statement(), entry.mutable_detail(),
                                 entry.mutable_context(), entry.mutable_hint()}) {
        if (field->size() > field_cap) field->resize(field_cap);
      }
      entry.set_truncated(true);
      entry_bytes = entry.ByteSizeLong();
    }
    if (current_bytes + entry_bytes + 6 + 16 > max_bytes) close_current();
    *current.add_entries() = std::move(entry);
    current_bytes += entry_bytes + 6;
  }
  close_current();
  parts.front().set_unparsed(batch.unparsed());
  *parts.back().mutable_cursor() = batch.cursor();
  return parts;
}

namespace {

Result<std::unique_ptr<CollectorParts>> BuildPgAndSystem(const Config& config, Clock& clock) {
  auto parts = std::make_unique<CollectorParts>();
  CorrelationOptions co;
  co.application_name_pattern = config.correlation.application_name_pattern;
  co.comment_pattern = config.correlation.comment_pattern;
  co.extract_traceparent = config.correlation.extract_traceparent;
  PGAGENT_ASSIGN_OR_RETURN(CorrelationExtractor extractor, CorrelationExtractor::Create(co));
  parts->extractor.emplace(std::move(extractor));

  PgConnectionOptions po;
  po.conninfo = BuildConninfo(config.database);
  po.application_name = config.database.application_name;
  po.connect_timeout = std::chrono::seconds(config.database.connect_timeout_s);
  po.statement_timeout = std::chrono::milliseconds(config.database.statement_timeout_ms);
  po.lock_timeout = std::chrono::milliseconds(config.database.lock_timeout_ms);
  po.idle_in_transaction_session_timeout =
      std::chrono::milliseconds(config.database.idle_in_transaction_timeout_ms);
  po.max_agent_sessions = static_cast<uint32_t>(config.database.max_agent_sessions);
  po.backoff.max = std::chrono::seconds(config.database.reconnect_max_backoff_s);
  parts->session = std::make_unique<LibpqSession>(po);
  parts->connection = std::make_unique<PgConnection>(*parts->session, clock, po);

  ActivityOptions ao;
  ao.max_rows = static_cast<uint32_t>(config.collection.activity_max_rows);
  ao.max_query_length = static_cast<size_t>(config.collection.query_max_length);
  ao.send_raw_query_text = config.collection.send_raw_query_text;
  parts->activity = std::make_unique<ActivityCollector>(*parts->connection, &*parts->extractor, clock, ao);

  StatementsOptions so;
  so.top_n = static_cast<size_t>(config.collection.statements_top_n);
  so.calls_threshold = static_cast<uint64_t>(config.collection.statements_min_delta_calls);
  so.max_texts_per_cycle = static_cast<size_t>(config.collection.statements_texts_per_cycle);
  so.recheck_every_cycles = static_cast<uint32_t>(config.collection.statements_recheck_cycles);
  so.max_query_length = static_cast<size_t>(config.collection.query_max_length);
  so.send_raw_query_text = config.collection.send_raw_query_text;
  so.include_own_statements = config.collection.include_own_statements;
  parts->statements = std::make_unique<StatementsCollector>(*parts->connection, &*parts->extractor, clock, so);
  if (config.collection.cluster_enabled) {
    ClusterOptions cl;
    cl.visits.interval = std::chrono::seconds(config.collection.interval_s);
    cl.visits.schema_interval = std::chrono::seconds(config.collection.schema_interval_s);
    cl.visits.databases = config.collection.databases;
    cl.visits.top_n = static_cast<size_t>(config.collection.objects_top_n);
    auto open_database = [po](const std::string& dbname) -> std::unique_ptr<PgSession> {
      PgConnectionOptions visit = po;
      visit.dbname_override = dbname;
      return std::make_unique<LibpqSession>(visit);
    };
    parts->cluster = std::make_unique<ClusterCollector>(*parts->connection, &*parts->extractor, clock, cl,
                                                        open_database);
  }

  parts->procfs = std::make_unique<system::RealProcFs>();
  system::SystemOptions sys;
  sys.data_directory = config.collection.data_directory;
  if (config.collection.log_path != "auto") sys.log_directory = DirName(config.collection.log_path);
  sys.include_partitions = config.collection.include_partitions;
  sys.include_virtual_devices = config.collection.include_virtual_devices;
  parts->system = std::make_unique<system::SystemCollector>(sys, *parts->procfs, clock);
  parts->backends = std::make_unique<system::BackendResourceSampler>(*parts->procfs, clock,
                                                                     system::HostBackendSamplerOptions());
  parts->load = std::make_unique<system::ProcLoadSignalSource>(*parts->procfs,
                                                               system::ProcLoadSignalSource::OnlineCores());
  system::BurstOptions bo;
  bo.load_per_core_threshold = config.collection.burst_enabled ? config.collection.burst_load_per_core : 0;
  bo.psi_cpu_some_avg10_threshold =
      config.collection.burst_enabled ? config.collection.burst_psi_cpu_some_avg10 : 0;
  bo.normal_interval = std::chrono::seconds(config.collection.interval_s);
  bo.burst_interval = std::min(std::chrono::seconds(config.collection.burst_interval_s),
                               std::chrono::seconds(config.collection.interval_s));
  bo.hold_down = std::chrono::seconds(config.collection.burst_hold_down_s);
  bo.max_burst_samples_per_minute = static_cast<uint32_t>(config.collection.burst_max_extra_cycles_per_min);
  parts->burst = std::make_unique<system::BurstController>(bo, clock);
  SelfLimitOptions lo;
  lo.max_rss_bytes = static_cast<uint64_t>(config.agent.max_rss_mb) << 20;
  lo.max_cpu_percent = static_cast<double>(config.agent.max_cpu_percent);
  parts->limiter = std::make_unique<SelfLimiter>(lo);
  return parts;
}

// The server's log settings, remembered in the state directory; while the server cannot be
// asked (down, or refusing our role), the ones it reported last, so that the log (and the
// authentication failures in it) is followed all the same. kUnavailable when neither exists.
Result<std::map<std::string, std::string>> ServerOrSavedLogSettings(const Config& config,
                                                                    CollectorParts& parts) {
  Status connected = parts.connection->EnsureConnected();
  Result<std::map<std::string, std::string>> fetched = UnavailableError("not connected");
  if (!connected.ok()) {
    fetched = connected;
  } else {
    fetched = FetchLogSettings(
        [&](std::string_view sql) -> Result<std::vector<std::pair<std::string, std::string>>> {
          PGAGENT_ASSIGN_OR_RETURN(PgResult res, parts.connection->Query(sql));
          std::vector<std::pair<std::string, std::string>> rows;
          for (const auto& row : res.rows)
            rows.emplace_back(row[0].value_or(""), row[1].value_or(""));
          return rows;
        });
  }
  if (fetched.ok()) {
    if (Status saved = SaveServerLogSettings(config.agent.state_dir, *fetched); !saved.ok()) {
      log::Warn("logs.settings_not_saved", {{"error", saved.ToString()}});
    }
    return fetched;
  }
  auto saved = LoadServerLogSettings(config.agent.state_dir);
  if (!saved.ok()) return fetched.status();
  log::Info("logs.using_saved_settings",
            {{"why", fetched.status().ToString()},
             {"effect", "following the log with the settings the server reported last"}});
  return saved;
}

// Decides which file and format to follow. kUnavailable while the server is needed and
// neither reachable nor remembered (retried later).
Result<std::pair<logtail::LogSourceOptions, LogParserOptions>> PlanLogs(const Config& config,
                                                                       CollectorParts& parts) {
  logtail::LogSourceOptions so;
  so.tail.start_at_beginning = config.collection.log_start == "beginning";
  so.tail.max_line_bytes = static_cast<size_t>(config.collection.log_max_line_bytes);
  so.tail.retry_max = std::chrono::seconds(config.collection.log_retry_max_backoff_s);
  so.assembler.idle_timeout = std::chrono::milliseconds(config.collection.log_multiline_flush_ms);
  so.batcher.max_entries = static_cast<size_t>(config.collection.log_batch_max_entries);
  so.batcher.linger = std::chrono::milliseconds(config.collection.log_linger_ms);
  LogParserOptions po;
  po.redact = !config.collection.send_raw_query_text;
  CorrelationOptions co;
  co.application_name_pattern = config.correlation.application_name_pattern;
  co.comment_pattern = config.correlation.comment_pattern;
  co.extract_traceparent = config.correlation.extract_traceparent;
  po.correlation = co;

  const bool need_server = config.collection.log_path == "auto" ||
                           (config.collection.log_format == "auto" && !FormatFromPath(config.collection.log_path) &&
                            config.collection.log_line_prefix.empty());
  std::map<std::string, std::string> settings;
  if (need_server) {
    PGAGENT_ASSIGN_OR_RETURN(settings, ServerOrSavedLogSettings(config, parts));
  }
  if (config.collection.log_path == "auto") {
    LogLocationOverrides overrides;
    if (config.collection.log_format != "auto") {
      PGAGENT_ASSIGN_OR_RETURN(LogFormat f, LogFormatFromName(config.collection.log_format));
      overrides.format = f;
    }
    if (!config.collection.log_line_prefix.empty()) overrides.log_line_prefix = config.collection.log_line_prefix;
    PGAGENT_ASSIGN_OR_RETURN(LogLocation chosen, ChooseLogLocation(settings, overrides));
    so.tail.directory = chosen.directory;
    so.tail.filename_pattern = chosen.filename_pattern;
    po.format = chosen.format;
    po.log_line_prefix = chosen.log_line_prefix;
    return std::make_pair(so, po);
  }
  so.tail.path = config.collection.log_path;
  if (config.collection.log_format != "auto") {
    PGAGENT_ASSIGN_OR_RETURN(LogFormat f, LogFormatFromName(config.collection.log_format));
    po.format = f;
  } else {
    po.format = FormatFromPath(config.collection.log_path).value_or(LogFormat::kStderr);
  }
  if (!config.collection.log_line_prefix.empty()) {
    po.log_line_prefix = config.collection.log_line_prefix;
  } else if (auto it = settings.find("log_line_prefix"); it != settings.end()) {
    po.log_line_prefix = it->second;
  }
  return std::make_pair(so, po);
}

// Once per connection: a role without pg_read_all_stats gets "<insufficient privilege>"
// instead of other sessions' queries. Warned once per distinct problem, shown in status.
void CheckPrivilegesOnNewConnection(CollectorParts& parts) {
  PgConnection& connection = *parts.connection;
  if (!connection.EnsureConnected().ok()) return;
  if (connection.generation() == parts.privileges_generation) return;
  Status checked = CheckMonitoringPrivileges(connection.session());
  if (checked.code() == StatusCode::kUnavailable) return;  // try again on the next cycle
  parts.privileges_generation = connection.generation();
  const std::string problem = checked.ok() ? "" : checked.message();
  if (!problem.empty() && problem != parts.privilege_problem) {
    log::Warn("collector.insufficient_privilege",
              {{"error", problem}, {"effect", "other sessions' queries are not visible"}});
  }
  parts.privilege_problem = problem;
}

void TrySetUpLogs(const Config& config, CollectorParts& parts, Clock& clock) {
  if (parts.log_source || clock.Monotonic() < parts.next_log_setup) return;
  parts.next_log_setup = clock.Monotonic() + 30s;
  auto plan = PlanLogs(config, parts);
  Status problem = plan.status();
  if (plan.ok()) {
    auto parser = LogParser::Create(plan->second);
    problem = parser.status();
    if (parser.ok()) {
      if (!parts.offsets) {
        auto store = logtail::OffsetStore::Open(config.agent.state_dir, std::string("postgresql-") +
                                                                            std::string(LogFormatName(plan->second.format)));
        if (store.ok()) parts.offsets = std::move(*store);
        problem = store.status();
      }
      if (parts.offsets) {
        auto source = logtail::LogSource::Create(plan->first, **parser, logtail::PosixLogFileSystem::Instance(),
                                                 clock, parts.offsets.get());
        problem = source.status();
        if (source.ok()) {
          parts.log_parser = std::move(*parser);
          parts.log_source = std::move(*source);
          parts.log_problem.clear();
          log::Info("logs.following", {{"path", plan->first.tail.path.empty()
                                                     ? plan->first.tail.directory + "/" + plan->first.tail.filename_pattern
                                                     : plan->first.tail.path},
                                       {"format", std::string(LogFormatName(plan->second.format))}});
          return;
        }
      }
    }
  }
  if (problem.ToString() != parts.log_problem) {
    log::Warn("logs.not_following", {{"error", problem.ToString()}, {"retry_in_s", 30}});
    parts.log_problem = problem.ToString();
  }
}

}  // namespace

CollectorDaemon::CollectorDaemon(const Config& config, Clock& clock)
    : config_(config),
      clock_(clock),
      host_(config.agent.hostname.empty() ? HostName() : config.agent.hostname) {}

CollectorDaemon::~CollectorDaemon() { Stop(0ms); }

Record CollectorDaemon::NewRecord(pgagent::v1::RecordKind kind) const {
  Record r;
  r.set_kind(kind);
  const auto now = clock_.Now().time_since_epoch();
  r.mutable_collected_at()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  r.mutable_collected_at()->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() % 1000000000));
  r.set_project_id(config_.listener.project_id);
  r.set_host(host_);
  return r;
}

Status CollectorDaemon::Start() {
  PGAGENT_ASSIGN_OR_RETURN(parts_, BuildPgAndSystem(config_, clock_));
  ZmqOutboxOptions oo;
  oo.endpoint = IngestEndpoint(config_.ipc.runtime_dir);
  oo.window.max_inflight_bytes = static_cast<size_t>(config_.ipc.window_max_bytes);
  oo.window.max_inflight_records = static_cast<size_t>(config_.ipc.window_max_records);
  oo.window.max_record_bytes = config_.ipc.max_message_bytes - 64 * 1024;
  oo.window.ack_timeout = std::chrono::milliseconds(config_.ipc.ack_timeout_ms);
  oo.window.heartbeat_interval = std::chrono::milliseconds(config_.ipc.heartbeat_interval_ms);
  oo.window.peer_timeout = std::chrono::milliseconds(config_.ipc.heartbeat_timeout_ms);
  PGAGENT_ASSIGN_OR_RETURN(parts_->outbox, ZmqOutbox::Connect(oo, clock_));
  started_ = clock_.Monotonic();
  parts_->next_cycle = started_;
  beat_ms_ = MonoMs(clock_);
  log::Info("collectord.started", {{"boot_id", parts_->outbox->boot_id()},
                                    {"ipc", oo.endpoint},
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
  return MonoMs(clock_) - beat_ms_ < limit;
}

pgagent::v1::AgentHealth CollectorDaemon::Health() const {
  std::lock_guard<std::mutex> lock(mu_);
  return health_;
}

void CollectorDaemon::Loop() {
  while (!stop_) {
    ApplyPendingConfig();
    beat_ms_ = MonoMs(clock_);
    const auto now = clock_.Monotonic();
    if (now >= parts_->next_cycle) {
      const auto signal = parts_->load->Read();
      parts_->burst->Observe(signal.ok() ? *signal : system::LoadSignal{});
      const bool burst = parts_->burst->OnSample();
      RunCycle(burst);
      last_cycle_unix_s_ = std::chrono::duration<double>(clock_.Now().time_since_epoch()).count();
      const auto delay = parts_->burst->NextDelay() * parts_->limiter->interval_multiplier();
      auto next = now + delay;
      const auto end = clock_.Monotonic();
      while (next <= end) {  // the cycle overran: skip the slots it ate, never overlap
        next += delay;
        ++parts_->skipped_cycles;
      }
      parts_->next_cycle = next;
    }
    PumpLogs();
    const auto until_cycle = std::chrono::duration_cast<std::chrono::milliseconds>(
        parts_->next_cycle - clock_.Monotonic());
    PumpOutbox(std::clamp(until_cycle, std::chrono::milliseconds(1), std::chrono::milliseconds(100)));
  }
  DrainOnStop(stop_grace_);
}

void CollectorDaemon::RunCycle(bool burst) {
  std::vector<Record> records;
  auto run = [&](Collector& collector, pgagent::v1::RecordKind kind) -> Record* {
    CollectorRun& stats = parts_->runs[std::string(collector.Name())];
    stats.name = std::string(collector.Name());
    Record record = NewRecord(kind);
    record.set_burst(burst);
    const auto start = clock_.Monotonic();
    Status s = collector.Collect(record);
    stats.last_duration_ms = std::chrono::duration<double, std::milli>(clock_.Monotonic() - start).count();
    ++stats.runs;
    if (!s.ok()) {
      ++stats.errors;
      stats.last_error = s.ToString();
      if (!stats.failing) {
        log::Warn("collector.failed", {{"collector", stats.name}, {"error", s.ToString()},
                                       {"effect", "retried next cycle; other collectors go on"}});
      }
      stats.failing = true;
      return nullptr;
    }
    if (stats.failing) log::Info("collector.recovered", {{"collector", stats.name}});
    stats.failing = false;
    records.push_back(std::move(record));
    return &records.back();
  };
  CheckPrivilegesOnNewConnection(*parts_);
  if (Record* activity = run(*parts_->activity, pgagent::v1::RECORD_KIND_ACTIVITY)) {
    parts_->backends->Attach(*activity->mutable_activity());
  }
  const auto now = clock_.Monotonic();
  const auto interval = std::chrono::seconds(config_.collection.interval_s);
  if (!burst || !parts_->statements_ran || now - parts_->last_statements >= interval) {
    run(*parts_->statements, pgagent::v1::RECORD_KIND_STATEMENTS);
    parts_->statements_ran = true;
    parts_->last_statements = now;
  } else {
    ++parts_->runs["pg_stat_statements"].skipped;
  }
  // Cluster health at the normal cadence only (burst cycles are for sessions and the host).
  if (parts_->cluster && (!burst || now - parts_->last_cluster >= interval)) {
    run(*parts_->cluster, pgagent::v1::RECORD_KIND_CLUSTER);
    parts_->last_cluster = now;
  }
  run(*parts_->system, pgagent::v1::RECORD_KIND_SYSTEM);
  if (burst) ++parts_->burst_cycles;
  TrySetUpLogs(config_, *parts_, clock_);
  for (auto& r : records) Offer(std::move(r));

  Record health = NewRecord(pgagent::v1::RECORD_KIND_HEALTH);
  auto& h = *health.mutable_health();
  h.set_component("collectord");
  h.set_version(PGAGENT_VERSION);
  h.set_uptime_s(std::chrono::duration<double>(clock_.Monotonic() - started_).count());
  const SelfUsage usage = ReadSelfUsage();
  h.set_rss_bytes(usage.rss_bytes);
  h.set_cpu_percent(parts_->cpu.Sample());
  ObserveSelfLimits(h.rss_bytes(), h.cpu_percent());
  h.set_shedding(parts_->limiter->shedding());
  for (const auto& [name, stats] : parts_->runs) {
    auto* c = h.add_collectors();
    c->set_name(name);
    c->set_last_duration_ms(stats.last_duration_ms);
    c->set_runs(stats.runs);
    c->set_errors(stats.errors);
    c->set_skipped(stats.skipped);
    c->set_last_error(stats.last_error);
  }
  h.set_db_state(std::string(parts_->connection->StateName()));
  h.set_privilege_problem(parts_->privilege_problem);
  h.set_log_state(parts_->log_source ? "following"
                                     : "not following: " + (parts_->log_problem.empty()
                                                                ? std::string("not set up yet")
                                                                : parts_->log_problem));
  h.set_skipped_cycles(parts_->skipped_cycles);
  const auto ob = parts_->outbox->stats();
  h.set_ipc_window_records(ob.window.inflight_records);
  h.set_ipc_window_bytes(ob.window.inflight_bytes);
  auto& counters = *h.mutable_counters();
  counters["ipc_dropped_snapshots"] = ob.window.dropped_snapshots;
  counters["ipc_dropped_oversize"] = ob.window.dropped_oversize;
  counters["ipc_resyncs"] = ob.window.resyncs;
  counters["ipc_new_boots"] = ob.window.new_boots;
  counters["ipc_malformed_frames"] = ob.malformed_frames;
  counters["ipc_shipperd_alive"] = parts_->shipper_alive ? 1 : 0;
  counters["burst_cycles"] = parts_->burst_cycles;
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
  if (parts_->log_source) {
    const auto& ts = parts_->log_source->tailer().stats();
    counters["log_bytes_read"] = ts.bytes_read;
    counters["log_rotations"] = ts.rotations;
    counters["log_truncations"] = ts.truncations;
    counters["log_copies_finished"] = ts.copies_finished;
    counters["log_skip_events"] = ts.skip_events;
    counters["log_skipped_bytes"] = ts.skipped_bytes;
    const auto& ps = parts_->log_source->parse_stats();
    counters["log_unparsed_lines"] = ps.unparsed;
    counters["log_truncated_entries"] = ps.truncated;
    counters["log_cut_bytes"] =
        ps.cut_bytes + parts_->log_source->tailer().line_stats().truncated_bytes;
    counters["log_csv_resyncs"] = ps.csv_resyncs;
    counters["log_redaction_fail_closed"] = ps.redaction_failed;
    counters["log_plans_dropped"] = ps.plans_dropped;
    counters["log_unacked_batches"] = parts_->log_source->unacked_batches();
    h.set_log_lag_bytes(LogLagBytes(parts_->log_source->tailer()));
    if (const auto committed = parts_->log_source->tailer().last_commit()) {
      counters["log_committed_offset"] = committed->offset;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    health_ = h;
  }
  // At most once a minute and only when it changed (common/health_gate.h): at interval_s = 1
  // a record per cycle would be 60 listener rows a minute about the agent itself.
  if (health_gate_.ShouldSend(h, clock_.Monotonic())) Offer(std::move(health));
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
      log::Info("collectord.shedding_stopped", {{"rss_mb", static_cast<uint64_t>(rss_bytes >> 20)},
                                                {"cpu_percent", cpu_percent}});
      break;
    case SelfLimitChange::kNone:
      break;
  }
  parts_->statements->set_fetch_texts(parts_->limiter->fetch_statement_texts());
}

void CollectorDaemon::Offer(Record record) {
  Status s = parts_->outbox->Offer(std::move(record));
  if (!s.ok()) ++parts_->outbox_refused;
}

void CollectorDaemon::PumpLogs() {
  if (!parts_->log_source) {
    TrySetUpLogs(config_, *parts_, clock_);
    if (!parts_->log_source) return;
  }
  if (parts_->pending_logs.empty()) {
    std::vector<LogBatch> batches;
    parts_->log_source->Poll(&batches);
    QueueLogBatches(batches);
  }
  OfferPendingLogs();
}

void CollectorDaemon::QueueLogBatches(std::vector<LogBatch>& batches) {
  const size_t max_bytes = static_cast<size_t>(config_.ipc.max_message_bytes) / 2;
  for (auto& b : batches) {
    for (auto& part : SplitLogBatch(std::move(b), max_bytes)) parts_->pending_logs.push_back(std::move(part));
  }
}

void CollectorDaemon::OfferPendingLogs() {
  while (!parts_->pending_logs.empty() && parts_->outbox->CanAcceptLog()) {
    Record r = NewRecord(pgagent::v1::RECORD_KIND_LOG);
    *r.mutable_log() = std::move(parts_->pending_logs.front());
    parts_->pending_logs.pop_front();
    if (r.log().entries_size() == 1 && r.log().entries(0).has_correlation_id()) {
      r.set_correlation_id(r.log().entries(0).correlation_id());
    }
    Offer(std::move(r));
  }
}

void CollectorDaemon::PumpOutbox(std::chrono::milliseconds timeout) {
  std::vector<Record> acked;
  parts_->outbox->Poll(timeout, &acked);
  const bool alive = parts_->outbox->PeerAlive();
  if (alive != parts_->shipper_alive) {
    parts_->shipper_alive = alive;
    if (alive) {
      log::Info("ipc.shipperd_answering");
    } else {
      const auto s = parts_->outbox->stats().window;
      log::Warn("ipc.shipperd_not_answering",
                {{"socket", IngestSocketPath(config_.ipc.runtime_dir)},
                 {"unacknowledged_records", s.inflight_records + s.pending_records},
                 {"effect", "records wait in the window; log reading pauses when it is full"}});
    }
  }
  if (!parts_->log_source) return;
  for (const auto& r : acked) {
    if (r.kind() != pgagent::v1::RECORD_KIND_LOG || !r.log().has_cursor()) continue;
    Status s = parts_->log_source->Commit(r.log().cursor());
    if (!s.ok() && s.code() != StatusCode::kNotFound) {
      log::Warn("logs.offset_not_saved", {{"error", s.ToString()}});
    }
  }
}

void CollectorDaemon::ApplyPendingConfig() {
  std::optional<Config> next;
  {
    std::lock_guard<std::mutex> lock(mu_);
    next.swap(pending_config_);
  }
  if (!next) return;
  auto rebuilt = BuildPgAndSystem(*next, clock_);
  if (!rebuilt.ok()) {
    log::Error("config.reload_rejected", {{"error", rebuilt.status().ToString()},
                                          {"effect", "the previous configuration stays in force"}});
    return;
  }
  // The outbox (unacknowledged records) survives; logs restart from the committed offset
  // when their settings changed, after handing over what is pending.
  (*rebuilt)->outbox = std::move(parts_->outbox);
  const bool logs_changed = next->collection.log_path != config_.collection.log_path ||
                            next->collection.log_format != config_.collection.log_format ||
                            next->collection.log_line_prefix != config_.collection.log_line_prefix ||
                            next->collection.send_raw_query_text != config_.collection.send_raw_query_text;
  if (!logs_changed) {
    (*rebuilt)->log_parser = std::move(parts_->log_parser);
    (*rebuilt)->offsets = std::move(parts_->offsets);
    (*rebuilt)->log_source = std::move(parts_->log_source);
    (*rebuilt)->pending_logs = std::move(parts_->pending_logs);
  }
  (*rebuilt)->next_cycle = clock_.Monotonic();
  (*rebuilt)->skipped_cycles = parts_->skipped_cycles;
  parts_ = std::move(*rebuilt);
  config_ = *next;
  log::Info("config.applied", {{"logs_restarted", logs_changed}});
}

void CollectorDaemon::DrainOnStop(std::chrono::milliseconds grace) {
  if (!parts_ || !parts_->outbox) return;
  if (parts_->log_source) {
    std::vector<LogBatch> rest;
    parts_->log_source->Flush(&rest);
    QueueLogBatches(rest);
  }
  const auto deadline = clock_.Monotonic() + grace;
  while (clock_.Monotonic() < deadline) {
    OfferPendingLogs();
    if (parts_->pending_logs.empty() && parts_->outbox->Idle()) break;
    PumpOutbox(50ms);
  }
  const auto s = parts_->outbox->stats().window;
  log::Info("collectord.drained", {{"unacknowledged_records", s.inflight_records + s.pending_records},
                                   {"pending_log_batches", parts_->pending_logs.size()}});
  parts_.reset();
}

Result<std::vector<Record>> CollectorDaemon::RunOnce(const Config& config, Clock& clock) {
  PGAGENT_ASSIGN_OR_RETURN(auto parts, BuildPgAndSystem(config, clock));
  Status connected = parts->connection->EnsureConnected();
  if (!connected.ok()) return connected;
  PGAGENT_RETURN_IF_ERROR(CheckMonitoringPrivileges(*parts->session));
  CollectorDaemon self(config, clock);
  std::vector<Record> out;
  auto run = [&](Collector& c, pgagent::v1::RecordKind kind) -> Status {
    Record r = self.NewRecord(kind);
    Status s = c.Collect(r);
    if (!s.ok()) return s.WithContext(std::string(c.Name()));
    out.push_back(std::move(r));
    return Status::Ok();
  };
  PGAGENT_RETURN_IF_ERROR(run(*parts->activity, pgagent::v1::RECORD_KIND_ACTIVITY));
  parts->backends->Attach(*out.back().mutable_activity());
  Status st = run(*parts->statements, pgagent::v1::RECORD_KIND_STATEMENTS);
  if (!st.ok() && st.code() != StatusCode::kFailedPrecondition) return st;
  if (parts->cluster) PGAGENT_RETURN_IF_ERROR(run(*parts->cluster, pgagent::v1::RECORD_KIND_CLUSTER));
  PGAGENT_RETURN_IF_ERROR(run(*parts->system, pgagent::v1::RECORD_KIND_SYSTEM));
  return out;
}

}  // namespace pgagent
