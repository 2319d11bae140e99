// Decides when a daemon's health record is worth a place in the buffer. Health travels
// inside the system_metrics aggregate, but it still costs buffer space and listener rows, so
// each daemon sends it at most once per `min_interval` (a minute), only when something in it
// changed apart from the figures that change by themselves (uptime, RSS, CPU, durations,
// run counts, offsets), and at least once per `heartbeat` so the listener knows the agent
// is alive and which version runs.
// Not thread-safe: owned by the thread that builds the health records.
#pragma once

#include <chrono>
#include <string>

#include "pgagent/v1/records.pb.h"

namespace pgagent {

class HealthGate {
 public:
  explicit HealthGate(std::chrono::seconds min_interval = std::chrono::seconds(60),
                      std::chrono::seconds heartbeat = std::chrono::seconds(900))
      : min_interval_(min_interval), heartbeat_(heartbeat) {}

  // True when `health`, taken at `now`, should be sent; it is then remembered as sent.
  bool ShouldSend(const pgagent::v1::AgentHealth& health,
                  std::chrono::steady_clock::time_point now);

  // The health without the figures that change by themselves, in a fixed byte order.
  static std::string Fingerprint(const pgagent::v1::AgentHealth& health);

 private:
  std::chrono::seconds min_interval_;
  std::chrono::seconds heartbeat_;
  bool sent_any_ = false;
  std::chrono::steady_clock::time_point last_sent_{};
  std::string last_fingerprint_;
};

}  // namespace pgagent
