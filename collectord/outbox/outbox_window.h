// The collector's side of the IPC protocol as a pure state machine: which records wait to
// be sent, which are in flight (sent, not yet acknowledged), when to say Hello, resend or
// heartbeat. No sockets and no threads: ZmqOutbox (zmq_outbox.h) drives it with real
// frames; tests drive it with a FakeClock.
//
// Guarantees:
//  - A record gets its sequence number when it enters the in-flight window; numbers are
//    contiguous per boot id and shipperd stores a boot's records strictly in order, so its
//    high-water mark says exactly what is stored.
//  - In-flight records are never dropped: they are resent after a resync (Welcome), an ack
//    timeout or a HelloRequired, until acknowledged. If shipperd's high-water mark shows a
//    gap the window cannot fill (a rejected record), the window starts a new boot id and
//    renumbers what it still holds.
//  - Only snapshots waiting to be sent (not yet numbered) are dropped under backpressure,
//    oldest first, and counted. Log records are never dropped: CanAcceptLog() turns false
//    and the log reader pauses.
// Thread-safety: not thread-safe; owned by the collector's main loop thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/ipc_frame.h"
#include "common/status.h"
#include "pgagent/v1/ipc.pb.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

struct OutboxOptions {
  // In-flight window: records sent and not yet acknowledged.
  size_t max_inflight_bytes = 16 * 1024 * 1024;
  size_t max_inflight_records = 4096;
  // Snapshots waiting for room in the window; beyond this the oldest is dropped.
  size_t max_pending_snapshot_bytes = 16 * 1024 * 1024;
  // Log records waiting for room; at this count CanAcceptLog() is false.
  size_t max_pending_log_records = 4;
  // Largest record accepted (must stay below shipperd's ZMQ_MAXMSGSIZE).
  int64_t max_record_bytes = kDefaultMaxIpcMessageBytes - 64 * 1024;
  // No acknowledgement progress for this long while records are in flight -> resync.
  std::chrono::milliseconds ack_timeout{5000};
  // A heartbeat is sent after this much silence.
  std::chrono::milliseconds heartbeat_interval{1000};
  // Nothing heard from shipperd for this long (heartbeats included): the peer counts as
  // down (PeerAlive() false) until it answers again.
  std::chrono::milliseconds peer_timeout{5000};
};

struct OutboxStats {
  uint64_t offered = 0;
  uint64_t sent = 0;      // record frames sent, resends included
  uint64_t resent = 0;    // record frames sent more than once
  uint64_t acked = 0;
  uint64_t dropped_snapshots = 0;  // backpressure drops (never logs)
  uint64_t dropped_oversize = 0;   // records larger than max_record_bytes
  uint64_t rejected = 0;           // records shipperd refused for good
  uint64_t hellos = 0;
  uint64_t resyncs = 0;    // Welcome/HelloRequired/ack timeouts that caused a resend
  uint64_t new_boots = 0;  // unrecoverable gaps that started a new boot id
  uint64_t stale_welcomes = 0;  // Welcomes answering an earlier Hello, ignored
  uint64_t inflight_records = 0;
  uint64_t inflight_bytes = 0;
  uint64_t pending_records = 0;
  uint64_t pending_log_records = 0;
};

class OutboxWindow {
 public:
  // new_boot_id: returns a fresh unique boot id (a UUID); called once now and again on
  // every unrecoverable gap. REQUIRES: clock outlives this object.
  OutboxWindow(OutboxOptions options, const Clock& clock,
               std::function<std::string()> new_boot_id);
  OutboxWindow(const OutboxWindow&) = delete;
  OutboxWindow& operator=(const OutboxWindow&) = delete;

  // Queues a record (its id is assigned later). Errors: kInvalidArgument when larger than
  // max_record_bytes (dropped, counted); kResourceExhausted for a log record while
  // CanAcceptLog() is false (not queued: the caller keeps it and retries later).
  Status Offer(pgagent::v1::Record record);
  bool CanAcceptLog() const;

  // Produces the frames due now (Hello, records, heartbeat) and hands each to `send`,
  // which returns false when the frame could not be sent (no peer, queue full); the
  // window then stops and retries later.
  void Pump(const std::function<bool(const std::string& frame_bytes)>& send);

  // Handles one frame from shipperd. Returns the records acknowledged by it (moved out),
  // oldest first, so the caller can commit log offsets.
  std::vector<pgagent::v1::Record> OnFrame(const pgagent::v1::Frame& frame);

  const std::string& boot_id() const { return boot_id_; }
  // False when shipperd has not answered anything (not even a heartbeat) within
  // peer_timeout: a dead or hung peer is noticed even while no record is in flight.
  bool PeerAlive() const;
  OutboxStats stats() const;
  // True when nothing is pending or in flight.
  bool Idle() const { return inflight_.empty() && pending_.empty(); }

 private:
  enum class State { kNeedHello, kAwaitWelcome, kReady };
  struct InFlight {
    uint64_t seq = 0;
    pgagent::v1::Record record;
    size_t bytes = 0;
    bool sent = false;
    int sends = 0;
  };

  bool PumpHello(const std::function<bool(const std::string&)>& send);
  void FillWindow();
  bool PumpRecords(const std::function<bool(const std::string&)>& send);
  void PumpHeartbeat(const std::function<bool(const std::string&)>& send);
  void CheckAckTimeout();
  std::vector<pgagent::v1::Record> AckUpTo(uint64_t hwm);
  void OnWelcome(const pgagent::v1::Welcome& welcome, std::vector<pgagent::v1::Record>* acked);
  void OnReject(const pgagent::v1::Reject& reject);
  void Resync();
  // Renumbers the window under a fresh boot id; logs `why` and the seq it concerns.
  void StartNewBoot(const char* why, uint64_t seq);
  void DropOldestPendingSnapshot();

  OutboxOptions options_;
  const Clock& clock_;
  std::function<std::string()> new_boot_id_;
  std::string boot_id_;
  uint64_t next_seq_ = 1;
  uint64_t hello_nonce_ = 0;
  State state_ = State::kNeedHello;
  std::deque<pgagent::v1::Record> pending_;  // not numbered yet, FIFO
  size_t pending_snapshot_bytes_ = 0;
  size_t pending_logs_ = 0;
  std::deque<InFlight> inflight_;  // contiguous seqs, oldest first
  size_t inflight_bytes_ = 0;
  std::chrono::steady_clock::time_point hello_sent_at_{};
  std::chrono::steady_clock::time_point last_progress_{};
  std::chrono::steady_clock::time_point last_sent_{};
  std::chrono::steady_clock::time_point last_heard_{};
  OutboxStats stats_;
};

}  // namespace pgagent
