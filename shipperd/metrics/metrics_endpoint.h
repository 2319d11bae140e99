// The wiring of shipperd's /metrics ([agent] metrics_address): each scrape renders shipperd's
// health and asks collectord's control socket for its own (1 s timeout; when it does not
// answer, pgagent_up{component="collectord"} is 0).
// Thread-safety: `shipper_health` is called on the metrics server's thread.
#pragma once

#include <functional>
#include <memory>

#include "common/config.h"
#include "pgagent/v1/records.pb.h"
#include "shipperd/metrics/metrics_server.h"

namespace pgagent {

// Errors: as MetricsServer::Start. REQUIRES: config.agent.metrics_address is not empty.
Result<std::unique_ptr<MetricsServer>> StartMetricsEndpoint(
    const Config& config, std::function<pgagent::v1::AgentHealth()> shipper_health);

}  // namespace pgagent
