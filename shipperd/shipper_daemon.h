// pgagent-shipperd's running parts: the ingest thread (IPC -> correlation rows + LMDB buffer)
// and the delivery thread (buffer -> listener), plus the health record it adds to its own
// buffer at most once a minute, and only when something in it changed (it travels inside
// the system_metrics aggregate, so it costs no request of its own). main.cc creates the
// real buffer, correlation store, request log and transport and owns the signal loop.
// Thread-safety: Start/Stop/Reconfigure/Tick belong to the main thread; Health() and
// Healthy() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "common/daemon.h"
#include "common/health_gate.h"
#include "common/status.h"
#include "shared/buffer/correlation_store.h"
#include "shared/buffer/record_buffer.h"
#include "shipperd/delivery/correlating_buffer.h"
#include "shipperd/delivery/dispatcher.h"
#include "shared/listener/transport.h"
#include "shipperd/ingest/failure_streak.h"
#include "shipperd/ingest/ingest_server.h"
#include "shipperd/metrics/growth_watch.h"

namespace pgagent {

class ShipperDaemon {
 public:
  // `maintenance` runs about once a minute on the main thread (e.g. clearing stale LMDB
  // reader slots). REQUIRES: buffer, transport and clock outlive the daemon.
  // `correlations` and `request_log` may be null (tests): no correlation rows, and a budget
  // that starts empty. REQUIRES: everything passed in outlives the daemon.
  ShipperDaemon(const Config& config, RecordBuffer& buffer, CorrelationStore* correlations,
                RequestLog* request_log, Transport& transport, const Clock& clock,
                std::function<void()> maintenance = nullptr);
  ~ShipperDaemon();
  ShipperDaemon(const ShipperDaemon&) = delete;
  ShipperDaemon& operator=(const ShipperDaemon&) = delete;

  // Binds the ingest socket and starts both threads. Errors: the bind failure.
  Status Start();
  // Asks both threads to stop and joins them (an in-flight request is abandoned through
  // the transport's abort flag, which the caller set to stop_flag()).
  void Stop();
  // Applies a new configuration: delivery settings at once; ingest settings need a restart.
  void Reconfigure(const Config& config);
  // Called by the main loop when due: health records, stale LMDB readers. Returns how long
  // until the next of them is due (the main thread sleeps until then).
  std::chrono::milliseconds Tick();

  // True while both threads made progress recently (for the systemd watchdog).
  bool Healthy() const;
  pgagent::v1::AgentHealth Health() const;
  // Unix seconds of the last request the listener accepted; 0 when none yet.
  double LastDeliveryUnixS() const;
  const std::atomic<bool>& stop_flag() const { return stop_; }

  static DispatcherOptions DispatcherOptionsFrom(const Config& config);

 private:
  void IngestLoop();
  void DeliveryLoop();
  void AppendHealthRecord(pgagent::v1::AgentHealth health);
  void ObserveGrowth();

  Config config_;
  RecordBuffer& buffer_;
  CorrelationStore* correlations_;
  RequestLog* request_log_;
  // What ingest stores into: buffer_ itself, or buffer_ with correlation rows filed first.
  std::unique_ptr<CorrelatingBuffer> correlating_;
  Transport& transport_;
  const Clock& clock_;
  std::function<void()> maintenance_;
  std::unique_ptr<IngestServer> ingest_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::thread ingest_thread_;
  std::thread delivery_thread_;
  std::atomic<bool> stop_{false};
  std::mutex wake_mu_;
  std::condition_variable wake_;
  std::atomic<int64_t> ingest_beat_ms_{0};
  FailureStreak buffer_streak_;  // ingest thread only
  std::atomic<uint64_t> ingest_failed_polls_{0};
  std::atomic<int64_t> delivery_beat_ms_{0};
  std::string boot_id_;
  uint64_t health_seq_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point next_health_;
  HealthGate health_gate_;
  std::chrono::steady_clock::time_point next_reader_check_;
  CpuShare cpu_;  // main thread (Tick)
  std::chrono::steady_clock::time_point next_cpu_sample_;
  std::atomic<double> cpu_percent_{0};
  GrowthWatch evictions_;     // main thread (Tick)
  GrowthWatch dead_letters_;  // main thread (Tick)
  std::chrono::steady_clock::time_point next_growth_check_;
  mutable std::mutex config_mu_;
};

}  // namespace pgagent
