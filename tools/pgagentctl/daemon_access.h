// How pgagentctl reaches a daemon (its control socket) and, when shipperd is down, the
// LMDB buffer directly (read-only, through the same handler shipperd uses, so the answers
// look the same). Thread-safety: single-threaded tool.
#pragma once

#include <string>

#include "common/config.h"
#include "common/status.h"
#include "pgagent/v1/control.pb.h"

namespace pgagent::ctl {

enum class Reach {
  kUp,           // the daemon answered (its answer may still say ok = false)
  kDown,         // no socket, or nobody listens on it
  kUnreachable,  // permission denied, timeout, broken connection: up or down is unknown
};

struct DaemonAnswer {
  Reach reach = Reach::kDown;
  std::string socket;  // path asked
  std::string error;   // why, when not kUp
  pgagent::v1::ControlResponse response;
};

// Asks `component` ("collectord" / "shipperd") at <[agent] control_dir>/<component>.ctl.
DaemonAnswer AskDaemon(const Config& config, const std::string& component,
                       const pgagent::v1::ControlRequest& request);

// Answers a read-only `request` from the buffer at [buffer] path, opened read-only; the
// response's source is "buffer". Errors: kNotFound when there is no buffer there,
// kPermissionDenied, kUnavailable (as LmdbBuffer::Open), each with the path in the message.
Result<pgagent::v1::ControlResponse> AskBufferDirectly(const Config& config,
                                                       const pgagent::v1::ControlRequest& request);

}  // namespace pgagent::ctl
