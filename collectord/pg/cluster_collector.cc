#include "collectord/pg/cluster_collector.h"

#include <regex>

#include "collectord/pg/cluster_sql.h"
#include "collectord/pg/pg_values.h"
#include "common/log.h"

namespace pgagent {

using pgagent::v1::ClusterSnapshot;

struct ClusterCollector::Cycle {
  ClusterSnapshot snapshot;
  PgResult status;
  int version = 0;
  bool in_recovery = false;
  std::optional<double> interval_s;
  std::vector<std::string> connectable;  // databases a visit may connect to
  std::string main_db;
  const PgValue& Status(std::string_view column) const { return status.Get(0, column); }
};

namespace {

// Shell commands may carry credentials; pgagent only says that they are set.
bool IsCommandSetting(const std::string& name) {
  return name.size() > 8 && name.compare(name.size() - 8, 8, "_command") == 0;
}

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// A failed section leaves nothing half-filled behind.
void ClearSection(const std::string& section, ClusterSnapshot& snapshot) {
  if (section == "io") {
    if (snapshot.has_wal()) snapshot.mutable_wal()->clear_io();
    return;
  }
  const std::string field = section == "xmin" ? "xmin_horizon" : section;
  const auto* f = snapshot.GetDescriptor()->FindFieldByName(field);
  if (f != nullptr) snapshot.GetReflection()->ClearField(&snapshot, f);
}

}  // namespace

std::string MaskSettingValue(const std::string& name, const std::string& value) {
  if (value.empty()) return value;
  if (IsCommandSetting(name)) return "<set>";
  static const std::regex kPassword(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+))",
                                    std::regex::icase);
  return std::regex_replace(value, kPassword, "$1***");
}

ClusterCollector::ClusterCollector(PgConnection& connection, const CorrelationExtractor* extractor,
                                   const Clock& clock, ClusterOptions options,
                                   DatabaseSessionFactory open_database)
    : connection_(connection),
      extractor_(extractor),
      clock_(clock),
      options_(std::move(options)),
      visitor_(connection, clock, options_.visits, std::move(open_database)) {}

Status ClusterCollector::Section(std::string_view name, Cycle& cycle,
                                 const std::function<Status()>& body) {
  Status st = body();
  const std::string key(name);
  if (st.ok()) {
    if (failing_sections_.erase(key) > 0)
      log::Info("cluster.section_recovered", {{"section", key}});
    return st;
  }
  if (st.code() == StatusCode::kUnavailable) return st;
  ClearSection(key, cycle.snapshot);
  ++warnings_total_;
  auto* w = cycle.snapshot.add_warnings();
  w->set_section(key);
  w->set_error(st.ToString());
  if (failing_sections_.insert(key).second) {
    log::Warn("cluster.section_failed", {{"section", key},
                                         {"error", st.ToString()},
                                         {"effect",
                                          "left out of the cluster snapshot; other "
                                          "sections go on, retried next cycle"}});
  }
  return Status::Ok();
}

Status ClusterCollector::ReadStatus(Cycle& cycle) {
  cycle.version = connection_.server_version_num();
  auto res = connection_.Query(cluster_sql::Status(cycle.version));
  if (!res.ok()) return res.status().WithContext("cluster status");
  if (res->rows.empty()) return InternalError("cluster status: no row");
  cycle.status = std::move(*res);
  cycle.in_recovery = PgBool(cycle.Status("in_recovery"));
  cycle.main_db = PgText(cycle.Status("current_database"));
  cycle.snapshot.set_server_version_num(cycle.version);
  cycle.snapshot.set_in_recovery(cycle.in_recovery);
  return Status::Ok();
}

Status ClusterCollector::ReadDatabases(Cycle& cycle) {
  auto res = connection_.Query(cluster_sql::Databases(cycle.version));
  if (!res.ok()) return res.status();
  for (size_t r = 0; r < res->rows.size(); ++r) {
    auto* db = cycle.snapshot.add_databases();
    FillFromRow(*res, r, *db);
    pgagent::v1::DatabaseCounters delta;
    if (databases_.Update(std::to_string(db->datid()), *res, r, delta)) {
      const uint64_t blocks = delta.blks_hit() + delta.blks_read();
      if (blocks > 0) {
        db->set_cache_hit_ratio(static_cast<double>(delta.blks_hit()) /
                                static_cast<double>(blocks));
      }
      *db->mutable_delta() = delta;
    }
    if (db->allow_connections() && !PgBool(res->Get(r, "is_template")) &&
        PgBool(res->Get(r, "can_connect"))) {
      cycle.connectable.push_back(db->datname());
    }
  }
  databases_.Sweep();
  return Status::Ok();
}

Status ClusterCollector::ReadCheckpoints(Cycle& cycle) {
  auto res = connection_.Query(cluster_sql::Checkpoints(cycle.version));
  if (!res.ok()) return res.status();
  if (res->rows.empty()) return Status::Ok();
  pgagent::v1::CheckpointCounters delta;
  if (checkpoints_.Update("", *res, 0, delta)) *cycle.snapshot.mutable_checkpoints() = delta;
  return Status::Ok();
}

