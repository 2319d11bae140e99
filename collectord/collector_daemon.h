// pgagent-collectord's running parts, driven by one worker thread:
//   every cycle (interval_s, or burst_interval_s during a load spike): pg_stat_activity
//   (+ lock waits + per-backend /proc usage), pg_stat_statements (normal cycles only),
//   system metrics, and a health record (at most once a minute, when it changed);
//   continuously: the PostgreSQL log (LogSource), batches handed to shipperd as they fill;
//   always: the IPC outbox (ZmqOutbox) pumped, acknowledgements turned into log offset
//   commits.
// Nothing here blocks on shipperd: records wait in the outbox window, log reading pauses
// when the window is full (the log file is the buffer).
// Thread-safety: Start/Stop/Reconfigure belong to the main thread; Healthy() and Health()
// may be called from any thread; everything else runs on the worker thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/health_gate.h"
#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

struct CollectorParts;  // collectors, PostgreSQL connection, log source (built from Config)

// Splits a log batch into batches whose serialized size stays under max_bytes (entries
// larger than that on their own get their long text fields cut and flagged truncated). Only
// the last part keeps the cursor, so the offset is committed once every part is acknowledged.
std::vector<pgagent::v1::LogBatch> SplitLogBatch(pgagent::v1::LogBatch batch, size_t max_bytes);

// libpq conninfo for the [database] section (values quoted; the password included).
std::string BuildConninfo(const DatabaseConfig& db);

class CollectorDaemon {
 public:
  // REQUIRES: clock outlives the daemon.
  CollectorDaemon(const Config& config, Clock& clock);
  ~CollectorDaemon();
  CollectorDaemon(const CollectorDaemon&) = delete;
  CollectorDaemon& operator=(const CollectorDaemon&) = delete;

  // Builds the parts and starts the worker. Errors: an invalid configuration that only
  // shows when the parts are built (a correlation pattern, a log prefix), or the IPC socket.
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
  static Result<std::vector<pgagent::v1::Record>> RunOnce(const Config& config, Clock& clock);

 private:
  void Loop();
  void RunCycle(bool burst);
  void PumpLogs();
  // Splits batches into IPC-sized records and queues them for the outbox.
  void QueueLogBatches(std::vector<pgagent::v1::LogBatch>& batches);
  // Hands queued log batches to the outbox while it accepts them (in order).
  void OfferPendingLogs();
  void PumpOutbox(std::chrono::milliseconds timeout);
  void Offer(pgagent::v1::Record record);
  void ObserveSelfLimits(uint64_t rss_bytes, double cpu_percent);
  void ApplyPendingConfig();
  void DrainOnStop(std::chrono::milliseconds grace);
  pgagent::v1::Record NewRecord(pgagent::v1::RecordKind kind) const;

  Config config_;
  Clock& clock_;
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
  std::string host_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace pgagent
