#include "shipperd/shipper_daemon.h"

#include <algorithm>

#include "common/daemon.h"
#include "common/ids.h"
#include "common/ipc_frame.h"
#include "common/log.h"

namespace pgagent {

using namespace std::chrono_literals;

namespace {

// At most one health record a minute (interval_s when that is longer).
std::chrono::seconds HealthInterval(const Config& config) {
  return std::max(std::chrono::seconds(60), std::chrono::seconds(config.collection.interval_s));
}

}  // namespace

DispatcherOptions ShipperDaemon::DispatcherOptionsFrom(const Config& config) {
  DispatcherOptions o;
  o.url = config.listener.url;
  o.api_key = config.listener.api_key;
  o.project_id = config.listener.project_id;
  o.budget.per_minute = static_cast<int>(config.listener.requests_per_minute);
  o.budget.correlation_share = config.listener.correlation_share;
  o.budget.live_share = config.listener.live_share;
  o.aggregate_interval = std::chrono::seconds(config.listener.aggregate_interval_s);
  o.max_envelope_bytes = static_cast<size_t>(config.listener.max_envelope_bytes);
  o.live_first = config.listener.live_first;
  o.breaker.failure_threshold = static_cast<int>(config.listener.breaker_failure_threshold);
  o.breaker.cooldown = std::chrono::seconds(config.listener.breaker_cooldown_s);
  o.breaker.max_cooldown = std::chrono::seconds(config.listener.breaker_max_cooldown_s);
  return o;
}

ShipperDaemon::ShipperDaemon(const Config& config, RecordBuffer& buffer,
                             CorrelationStore* correlations, RequestLog* request_log,
                             Transport& transport, const Clock& clock,
                             std::function<void()> maintenance)
    : config_(config),
      buffer_(buffer),
      correlations_(correlations),
      request_log_(request_log),
      transport_(transport),
      clock_(clock),
      maintenance_(std::move(maintenance)),
      boot_id_(NewUuid()) {
  if (correlations_ != nullptr) {
    correlating_ = std::make_unique<CorrelatingBuffer>(buffer_, *correlations_);
  }
}

ShipperDaemon::~ShipperDaemon() { Stop(); }

Status ShipperDaemon::Start() {
  IngestOptions io;
  io.runtime_dir = config_.ipc.runtime_dir;
  io.max_message_bytes = config_.ipc.max_message_bytes;
  io.collector_state_dir = config_.agent.state_dir;
  RecordBuffer& ingest_into = correlating_ ? static_cast<RecordBuffer&>(*correlating_) : buffer_;
  PGAGENT_ASSIGN_OR_RETURN(ingest_, IngestServer::Bind(io, ingest_into, clock_));
  dispatcher_ = std::make_unique<Dispatcher>(DispatcherOptionsFrom(config_), buffer_,
                                             correlations_, transport_, clock_, &Random01,
                                             request_log_);
  started_ = clock_.Monotonic();
  cpu_.Sample();  // the baseline of the first cpu_percent
  next_cpu_sample_ = started_ + std::chrono::seconds(config_.collection.interval_s);
  next_health_ = started_ + HealthInterval(config_);
  next_reader_check_ = started_ + 60s;
  ingest_beat_ms_ = MonoMs(clock_);
  delivery_beat_ms_ = MonoMs(clock_);
  ingest_thread_ = std::thread([this] { IngestLoop(); });
  delivery_thread_ = std::thread([this] { DeliveryLoop(); });
  log::Info("shipperd.started", {{"ingest", ingest_->endpoint()},
                                  {"listener", config_.listener.url},
                                  {"project_id", config_.listener.project_id},
                                  {"buffer", config_.buffer.path}});
  return Status::Ok();
}

void ShipperDaemon::Stop() {
  stop_ = true;
  wake_.notify_all();
  if (ingest_thread_.joinable()) ingest_thread_.join();
  if (delivery_thread_.joinable()) delivery_thread_.join();
  ingest_.reset();
}

void ShipperDaemon::IngestLoop() {
  while (!stop_) {
    // Only a record written to the buffer proves it works again (acks also answer
    // duplicates and resynchronisations, which write nothing).
    auto written = [this] {
      const IngestStats i = ingest_->stats();
      return i.records_stored + i.unstorable_records;
    };
    const uint64_t written_before = written();
    // Frames wake the poll at once; the timeout only bounds how late a stop is noticed, so
    // an idle ingest thread wakes once a second (collectord's heartbeat rate), not five times.
    Status s = ingest_->Poll(1000ms);
    ingest_beat_ms_ = MonoMs(clock_);
    FailureStreak::Change change = FailureStreak::Change::kNone;
    if (!s.ok()) {
      change = buffer_streak_.OnFailure();
    } else if (written() != written_before) {
      change = buffer_streak_.OnSuccess();
    }
    ingest_failed_polls_ = buffer_streak_.total_failures();
    if (change == FailureStreak::Change::kStartedFailing) {
      log::Error("ingest.buffer_failed",
                 {{"error", s.ToString()},
                  {"effect", "records are not acknowledged; collectord keeps and resends them"},
                  {"note", "logged once per failure streak; counted in ingest_failed_polls"}});
    } else if (change == FailureStreak::Change::kRecovered) {
      log::Info("ingest.buffer_recovered",
                {{"failed_polls", buffer_streak_.last_streak_failures()}});
    }
    if (!s.ok()) std::this_thread::sleep_for(100ms);
  }
}

void ShipperDaemon::DeliveryLoop() {
  while (!stop_) {
    std::chrono::milliseconds wait = dispatcher_->Step();
    delivery_beat_ms_ = MonoMs(clock_);
    if (wait <= 0ms) continue;
    std::unique_lock<std::mutex> lock(wake_mu_);
    wake_.wait_for(lock, std::min(wait, std::chrono::milliseconds(1000)), [this] { return stop_.load(); });
  }
}

void ShipperDaemon::Reconfigure(const Config& config) {
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    config_ = config;
  }
  // The dispatcher belongs to the delivery thread: pause it by taking the loop's turn.
  // Simplest safe way: stop and restart the delivery thread around the change.
  stop_ = true;
  wake_.notify_all();
  if (delivery_thread_.joinable()) delivery_thread_.join();
  if (ingest_thread_.joinable()) ingest_thread_.join();
  dispatcher_->Reconfigure(DispatcherOptionsFrom(config));
  stop_ = false;
  ingest_thread_ = std::thread([this] { IngestLoop(); });
  delivery_thread_ = std::thread([this] { DeliveryLoop(); });
}