Status ClusterCollector::ReadWal(Cycle& cycle) {
  auto& wal = *cycle.snapshot.mutable_wal();
  const PgValue& lsn = cycle.Status("lsn");
  wal.set_lsn_text(PgText(cycle.Status("lsn_text")));
  if (lsn) {
    const uint64_t now = PgUint(lsn);
    wal.set_lsn(now);
    if (last_lsn_ && cycle.interval_s) {
      const uint64_t bytes = now >= *last_lsn_ ? now - *last_lsn_ : 0;
      wal.set_bytes(bytes);
      if (*cycle.interval_s > 0)
        wal.set_bytes_per_s(static_cast<double>(bytes) / *cycle.interval_s);
    }
    last_lsn_ = now;
  }
  const std::string sql = cluster_sql::StatWal(cycle.version);
  if (sql.empty()) return Status::Ok();
  auto res = connection_.Query(sql);
  if (!res.ok()) return res.status();
  pgagent::v1::WalCounters delta;
  if (!res->rows.empty() && wal_.Update("", *res, 0, delta)) *wal.mutable_stat_wal() = delta;
  return Status::Ok();
}

Status ClusterCollector::ReadIo(Cycle& cycle) {
  const std::string sql = cluster_sql::StatIo(cycle.version);
  if (sql.empty()) return Status::Ok();
  auto res = connection_.Query(sql);
  if (!res.ok()) return res.status();
  for (size_t r = 0; r < res->rows.size(); ++r) {
    pgagent::v1::IoCounters delta;
    if (!io_.Update(PgText(res->Get(r, "backend_type")), *res, r, delta)) continue;
    const bool active = delta.reads() || delta.writes() || delta.extends() || delta.hits() ||
                        delta.evictions() || delta.reuses() || delta.fsyncs();
    if (active) *cycle.snapshot.mutable_wal()->add_io() = delta;
  }
  io_.Sweep();
  return Status::Ok();
}

Status ClusterCollector::ReadReplication(Cycle& cycle) {
  auto& repl = *cycle.snapshot.mutable_replication();
  auto standbys = connection_.Query(cluster_sql::Standbys(cycle.version, cycle.in_recovery));
  if (!standbys.ok()) return standbys.status().WithContext("pg_stat_replication");
  for (size_t r = 0; r < standbys->rows.size(); ++r)
    FillFromRow(*standbys, r, *repl.add_standbys());
  auto slots = connection_.Query(cluster_sql::Slots(cycle.version, cycle.in_recovery));
  if (!slots.ok()) return slots.status().WithContext("pg_replication_slots");
  for (size_t r = 0; r < slots->rows.size(); ++r) {
    auto* slot = repl.add_slots();
    FillFromRow(*slots, r, *slot);
    slot->set_inactive_retaining_wal(!slot->active() && slot->retained_bytes() > 0);
  }
  return cycle.in_recovery ? ReadStandby(cycle) : Status::Ok();
}

Status ClusterCollector::ReadStandby(Cycle& cycle) {
  auto res = connection_.Query(cluster_sql::WalReceiver(cycle.version));
  if (!res.ok()) return res.status().WithContext("pg_stat_wal_receiver");
  if (res->rows.empty()) return Status::Ok();
  auto& standby = *cycle.snapshot.mutable_replication()->mutable_standby();
  FillFromRow(*res, 0, standby);
  if (auto t = TimestampFromMicros(res->Get(0, "last_replay_us"))) {
    *standby.mutable_last_replay_time() = *t;
  }
  return Status::Ok();
}

Status ClusterCollector::ReadVacuum(Cycle& cycle) {
  auto& vacuum = *cycle.snapshot.mutable_vacuum();
  FillFromRow(cycle.status, 0, vacuum);  // autovacuum_* settings
  for (const auto& db : cycle.snapshot.databases()) {
    if (db.xid_age() > vacuum.oldest_xid_age()) {
      vacuum.set_oldest_xid_age(db.xid_age());
      vacuum.set_oldest_database(db.datname());
    }
  }
  if (vacuum.autovacuum_freeze_max_age() > 0) {
    vacuum.set_freeze_max_age_share(static_cast<double>(vacuum.oldest_xid_age()) /
                                    static_cast<double>(vacuum.autovacuum_freeze_max_age()));
  }
  vacuum.set_wraparound_share(static_cast<double>(vacuum.oldest_xid_age()) / 2147483648.0);
  auto workers = connection_.Query(cluster_sql::AutovacuumWorkers(cycle.version));
  if (!workers.ok()) return workers.status();
  if (!workers->rows.empty()) FillFromRow(*workers, 0, vacuum);
  auto res = connection_.Query(cluster_sql::Progress(cycle.version));
  if (!res.ok()) return res.status().WithContext("pg_stat_progress_*");
  for (size_t r = 0; r < res->rows.size(); ++r) FillFromRow(*res, r, *vacuum.add_running());
  return Status::Ok();
}

