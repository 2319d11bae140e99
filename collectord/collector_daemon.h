// pgagent-collectord's running parts, driven by one worker thread. main.cc builds the real
// edges (a libpq session factory, /proc, the log file system, the ZeroMQ outbox) and passes
// them in; the parts a newcomer looks for have their own headers:
//   cycle_scheduler.h  when a cycle runs (interval_s, burst_interval_s under load, skipped
//                      slots) and which collectors it runs;
//   log_setup.h        which log file and format to follow, retried until it works;
//   log_pump.h         the log: read -> batch -> offer to the outbox -> commit on ack;
//   health_report.h    the health record (at most once a minute, when it changed).
// Every cycle: pg_stat_activity (+ lock waits + per-backend /proc usage), pg_stat_statements
// (normal cycles only), cluster health, system metrics, health. Between cycles the thread
// sleeps in the outbox until the next deadline (cycle, log read, offset commit, heartbeat)
// or a frame from shipperd; it does not tick on a fixed short period.
// Nothing here blocks on shipperd: records wait in the outbox window, log reading pauses
// when the window is full (the log file is the buffer).
// Thread-safety: Start/Stop/Reconfigure belong to the main thread; Healthy() and Health()
// may be called from any thread; everything else runs on the worker thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collectord/log_pump.h"
#include "collectord/logtail/log_file_system.h"
#include "collectord/outbox/zmq_outbox.h"
#include "collectord/pg/pg_options.h"
#include "collectord/pg/pg_session.h"
#include "collectord/record_stamper.h"
#include "collectord/system/proc_fs.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/health_gate.h"
#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

struct CollectorParts;  // collectors, PostgreSQL connection, log source (built from Config)

// Opens a PostgreSQL session (not yet connected); LibpqSession in main.cc.
using PgSessionFactory = std::function<std::unique_ptr<PgSession>(const PgConnectionOptions&)>;

// The outside world, as main.cc passes it in. Everything here outlives the daemon.
struct CollectorEdges {
  Clock& clock;
  system::ProcFs& procfs;
  logtail::LogFileSystem& log_fs;
  PgSessionFactory open_session;
};

// libpq conninfo for the [database] section (values quoted; the password included).
std::string BuildConninfo(const DatabaseConfig& db);
// The [database] section as connection options (conninfo, timeouts, backoff).
PgConnectionOptions PgOptionsFor(const Config& config);
// The [ipc] section as outbox options (collectord's end of ipc://<runtime_dir>/ingest.sock).
ZmqOutboxOptions OutboxOptionsFor(const Config& config);

class CollectorDaemon {
 public:
  // REQUIRES: the edges and the outbox outlive the daemon; the outbox is used by the
  // worker thread only between Start() and Stop().
  CollectorDaemon(const Config& config, CollectorEdges edges, ZmqOutbox& outbox);
  ~CollectorDaemon();
  CollectorDaemon(const CollectorDaemon&) = delete;
  CollectorDaemon& operator=(const CollectorDaemon&) = delete;

  // Builds the parts and starts the worker. Errors: an invalid configuration that only
  // shows when the parts are built (a correlation pattern, a log prefix).
  Status Start();
  // Finishes or abandons the cycle, hands pending log entries to shipperd, waits up to
  // `grace` for acknowledgements (offsets advance with them), then stops.
  void Stop(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  // Swaps in a new configuration at the next cycle boundary. [ipc] changes apply after
  // a restart.
  void Reconfigure(const Config& config);

  bool Healthy() const;
  pgagent::v1::AgentHealth Health() const;
  // Unix seconds when the last cycle ended; 0 before the first.
  double LastCycleUnixS() const { return last_cycle_unix_s_.load(); }

  // --once: one cycle of every collector; returns the records (no IPC). Errors: the
  // database unreachable (kUnavailable naming host:port) or lacking pg_monitor /
  // pg_read_all_stats (kPermissionDenied).
  static Result<std::vector<pgagent::v1::Record>> RunOnce(const Config& config,
                                                          CollectorEdges edges);

 private:
  void Loop();
  void RunScheduledCycle();
  void RunCycle(bool burst);
  void RunCollectors(bool burst, std::vector<pgagent::v1::Record>* records);
  pgagent::v1::AgentHealth BuildHealth();
  void AddCounters(pgagent::v1::AgentHealth* health) const;
  void PumpLogs();
  void PumpOutbox(std::chrono::milliseconds timeout);
  void NoteShipperLiveness();
  // How long the worker may wait in the outbox before something is due.
  std::chrono::milliseconds TimeUntilWork() const;
  void Offer(pgagent::v1::Record record);
  void ObserveSelfLimits(uint64_t rss_bytes, double cpu_percent);
  void CheckPrivilegesOnNewConnection();
  void ApplyPendingConfig();
  void DrainOnStop(std::chrono::milliseconds grace);

  Config config_;
  CollectorEdges edges_;
  ZmqOutbox& outbox_;
  RecordStamper stamper_;  // the worker's
  std::unique_ptr<CollectorParts> parts_;
  std::thread worker_;
  std::atomic<bool> stop_{false};
  std::chrono::milliseconds stop_grace_{5000};
  std::atomic<int64_t> beat_ms_{0};
  std::atomic<double> last_cycle_unix_s_{0};
  mutable std::mutex mu_;  // guards pending_config_ and health_
  std::optional<Config> pending_config_;
  pgagent::v1::AgentHealth health_;
  HealthGate health_gate_;  // the cycle thread's
  bool shipper_alive_ = true;
  uint64_t outbox_refused_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace pgagent
