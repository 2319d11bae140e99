// The Prometheus text exposition format (version 0.0.4) of both daemons' health: shipperd's
// own, its buffer, and collectord's as collectord's control socket answered (absent when it
// could not be asked: pgagent_up{component="collectord"} 0). Fixed health fields are typed
// metrics; the health record's free-form counters map is pgagent_health_value{component,
// name} (most are cumulative since that daemon started).
// Thread-safety: pure function.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pgagent/v1/records.pb.h"

namespace pgagent {

struct MetricsSnapshot {
  pgagent::v1::AgentHealth shipperd;
  uint64_t buffer_max_bytes = 0;
  std::optional<pgagent::v1::AgentHealth> collectord;
};

std::string RenderPrometheusText(const MetricsSnapshot& snapshot);

}  // namespace pgagent
