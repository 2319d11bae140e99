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
//
// Who may send (only collectord can speak for collectord's boot): every message carries the
// SO_PEERCRED credentials of its connection (libzmq's "Peer-Address" property on ipc://).
// Frames are handled only from root, shipperd's own user, or the owner of collectord's state
// directory (options.collector_state_dir, created for the collector's user); anyone else who
// can connect to the socket file (a member of its group) gets a Reject, is counted
// (refused_frames) and logged once per process. So a foreign process can neither say Hello
// with the collector's boot id nor inject records.
//
// A record the buffer can never hold (larger than its cap: kResourceExhausted from Append)
// does not block the records behind it: the batch is stored record by record, the unstorable
// one is dead-lettered (pgagentctl deadletter list shows it) and acknowledged, counted and
// logged. The config loader refuses caps the largest record cannot fit, so this is a last line
// of defence.
// Thread-safety: not thread-safe; owned by shipperd's ingest thread. stats() may be called
// from any thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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
  // collectord's state directory ([agent] state_dir): its owner is the collector's user, the
  // one user besides root and shipperd's own that may send. Empty: root and shipperd's user.
  std::string collector_state_dir;
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
  uint64_t refused_frames = 0;      // from a process that is not the collector (SO_PEERCRED)
  uint64_t unstorable_records = 0;  // larger than the buffer cap: dead-lettered, acknowledged
  uint64_t unstorable_dropped = 0;  // ... and too large for the dead-letter store too
};

// SO_PEERCRED of an ipc:// connection.
struct IpcPeerCredentials {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
};

// Parses libzmq's "Peer-Address" message property of an ipc:// peer, "<addr>:<uid>:<gid>:<pid>".
// nullopt when it does not end in three numbers (credentials unknown: the peer is refused).
std::optional<IpcPeerCredentials> ParseIpcPeerAddress(std::string_view property);

// Whether a peer running as peer_uid may send to the shipperd running as self_uid: root,
// shipperd's own user, or the collector's user (when known).
bool IngestPeerAllowed(uid_t peer_uid, uid_t self_uid, std::optional<uid_t> collector_uid);

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
    std::optional<IpcPeerCredentials> peer;  // nullopt: unknown, refused
  };

  IngestServer(const IngestOptions& options, RecordBuffer& buffer, const Clock& clock);
  Status Setup();
  std::vector<Incoming> ReceiveBatch(std::chrono::milliseconds timeout);
  Status HandleBatch(std::vector<Incoming>& batch);
  // False (and the frame is answered with a Reject, counted and logged) for a sender that is
  // not the collector.
  bool Authorized(const Incoming& in, std::set<std::string>& refused_in_batch);
  std::optional<uid_t> CollectorUid();
  // Appends records; when the batch holds a record larger than the buffer cap, stores them one
  // by one and dead-letters the unstorable ones. Errors: other storage failures.
  Status Store(const std::vector<pgagent::v1::Record>& records);
  Status StoreOneByOne(const std::vector<pgagent::v1::Record>& records);
  Status DeadLetterUnstorable(const pgagent::v1::Record& record, const Status& why);
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
  uid_t self_uid_;
  std::optional<uid_t> collector_uid_;
  std::optional<std::chrono::steady_clock::time_point> collector_uid_checked_;
  std::set<pid_t> refused_pids_logged_;  // bounded: cleared when large
  struct AtomicStats;
  std::unique_ptr<AtomicStats> stats_;
};

}  // namespace pgagent
