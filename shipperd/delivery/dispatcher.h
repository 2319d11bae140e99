// Moves records from the durable buffer to the Bitville listener, one request at a time,
// within the request budget and behind the circuit breaker. A record leaves the buffer
// only when every envelope made from it was accepted (2xx) or dead-lettered (a permanent
// rejection); transient failures retry the same envelope, so nothing is lost and an
// outage costs only duplicates of a partly sent record (at-least-once).
//
// Outcomes: 2xx next envelope; 429 pause for Retry-After (not a breaker failure);
// 400 and other permanent 4xx dead-letter the envelope and go on; 401/403 keep everything,
// open the breaker and log the likely cause; 413 split the envelope by rows if it has more
// than one, else dead-letter; 408, 5xx, timeouts, connection errors count toward the breaker.
// Removal: one buffer transaction (two fsyncs) per delivered record would cap a drain at
// the disk's sync rate (about 85 transactions/s measured here) and, in steady state, add a
// sync per record to the disk the database's WAL is on. So delivered records are removed
// in batches: remove_batch records, or remove_delay after the first of them was delivered
// (also when the queue is empty meanwhile), or as soon as the dispatcher waits for the
// budget or the breaker, and by the destructor and Reconfigure(). Until then they are
// skipped when reading the buffer. A crash before the removal re-sends them (at most
// remove_delay's worth in steady state): a duplicate, never a loss.
// Consecutive pg_log records at the head are coalesced into fuller envelopes (bounded by
// max_envelope_bytes), so a log backlog costs few requests.
//
// Order (live first). Records go out oldest first, except during a backlog when live_first
// is on: a long outage leaves hours of records at the head, and sending them strictly FIFO
// would keep the listener's view stale (and its alerting blind) until the whole backlog had
// drained. So:
//  - Backlogged = the head record was collected more than `backlog_age` ago (by this
//    clock's wall time). Only the head's age is used: it is what delays live data, and it is
//    read from the head Peek() that happens anyway (a depth count would cost a scan).
//  - Live = collected at most `live_age` ago (a future collected_at counts as live).
//  - While backlogged, each time the dispatcher picks its next work it looks at the newest
//    `live_peek` records (RecordBuffer::PeekNewest) and, if any of them is a live
//    activity, statements, system or health snapshot, sends the OLDEST such live snapshot
//    (alone) before the head; otherwise the head goes, as usual. Snapshots are
//    self-contained and timestamped, so the listener does not depend on their order.
//  - pg_log records never jump the queue: their order matters (a log line is read after the
//    line before it), and they are coalesced from the head. A live log batch waits its turn.
//  - Everything else is unchanged: one request at a time through the same budget and
//    breaker, so live-first never adds requests; it only changes which record is next. The
//    backlog drains with what the live stream leaves of the budget (about 5 + correlation
//    envelopes per minute at the default 60 s interval).
// When the backlog's head becomes younger than backlog_age, the order is FIFO again.
// Thread-safety: Step() and everything else except stats() belong to one thread (shipperd's
// delivery thread). stats() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "shipperd/buffer/record_buffer.h"
#include "shipperd/delivery/circuit_breaker.h"
#include "shipperd/delivery/envelope_encoder.h"
#include "shipperd/delivery/request_budget.h"
#include "shipperd/delivery/transport.h"

