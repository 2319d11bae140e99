// shipperd's end of the IPC handoff: a ZeroMQ ROUTER bound at
// ipc://<runtime_dir>/ingest.sock (socket file mode 0660), receiving records from
// collectord and acknowledging each one only after RecordBuffer::Append() made it durable.
//
// Protocol (proto/pgagent/v1/ipc.proto): a collector says Hello (boot id, protocol
// version) and gets Welcome (its boot id's high-water mark). Records of one boot id are
// stored strictly in seq order: seq <= hwm is a duplicate (acknowledged, not stored again);
// seq == hwm + 1 is stored; seq > hwm + 1 means a record went missing, and a Welcome
// resynchronises the collector. Records from a peer that has not said Hello get
// HelloRequired. Malformed frames, unknown protocol versions and invalid records are
// rejected and counted, never a crash. ZMQ_MAXMSGSIZE drops oversized messages (the peer
// is disconnected by ZeroMQ and counted through the socket monitor).
// Thread-safety: not thread-safe; owned by shipperd's ingest thread. stats() may be called
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "pgagent/v1/ipc.pb.h"
#include "shipperd/buffer/record_buffer.h"

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
};

struct IngestStats {
  uint64_t frames = 0;
  uint64_t records_stored = 0;
  uint64_t duplicates = 0;
  uint64_t acks_sent = 0;
  uint64_t hellos = 0;
  uint64_t malformed_frames = 0;
  uint64_t bad_protocol_version = 0;
  uint64_t invalid_records = 0;
  uint64_t out_of_order = 0;
  uint64_t hello_required = 0;
  uint64_t buffer_errors = 0;
  uint64_t disconnects = 0;
  uint64_t peers = 0;
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
  struct Peer {
    std::string boot_id;
    uint64_t hwm = 0;
    uint64_t hello_nonce = 0;
    std::chrono::steady_clock::time_point last_seen;
  };
  struct Incoming {
    std::string identity;
    std::string bytes;
  };

  IngestServer(const IngestOptions& options, RecordBuffer& buffer, const Clock& clock);
  Status Setup();
  std::vector<Incoming> ReceiveBatch(std::chrono::milliseconds timeout);
  Status HandleBatch(std::vector<Incoming>& batch);
  void HandleHello(const std::string& identity, const pgagent::v1::Hello& hello);
  void Send(const std::string& identity, const pgagent::v1::Frame& frame);
  void DrainMonitor();
  void ForgetIdlePeers();

  IngestOptions options_;
  RecordBuffer& buffer_;
  const Clock& clock_;
  std::string endpoint_;
  std::string socket_path_;
  zmq::context_t context_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
  std::map<std::string, Peer> peers_;  // by ZeroMQ routing id
  struct AtomicStats;
  std::unique_ptr<AtomicStats> stats_;
};

}  // namespace pgagent
