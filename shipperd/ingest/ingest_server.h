// shipperd's end of the IPC handoff: a ZeroMQ ROUTER bound at
// ipc://<runtime_dir>/ingest.sock (socket file mode 0660), receiving records from
// collectord and acknowledging each one only after RecordBuffer::Append() made it durable.
//
// The protocol's rules (Hello/Welcome, strict seq order per boot id, duplicates, gaps, who
// may send, unstorable records) live in IngestSession (ingest_session.h); this class is the
// socket around it: it reads frames in batches with each connection's SO_PEERCRED
// credentials (libzmq's "Peer-Address" property on ipc://), hands them to the session, and
// sends the session's replies. ZMQ_MAXMSGSIZE drops oversized messages (the peer is
// disconnected by ZeroMQ and counted through the socket monitor). The collector's user is
// the owner of options.collector_state_dir (stat'ed here for the session).
// Thread-safety: not thread-safe; owned by shipperd's ingest thread. stats() may be called
// from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "shared/buffer/record_buffer.h"
#include "shipperd/ingest/ingest_session.h"

namespace pgagent {

struct IngestOptions {
  // Directory of the socket; created if missing (0750).
  std::string runtime_dir;
  // Mode of the socket file.
  unsigned socket_mode = 0660;
  // ZMQ_MAXMSGSIZE of the receiving socket.
  int64_t max_message_bytes = 8 * 1024 * 1024;
  // Most records stored in one buffer transaction.
  size_t max_batch_records = 256;
  // Peers not heard from for this long are forgotten (they must say Hello again).
  std::chrono::seconds peer_idle_timeout{120};
  // Most peers remembered at once.
  size_t max_peers = 64;
  // collectord's state directory ([agent] state_dir): its owner is the collector's user, the
  // one user besides root and shipperd's own that may send. Empty: root and shipperd's user.
  std::string collector_state_dir;
};

class IngestServer {
 public:
  // Binds the socket (removing a stale socket file first) and sets its mode.
  // Errors: kUnavailable / kPermissionDenied naming the path.
  // REQUIRES: buffer and clock outlive the server.
  static Result<std::unique_ptr<IngestServer>> Bind(const IngestOptions& options,
                                                    RecordBuffer& buffer, const Clock& clock);
  ~IngestServer();
  IngestServer(const IngestServer&) = delete;
  IngestServer& operator=(const IngestServer&) = delete;

  // Waits up to `timeout` for frames, then handles everything that arrived (records in
  // batched buffer transactions). Returns an error only for a buffer failure (the records
  // were not acknowledged and will be resent by the collector).
  Status Poll(std::chrono::milliseconds timeout);

  IngestStats stats() const;
  const std::string& endpoint() const { return endpoint_; }

 private:
  IngestServer(const IngestOptions& options, RecordBuffer& buffer, const Clock& clock);
  Status Setup();
  std::vector<IngestFrame> ReceiveBatch(std::chrono::milliseconds timeout);
  void Send(const IngestReply& reply);
  void DrainMonitor();

  IngestOptions options_;
  std::string endpoint_;
  std::string socket_path_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
  IngestSession session_;
};

}  // namespace pgagent
