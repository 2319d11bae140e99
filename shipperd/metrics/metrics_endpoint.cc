#include "shipperd/metrics/metrics_endpoint.h"

#include <chrono>

#include "common/control_socket.h"
#include "shipperd/metrics/prometheus_text.h"

namespace pgagent {

Result<std::unique_ptr<MetricsServer>> StartMetricsEndpoint(
    const Config& config, std::function<pgagent::v1::AgentHealth()> shipper_health) {
  const std::string collectord_socket = ControlSocketPath(config.agent.control_dir, "collectord");
  const uint64_t max_bytes = static_cast<uint64_t>(config.buffer.max_size_mb) << 20;
  auto render = [collectord_socket, max_bytes, shipper_health = std::move(shipper_health)] {
    MetricsSnapshot snapshot;
    snapshot.shipperd = shipper_health();
    snapshot.buffer_max_bytes = max_bytes;
    pgagent::v1::ControlRequest request;
    request.mutable_status();
    auto answer = ControlClient::Call(collectord_socket, request, std::chrono::seconds(1));
    if (answer.ok() && answer->ok()) snapshot.collectord = answer->status().health();
    return RenderPrometheusText(snapshot);
  };
  return MetricsServer::Start(config.agent.metrics_address, std::move(render));
}

}  // namespace pgagent