bool ShipperDaemon::Healthy() const {
  const int64_t now = MonoMs(clock_);
  // Delivery may sit in one request for the whole total timeout.
  const int64_t delivery_limit = (config_.listener.timeout_s + 30) * 1000;
  return now - ingest_beat_ms_ < 30000 && now - delivery_beat_ms_ < delivery_limit;
}

pgagent::v1::AgentHealth ShipperDaemon::Health() const {
  pgagent::v1::AgentHealth h;
  h.set_component("shipperd");
  h.set_version(PGAGENT_VERSION);
  h.set_uptime_s(std::chrono::duration<double>(clock_.Monotonic() - started_).count());
  const SelfUsage usage = ReadSelfUsage();
  h.set_rss_bytes(usage.rss_bytes);
  h.set_cpu_percent(cpu_percent_.load());
  h.set_last_eviction_unix_s(evictions_.last_growth_unix_s());
  h.set_last_dead_letter_unix_s(dead_letters_.last_growth_unix_s());
  if (dispatcher_) {
    const DispatcherStats d = dispatcher_->stats();
    h.set_breaker_state(d.breaker_state);
    h.set_requests_sent(d.requests_sent);
    h.set_requests_failed(d.requests_failed);
    h.set_requests_429(d.requests_429);
    h.set_dead_letters(d.dead_lettered);
    h.set_delivery_last_status(d.last_status);
    h.set_delivery_last_error(d.last_error);
    auto& c = *h.mutable_counters();
    c["records_delivered"] = d.records_delivered;
    c["requests_ok"] = d.requests_ok;
    c["requests_correlation"] = d.requests_by_class[0];
    c["requests_live"] = d.requests_by_class[1];
    c["requests_backlog"] = d.requests_by_class[2];
    c["auth_failures"] = d.auth_failures;
    c["config_errors"] = d.config_errors;
    c["split_413"] = d.split_413;
    c["correlation_rows_sent"] = d.correlation_rows_sent;
    c["coalesced_records"] = d.coalesced_records;
    c["breaker_opens"] = d.breaker_opens;
    c["live_first_records"] = d.live_first_records;
    c["retry_after_clamped"] = d.retry_after_clamped;
    c["effective_requests_per_minute"] = static_cast<uint64_t>(d.effective_limit);
  }
  if (correlations_ != nullptr) {
    if (auto cs = correlations_->Stats(); cs.ok()) {
      auto& c = *h.mutable_counters();
      c["correlation_ids_seen"] = cs->seen;
      c["correlation_ids_linked"] = cs->linked;
      c["correlation_ids_not_linked"] = cs->evicted;
      c["correlation_rows_pending"] = cs->pending;
      c["correlation_follow_ups"] = cs->follow_ups;
    }
  }
  if (ingest_) {
    const IngestStats i = ingest_->stats();
    auto& c = *h.mutable_counters();
    c["ipc_records_stored"] = i.records_stored;
    c["ipc_duplicates"] = i.duplicates;
    c["ipc_malformed_frames"] = i.malformed_frames;
    c["ipc_bad_protocol_version"] = i.bad_protocol_version;
    c["ipc_invalid_records"] = i.invalid_records;
    c["ipc_out_of_order"] = i.out_of_order;
    c["ipc_disconnects"] = i.disconnects;
    c["ipc_buffer_errors"] = i.buffer_errors;
    c["ipc_refused_frames"] = i.refused_frames;
    c["ipc_unstorable_records"] = i.unstorable_records;
    c["ipc_unstorable_dropped"] = i.unstorable_dropped;
    c["ingest_failed_polls"] = ingest_failed_polls_;
  }
  if (auto stats = buffer_.Stats(); stats.ok()) {
    h.set_buffer_records(stats->records);
    h.set_buffer_bytes(stats->bytes);
    h.set_buffer_oldest_age_s(stats->oldest_age_s);
    uint64_t evicted = 0;
    for (const auto& [kind, n] : stats->evicted_records_by_kind) evicted += n;
    h.set_evicted_records(evicted);
    (*h.mutable_counters())["buffer_corrupt_skipped"] = stats->corrupt_skipped;
  }
  return h;
}

