// shipperd's side of the IPC protocol (proto/pgagent/v1/ipc.proto) as a pure state machine:
// frames in, records stored into the RecordBuffer and reply frames out. No sockets and no
// threads: IngestServer (ingest_server.h) drives it with the frames of a ZeroMQ ROUTER; tests
// drive it with FakeRecordBuffer and FakeClock. The collector's counterpart is OutboxWindow.
//
// Rules:
//  - A collector says Hello (boot id, protocol version) and gets Welcome (its boot id's
//    high-water mark in the buffer). Records of one boot id are stored strictly in seq order:
//    seq <= hwm is a duplicate (acknowledged, not stored again); seq == hwm + 1 is stored;
//    seq > hwm + 1 means a record went missing, and a Welcome resynchronises the collector
//    (the rest of that peer's batch is ignored until it resends in order).
//  - Records from a peer that has not said Hello (or was forgotten) get HelloRequired, once
//    per batch. Malformed frames, unknown protocol versions and invalid records (including a
//    record whose id does not match its frame or its peer's Hello) are rejected and counted,
//    never a crash.
//  - Who may send: only frames whose SO_PEERCRED uid is root, shipperd's own user or the
//    collector's user (the owner of collectord's state directory, looked up through the
//    injected `collector_uid` at most once a second) are handled. Anyone else gets a Reject
//    (once per batch), is counted (refused_frames) and logged once per pid.
//  - A record the buffer can never hold (kResourceExhausted) does not block the ones behind
//    it: the batch is stored record by record and the unstorable one dead-lettered.
//  - Acks carry the peer's high-water mark after the batch, and are only produced once the
//    batch's records are durable: on a buffer failure HandleBatch returns the error and no
//    Ack (the collector resends after its ack timeout).
// Thread-safety: not thread-safe; owned by shipperd's ingest thread. stats() may be called
// from any thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "pgagent/v1/ipc.pb.h"
#include "shared/buffer/record_buffer.h"

namespace pgagent {

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

// One frame as it arrived: the routing id of its connection, its bytes (empty for a message
// with extra parts, which is not part of the protocol) and its connection's credentials.
struct IngestFrame {
  std::string peer_id;
  std::string bytes;
  std::optional<IpcPeerCredentials> credentials;  // nullopt: unknown, refused
};

// One frame to send back to the connection `peer_id`.
struct IngestReply {
  std::string peer_id;
  pgagent::v1::Frame frame;
};

struct IngestSessionOptions {
  // Frames larger than this are malformed (the socket's ZMQ_MAXMSGSIZE drops them earlier).
  int64_t max_message_bytes = 8 * 1024 * 1024;
  // Peers not heard from for this long are forgotten (they must say Hello again).
  std::chrono::seconds peer_idle_timeout{120};
  // Most peers remembered at once.
  size_t max_peers = 64;
  // shipperd's own effective uid.
  uid_t self_uid = 0;
  // For the journal line of a refused peer only: where the collector's uid comes from.
  std::string collector_state_dir;
};

class IngestSession {
 public:
  // The collector's uid (the owner of its state directory) or nullopt while unknown; called at
  // most once a second, only while checking a sender. Empty: only root and self_uid may send.
  using CollectorUidLookup = std::function<std::optional<uid_t>()>;

  // REQUIRES: buffer and clock outlive the session.
  IngestSession(const IngestSessionOptions& options, RecordBuffer& buffer, const Clock& clock,
                CollectorUidLookup collector_uid);
  ~IngestSession();
  IngestSession(const IngestSession&) = delete;
  IngestSession& operator=(const IngestSession&) = delete;

  // Handles the frames that arrived together: records are stored in batched buffer
  // transactions, and the frames to send back are appended to `replies` in the order they are
  // to be sent (also when an error is returned). Returns an error only for a buffer failure:
  // the batch's records were not acknowledged and the collector resends them.
  Status HandleBatch(std::vector<IngestFrame>& batch, std::vector<IngestReply>* replies);

  // Forgets peers idle for longer than peer_idle_timeout and the oldest beyond max_peers.
  void ForgetIdlePeers();
  // The socket saw a connection go away.
  void NoteDisconnect();

  IngestStats stats() const;

 private:
  struct Peer {
    std::string boot_id;
    uint64_t hwm = 0;
    uint64_t hello_nonce = 0;
    std::chrono::steady_clock::time_point last_seen;
  };
  // What one batch has decided so far: one answer per peer per batch.
  struct BatchState {
    std::vector<pgagent::v1::Record> to_store;
    std::map<std::string, uint64_t> next_hwm;  // peer id -> hwm after this batch
    std::set<std::string> resynced, told_hello, refused;
    std::vector<IngestReply>* replies = nullptr;
  };
  struct AtomicStats;

  void HandleFrame(IngestFrame& in, BatchState& batch);
  void HandleRecord(const std::string& peer_id, pgagent::v1::RecordFrame& rf, Peer& peer,
                    BatchState& batch);
  void HandleHello(const std::string& peer_id, const pgagent::v1::Hello& hello, BatchState& batch);
  void AckBatch(BatchState& batch);
  // False (and the frame is answered with a Reject, counted and logged) for a sender that is
  // not the collector.
  bool Authorized(const IngestFrame& in, BatchState& batch);
  void LogRefused(const IngestFrame& in);
  std::optional<uid_t> CollectorUid();
  // Appends records; when the batch holds a record larger than the buffer cap, stores them one
  // by one and dead-letters the unstorable ones. Errors: other storage failures.
  Status Store(const std::vector<pgagent::v1::Record>& records);
  Status StoreOneByOne(const std::vector<pgagent::v1::Record>& records);
  // Counts what an Append stored; its error (a buffer failure) is counted and returned.
  Status Counted(const Result<AppendOutcome>& outcome);
  Status DeadLetterUnstorable(const pgagent::v1::Record& record, const Status& why);

  IngestSessionOptions options_;
  RecordBuffer& buffer_;
  const Clock& clock_;
  CollectorUidLookup collector_uid_lookup_;
  std::map<std::string, Peer> peers_;  // by ZeroMQ routing id
  std::optional<uid_t> collector_uid_;
  std::optional<std::chrono::steady_clock::time_point> collector_uid_checked_;
  std::set<pid_t> refused_pids_logged_;  // bounded: cleared when large
  std::unique_ptr<AtomicStats> stats_;
};

}  // namespace pgagent
