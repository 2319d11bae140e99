// collectord's end of the IPC handoff: a ZeroMQ DEALER connected to shipperd's ROUTER at
// ipc://<runtime_dir>/ingest.sock, driving an OutboxWindow. Connecting never waits for
// shipperd: records queue in the window until it is there (either daemon may start first).
// Thread-safety: not thread-safe; owned by the collector's main loop thread (ZeroMQ sockets
// must stay on one thread).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "collectord/outbox/outbox_window.h"
#include "common/clock.h"
#include "common/status.h"

namespace pgagent {

struct ZmqOutboxOptions {
  // ipc://... endpoint of shipperd's ingest socket.
  std::string endpoint;
  OutboxOptions window;
  // Cap on frames received from shipperd (acks are small).
  int64_t max_message_bytes = 1024 * 1024;
};

struct ZmqOutboxStats {
  OutboxStats window;
  uint64_t malformed_frames = 0;  // frames from shipperd that did not decode
};

class ZmqOutbox {
 public:
  // Errors: kInvalidArgument for a bad endpoint. REQUIRES: clock outlives the outbox.
  static Result<std::unique_ptr<ZmqOutbox>> Connect(const ZmqOutboxOptions& options,
                                                    const Clock& clock);
  ~ZmqOutbox();
  ZmqOutbox(const ZmqOutbox&) = delete;
  ZmqOutbox& operator=(const ZmqOutbox&) = delete;

  // See OutboxWindow::Offer.
  Status Offer(pgagent::v1::Record record) { return window_.Offer(std::move(record)); }
  bool CanAcceptLog() const { return window_.CanAcceptLog(); }

  // Sends what is due, then waits up to `timeout` for frames from shipperd and handles
  // them. Appends acknowledged records to *acked (oldest first). Never throws.
  void Poll(std::chrono::milliseconds timeout, std::vector<pgagent::v1::Record>* acked);

  const std::string& boot_id() const { return window_.boot_id(); }
  bool Idle() const { return window_.Idle(); }
  bool PeerAlive() const { return window_.PeerAlive(); }
  ZmqOutboxStats stats() const;

 private:
  ZmqOutbox(const ZmqOutboxOptions& options, const Clock& clock);
  bool SendFrame(const std::string& bytes);
  void Receive(std::chrono::milliseconds timeout, std::vector<pgagent::v1::Record>* acked);

  ZmqOutboxOptions options_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  OutboxWindow window_;
  uint64_t malformed_frames_ = 0;
};

}  // namespace pgagent
