#include "tools/pgagentctl/daemon_access.h"

#include "common/clock.h"
#include "common/control_socket.h"
#include "shared/buffer/lmdb_buffer.h"
#include "shared/control/shipper_control.h"
#include "tools/pgagentctl/ctl.h"

namespace pgagent::ctl {

DaemonAnswer AskDaemon(const Config& config, const std::string& component,
                       const pgagent::v1::ControlRequest& request) {
  DaemonAnswer answer;
  answer.socket = ControlSocketPath(config.agent.control_dir, component);
  auto response = ControlClient::Call(answer.socket, request, kControlTimeout);
  if (response.ok()) {
    answer.reach = Reach::kUp;
    answer.response = std::move(*response);
    return answer;
  }
  const StatusCode code = response.status().code();
  if (code == StatusCode::kNotFound) {
    answer.reach = Reach::kDown;
    answer.error = "no control socket at " + answer.socket;
  } else if (code == StatusCode::kUnavailable) {
    answer.reach = Reach::kDown;
    answer.error = "not running: " + response.status().message();
  } else {
    answer.reach = Reach::kUnreachable;
    answer.error = response.status().message();
  }
  return answer;
}

Result<pgagent::v1::ControlResponse> AskBufferDirectly(const Config& config,
                                                       const pgagent::v1::ControlRequest& request) {
  LmdbBufferOptions options;
  options.path = config.buffer.path;
  options.max_size_mb = static_cast<uint64_t>(config.buffer.max_size_mb);
  options.dead_letter_max_count = static_cast<uint64_t>(config.buffer.dead_letter_max_records);
  options.read_only = true;
  auto buffer = LmdbBuffer::Open(options);
  if (!buffer.ok()) {
    return Status(buffer.status().code(), "cannot read the buffer at " + config.buffer.path + ": " +
                                              buffer.status().message());
  }
  ShipperControlOptions handler_options;
  handler_options.source = "buffer";
  ShipperControlHandler handler(**buffer, SystemClock::Instance(), {}, handler_options);
  return handler.Handle(request);
}

}  // namespace pgagent::ctl