Status ClusterCollector::ReadXmin(Cycle& cycle) {
  auto& horizon = *cycle.snapshot.mutable_xmin_horizon();
  horizon.set_prepared_transactions(
      static_cast<uint32_t>(PgUint(cycle.Status("prepared_transactions"))));
  auto res = connection_.Query(cluster_sql::XminHolders(cycle.version));
  if (!res.ok()) return res.status();
  for (size_t r = 0; r < res->rows.size(); ++r) {
    auto* holder = horizon.add_holders();
    FillFromRow(*res, r, *holder);
    if (extractor_ != nullptr) {
      auto id = extractor_->Extract(holder->application_name(), PgText(res->Get(r, "query")));
      if (id) holder->set_correlation_id(*id);
    }
  }
  std::sort(horizon.mutable_holders()->begin(), horizon.mutable_holders()->end(),
            [](const auto& a, const auto& b) { return a.age() > b.age(); });
  return Status::Ok();
}

Status ClusterCollector::ReadConnections(Cycle& cycle) {
  auto& c = *cycle.snapshot.mutable_connections();
  FillFromRow(cycle.status, 0, c);  // max_connections, *reserved_connections
  auto res = connection_.Query(cluster_sql::Connections(cycle.version));
  if (!res.ok()) return res.status();
  int32_t used = 0;
  for (size_t r = 0; r < res->rows.size(); ++r) {
    const std::string dim = PgText(res->Get(r, "dim"));
    auto* list = dim == "state"      ? c.mutable_by_state()
                 : dim == "database" ? c.mutable_by_database()
                                     : c.mutable_by_role();
    const auto count = static_cast<uint32_t>(PgUint(res->Get(r, "count")));
    if (dim == "state") used += static_cast<int32_t>(count);
    if (static_cast<size_t>(list->size()) >= options_.top_n) continue;
    auto* item = list->Add();
    item->set_name(PgText(res->Get(r, "name")));
    item->set_count(count);
  }
  c.set_used(used);
  c.set_available(c.max_connections() - c.superuser_reserved_connections() -
                  c.reserved_connections() - used);
  return Status::Ok();
}

Status ClusterCollector::ReadSettings(Cycle& cycle) {
  const std::string hash = PgText(cycle.Status("settings_hash"));
  if (settings_sent_ && hash == settings_hash_) return Status::Ok();
  auto res = connection_.Query(cluster_sql::Settings(cycle.version));
  if (!res.ok()) return res.status();
  auto& settings = *cycle.snapshot.mutable_settings();
  for (size_t r = 0; r < res->rows.size(); ++r) {
    auto* s = settings.add_settings();
    FillFromRow(*res, r, *s);
    s->set_setting(MaskSettingValue(s->name(), s->setting()));
    if (s->pending_restart()) settings.add_pending_restart(s->name());
  }
  settings_hash_ = hash;
  settings_sent_ = true;
  return Status::Ok();
}

Status ClusterCollector::Collect(pgagent::v1::Record& record) {
  const auto start = clock_.Monotonic();
  PGAGENT_RETURN_IF_ERROR(connection_.EnsureConnected());
  const uint64_t bytes_before = connection_.session().BytesReceived();
  const uint64_t visit_bytes_before = visitor_.visit_bytes_total();
  Cycle cycle;
  PGAGENT_RETURN_IF_ERROR(ReadStatus(cycle));
  if (last_sample_) cycle.interval_s = Seconds(start - *last_sample_);
  last_sample_ = start;
  if (cycle.interval_s) cycle.snapshot.set_interval_s(*cycle.interval_s);
  const std::pair<std::string_view, Status (ClusterCollector::*)(Cycle&)> sections[] = {
      {"databases", &ClusterCollector::ReadDatabases},
      {"checkpoints", &ClusterCollector::ReadCheckpoints},
      {"wal", &ClusterCollector::ReadWal},
      {"io", &ClusterCollector::ReadIo},
      {"replication", &ClusterCollector::ReadReplication},
      {"vacuum", &ClusterCollector::ReadVacuum},
      {"xmin", &ClusterCollector::ReadXmin},
      {"connections", &ClusterCollector::ReadConnections},
      {"settings", &ClusterCollector::ReadSettings},
  };
  for (const auto& [name, read] : sections) {
    PGAGENT_RETURN_IF_ERROR(Section(name, cycle, [&] { return (this->*read)(cycle); }));
  }
  PGAGENT_RETURN_IF_ERROR(visitor_.VisitDue(cycle.connectable, cycle.main_db, cycle.snapshot));
  // The session's byte count survives a visit closing it.
  cycle.snapshot.set_bytes_read(connection_.session().BytesReceived() - bytes_before +
                                visitor_.visit_bytes_total() - visit_bytes_before);
  cycle.snapshot.set_query_time_ms(
      std::chrono::duration<double, std::milli>(clock_.Monotonic() - start).count());
  *record.mutable_cluster() = std::move(cycle.snapshot);
  return Status::Ok();
}

}  // namespace pgagent
