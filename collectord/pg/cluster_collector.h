// ClusterCollector: the health of the monitored cluster in one ClusterSnapshot per cycle —
// databases, checkpoints/bgwriter, WAL (+ pg_stat_wal 14+, pg_stat_io 16+), replication
// (as primary: standbys and slots; as standby: the WAL receiver and replay lag), vacuum and
// wraparound, the xmin horizon and who holds it, connections, non-default settings (on the
// first cycle and on change) and, through SchemaVisitor, per-database tables and indexes.
//
// Over the one PgConnection, with its timeouts and /* pgagent */ tag. A cycle starts with
// one status query (recovery state, LSN, settings hash, the settings other sections need);
// when it fails the cycle fails (the database is unreachable). Every other section fails
// alone: its error becomes a ClusterWarning in the snapshot, is counted
// (warnings_total()) and logged once per failure streak, and the other sections go on. A
// lost connection (kUnavailable) ends the cycle.
// Counters become per-interval deltas (row_fill.h); the first sample of each key has no
// delta. Version differences live in cluster_sql.h.
// Thread-safety: not thread-safe; the scheduler calls Collect() from one thread. The
// connection, extractor and clock must outlive the collector.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "collectord/collector.h"
#include "collectord/pg/pg_connection.h"
#include "collectord/pg/row_fill.h"
#include "collectord/pg/schema_visitor.h"
#include "collectord/sql/correlation.h"
#include "common/clock.h"

namespace pgagent {

struct ClusterOptions {
  SchemaVisitOptions visits;  // interval, schema_interval, databases, top_n
  // Connection groups (by state/database/role) kept, largest first.
  size_t top_n = 10;
};

class ClusterCollector final : public Collector {
 public:
  // `extractor` may be null: no correlation ids for xmin holders.
  ClusterCollector(PgConnection& connection, const CorrelationExtractor* extractor,
                   const Clock& clock, ClusterOptions options,
                   DatabaseSessionFactory open_database);
  ClusterCollector(const ClusterCollector&) = delete;
  ClusterCollector& operator=(const ClusterCollector&) = delete;

  std::string_view Name() const override { return "cluster"; }
  // Fills record.cluster. kUnavailable (and other status-query errors) when the cycle could
  // not start; section errors are warnings inside the snapshot.
  Status Collect(pgagent::v1::Record& record) override;

  uint64_t warnings_total() const { return warnings_total_; }
  const SchemaVisitor& visitor() const { return visitor_; }

 private:
  struct Cycle;  // per-Collect state (status row, snapshot)
  // Runs one section; a non-kUnavailable error becomes a warning.
  Status Section(std::string_view name, Cycle& cycle, const std::function<Status()>& body);
  Status ReadStatus(Cycle& cycle);
  Status ReadDatabases(Cycle& cycle);
  Status ReadCheckpoints(Cycle& cycle);
  Status ReadWal(Cycle& cycle);
  Status ReadIo(Cycle& cycle);
  Status ReadReplication(Cycle& cycle);
  Status ReadStandby(Cycle& cycle);
  Status ReadVacuum(Cycle& cycle);
  Status ReadXmin(Cycle& cycle);
  Status ReadConnections(Cycle& cycle);
  Status ReadSettings(Cycle& cycle);

  PgConnection& connection_;
  const CorrelationExtractor* extractor_;
  const Clock& clock_;
  ClusterOptions options_;
  SchemaVisitor visitor_;

  CounterDeltas databases_;
  CounterDeltas checkpoints_;
  CounterDeltas wal_;
  CounterDeltas io_;
  std::optional<uint64_t> last_lsn_;
  std::optional<std::chrono::steady_clock::time_point> last_sample_;
  std::string settings_hash_;
  bool settings_sent_ = false;
  std::set<std::string> failing_sections_;
  uint64_t warnings_total_ = 0;
};

// A setting's value as it may leave the host: passwords in conninfo strings masked, and
// shell commands (which may carry credentials) replaced by "<set>".
std::string MaskSettingValue(const std::string& name, const std::string& value);

}  // namespace pgagent
