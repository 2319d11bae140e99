// pgagent-shipperd's running parts: the ingest thread (IPC -> LMDB buffer) and the delivery
// thread (buffer -> listener), plus the health record it adds to its own buffer every
// interval. main.cc creates the real buffer and transport and owns the signal loop.
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
#include "common/status.h"
#include "shipperd/buffer/record_buffer.h"
#include "shipperd/delivery/dispatcher.h"
#include "shipperd/delivery/transport.h"
#include "shipperd/ingest/ingest_server.h"
#include "shipperd/metrics/growth_watch.h"

namespace pgagent {

class ShipperDaemon {
 public:
  // `maintenance` runs about once a minute on the main thread (e.g. clearing stale LMDB
  // reader slots). REQUIRES: buffer, transport and clock outlive the daemon.
  ShipperDaemon(const Config& config, RecordBuffer& buffer, Transport& transport,
                const Clock& clock, std::function<void()> maintenance = nullptr);
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
  // Called by the main loop about once a second: health records, stale LMDB readers.
  void Tick();

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
  void AppendHealthRecord();
  void ObserveGrowth();

  Config config_;
  RecordBuffer& buffer_;
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
  std::atomic<int64_t> delivery_beat_ms_{0};
  std::string boot_id_;
  uint64_t health_seq_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point next_health_;
  std::chrono::steady_clock::time_point next_reader_check_;
  CpuShare cpu_;  // main thread (AppendHealthRecord)
  std::atomic<double> cpu_percent_{0};
  GrowthWatch evictions_;     // main thread (Tick)
  GrowthWatch dead_letters_;  // main thread (Tick)
  std::chrono::steady_clock::time_point next_growth_check_;
  mutable std::mutex config_mu_;
};

}  // namespace pgagent
