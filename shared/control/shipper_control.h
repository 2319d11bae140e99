// shipperd's answers on its control socket (pgagentctl status / queue / deadletter), over
// the RecordBuffer interface. pgagentctl uses the same handler over a read-only LmdbBuffer
// when shipperd is down, so both paths print the same thing.
//
// Requests and their answers:
//   status              StatusResponse: version, uptime, pid, last delivery, the latest
//                       AgentHealth (breaker, counters) and the buffer's QueueStats
//   queue_stats         QueueStats
//   queue_peek          up to `limit` (0 = 10, at most kMaxPeekRecords) records from the
//                       head, only of `kind` when set; truncated when more matched
//   queue_purge         Affected; refused unless confirm = true
//   deadletter_list     up to `limit` (0 = 20, at most kMaxListedDeadLetters), oldest first
//   deadletter_requeue  Affected; the listed ids, or every dead letter when none is given
//   deadletter_purge    Affected; refused unless confirm = true
// Any buffer error becomes ok = false with the error text; nothing here throws or aborts.
//
// Threads: no thread of its own. Handle() may be called from any thread (the control
// server's); it only uses the buffer (thread-safe by contract) and the sources.
#pragma once

#include <functional>

#include "common/clock.h"
#include "common/control_socket.h"
#include "pgagent/v1/control.pb.h"
#include "shared/buffer/record_buffer.h"

namespace pgagent {

inline constexpr uint32_t kDefaultPeekRecords = 10;
inline constexpr uint32_t kMaxPeekRecords = 1000;
inline constexpr uint32_t kDefaultListedDeadLetters = 20;
inline constexpr uint32_t kMaxListedDeadLetters = 1000;
// Records scanned at most by one filtered peek (the rest is reported as truncated).
inline constexpr uint64_t kMaxPeekScan = 200000;

// Where the status answer's live figures come from. Both are optional (nullptr: left
// unset) and are called on the control server's thread, so they must be thread-safe.
struct ShipperStatusSources {
  std::function<pgagent::v1::AgentHealth()> health;
  // Unix seconds of the last successful delivery; 0 when none yet.
  std::function<double()> last_delivery_unix_s;
};

struct ShipperControlOptions {
  // Serialized records/dead letters put into one answer at most; more is reported as
  // truncated. Keeps answers below the control socket's 16 MiB response cap.
  size_t max_answer_bytes = 8 * 1024 * 1024;
  // Value of ControlResponse.source.
  std::string source = "shipperd";
};

class ShipperControlHandler {
 public:
  // REQUIRES: buffer and clock outlive the handler. Uptime counts from construction.
  ShipperControlHandler(RecordBuffer& buffer, const Clock& clock, ShipperStatusSources sources = {},
                        ShipperControlOptions options = {});
  ShipperControlHandler(const ShipperControlHandler&) = delete;
  ShipperControlHandler& operator=(const ShipperControlHandler&) = delete;

  pgagent::v1::ControlResponse Handle(const pgagent::v1::ControlRequest& request);

  // A ControlHandler calling Handle() on this object (which must outlive the server).
  ControlHandler AsHandler() {
    return [this](const pgagent::v1::ControlRequest& r) { return Handle(r); };
  }

 private:
  Status FillStatus(pgagent::v1::StatusResponse* out);
  Status Peek(const pgagent::v1::QueuePeekRequest& request, pgagent::v1::QueuePeekResponse* out);
  Status ListDeadLetters(const pgagent::v1::DeadLetterListRequest& request,
                         pgagent::v1::DeadLetterList* out);
  Result<uint64_t> Requeue(const pgagent::v1::DeadLetterRequeueRequest& request);

  RecordBuffer& buffer_;
  const Clock& clock_;
  ShipperStatusSources sources_;
  ShipperControlOptions options_;
  std::chrono::steady_clock::time_point started_;
};

// The buffer's statistics as the control message.
pgagent::v1::QueueStats ToQueueStats(const BufferStats& stats);

// A stored dead letter as the control message.
pgagent::v1::DeadLetter ToDeadLetterMessage(const DeadLetter& letter);

}  // namespace pgagent