double ShipperDaemon::LastDeliveryUnixS() const {
  return dispatcher_ ? dispatcher_->stats().last_success_unix_s : 0;
}

void ShipperDaemon::AppendHealthRecord(pgagent::v1::AgentHealth health) {
  pgagent::v1::Record r;
  r.mutable_id()->set_boot_id(boot_id_);
  r.mutable_id()->set_seq(++health_seq_);
  r.set_kind(pgagent::v1::RECORD_KIND_HEALTH);
  const auto now = clock_.Now().time_since_epoch();
  r.mutable_collected_at()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  r.mutable_collected_at()->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() % 1000000000));
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    r.set_project_id(config_.listener.project_id);
    r.set_host(config_.agent.hostname.empty() ? HostName() : config_.agent.hostname);
  }
  *r.mutable_health() = std::move(health);
  auto stored = buffer_.Append({r});
  if (!stored.ok()) log::Warn("shipperd.health_not_buffered", {{"error", stored.status().ToString()}});
}

void ShipperDaemon::ObserveGrowth() {
  const double now = std::chrono::duration<double>(clock_.Now().time_since_epoch()).count();
  if (dispatcher_) dead_letters_.Observe(dispatcher_->stats().dead_lettered, now);
  if (auto stats = buffer_.Stats(); stats.ok()) {
    uint64_t evicted = 0;
    for (const auto& [kind, n] : stats->evicted_records_by_kind) evicted += n;
    evictions_.Observe(evicted, now);
  }
}

std::chrono::milliseconds ShipperDaemon::Tick() {
  const auto now = clock_.Monotonic();
  if (now >= next_growth_check_) {
    ObserveGrowth();
    next_growth_check_ = now + 5s;
  }
  if (now >= next_cpu_sample_) {  // share of one core over the last collection interval
    cpu_percent_ = cpu_.Sample();
    next_cpu_sample_ = now + std::chrono::seconds(config_.collection.interval_s);
  }
  if (now >= next_health_) {
    next_health_ = now + HealthInterval(config_);
    pgagent::v1::AgentHealth health = Health();
    if (health_gate_.ShouldSend(health, now)) {
      AppendHealthRecord(std::move(health));
      wake_.notify_all();
    }
  }
  if (now >= next_reader_check_) {
    if (maintenance_) maintenance_();
    next_reader_check_ = now + 60s;
  }
  const auto next = std::min({next_growth_check_, next_cpu_sample_, next_health_, next_reader_check_});
  return std::chrono::ceil<std::chrono::milliseconds>(next - clock_.Monotonic());
}

}  // namespace pgagent