namespace pgagent {

struct DispatcherOptions {
  std::string url;
  std::string api_key;  // never logged
  std::string project_id = "default";
  int requests_per_minute = 80;
  // Most per-correlation envelopes made from one record.
  size_t correlation_budget_per_record = 20;
  // Requests per minute kept free for aggregates when deciding the correlation budget.
  int aggregate_reserve_per_minute = 10;
  size_t max_envelope_bytes = 1024 * 1024;
  // Records looked at per buffer read.
  size_t peek_batch = 64;
  BreakerOptions breaker;
  // Live first (see the top of this file). [listener] live_first.
  bool live_first = true;
  // A record collected at most this long ago is live.
  std::chrono::seconds live_age{120};
  // The queue is backlogged when its head was collected longer ago than this.
  std::chrono::seconds backlog_age{300};
  // Newest records looked at per pick while backlogged.
  size_t live_peek = 32;
  // Batched removal of delivered records (see the top of this file).
  size_t remove_batch = 256;
  std::chrono::milliseconds remove_delay{1000};
};

struct DispatcherStats {
  uint64_t requests_sent = 0;
  uint64_t requests_ok = 0;
  uint64_t requests_failed = 0;  // transient failures (connect, timeout, 5xx, 408)
  uint64_t requests_429 = 0;
  uint64_t auth_failures = 0;
  uint64_t dead_lettered = 0;
  uint64_t split_413 = 0;
  uint64_t records_delivered = 0;
  uint64_t correlation_envelopes = 0;
  uint64_t unlinked_correlation_ids = 0;
  uint64_t encode_errors = 0;
  uint64_t coalesced_log_records = 0;
  uint64_t live_first_records = 0;  // live snapshots sent ahead of a backlog
  uint64_t breaker_opens = 0;
  std::string breaker_state = "closed";
  int last_status = 0;
  std::string last_error;
  double last_success_unix_s = 0;
};

class Dispatcher {
 public:
  // REQUIRES: buffer, transport and clock outlive the dispatcher.
  Dispatcher(DispatcherOptions options, RecordBuffer& buffer, Transport& transport,
             const Clock& clock, std::function<double()> random01);
  // Removes the delivered records still pending removal (errors ignored: re-sent later).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Sends at most one request. Returns how long the caller should wait before calling
  // again: zero when more work is ready now.
  std::chrono::milliseconds Step();

  DispatcherStats stats() const;
  BreakerState breaker_state() const { return breaker_.state(); }
  // Applies new url/key/budget (SIGHUP). The envelope in progress is re-encoded.
  void Reconfigure(const DispatcherOptions& options);

 private:
  struct Work {
    std::vector<uint64_t> keys;  // buffer keys of the records this work came from
    pgagent::v1::Record first;   // for dead letters
    std::vector<Envelope> envelopes;
    size_t next = 0;
    bool live = false;  // a live snapshot sent ahead of the head
  };

  Status LoadWork();
  // The records of the next work: a live snapshot when live-first applies, else the head
  // (with the consecutive logs after it). Empty when the buffer is empty.
  Result<std::vector<BufferedItem>> NextRecords(bool& live);
  std::vector<BufferedItem> ChooseRecords(std::vector<BufferedItem>& items) const;
  // The oldest live non-log record among the newest live_peek records with a key above
  // head_key; nullopt when there is none.
  Result<std::optional<BufferedItem>> OldestLiveSnapshot(uint64_t head_key);
  // Age of a record's collected_at by the clock's wall time (negative when in the future).
  std::chrono::system_clock::duration Age(const pgagent::v1::Record& record) const;
  size_t CorrelationBudget() const;
  std::chrono::milliseconds Send();
  void OnAccepted();
  void OnPermanentRejection(const HttpResponse& response);
  void OnTooLarge(const HttpResponse& response);
  void OnAuthFailure(int status);
  std::chrono::milliseconds OnTransient(const std::string& error);
  std::chrono::milliseconds OnConfigurationError(const Status& error);
  void FinishIfDone();
  // Removes the delivered records from the buffer in one transaction.
  void FlushRemovals();
  // The wait when there is nothing to send: flushes pending removals once remove_delay has
  // passed, else returns the time until then (at most the idle poll interval).
  std::chrono::milliseconds IdleWait();
  // Drops the items already delivered (pending removal).
  void SkipDelivered(std::vector<BufferedItem>& items) const;
  void UpdateStats(const std::function<void(DispatcherStats&)>& update);

  DispatcherOptions options_;
  RecordBuffer& buffer_;
  Transport& transport_;
  const Clock& clock_;
  EnvelopeEncoder encoder_;
  CircuitBreaker breaker_;
  RequestBudget budget_;
  std::optional<Work> work_;
  // Delivered, removal pending (batched); since when the oldest has waited.
  std::set<uint64_t> delivered_;
  std::chrono::steady_clock::time_point delivered_since_{};
  // Every key <= this was delivered from the head since the last flush: reads start after
  // it, so pending removals cost no decoding. Live keys pending: live_pending_.
  uint64_t head_delivered_through_ = 0;
  size_t live_pending_ = 0;
  bool auth_error_logged_ = false;
  mutable std::mutex stats_mu_;
  DispatcherStats stats_;
};

}  // namespace pgagent
