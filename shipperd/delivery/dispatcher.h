// Moves records from the durable buffer to the Bitville listener within its request budget
// (100 requests per minute per IP; we keep requests_per_minute, 80 by default) and behind
// the circuit breaker. Requests are the scarce resource, so every request carries as much as
// it usefully can, and each one is spent where it matters most.
//
// What a request carries (EnvelopeEncoder):
//  - an aggregate: the records of ONE listener source coalesced (activity snapshots,
//    statement snapshots, host metrics + agent health, log batches), up to
//    max_envelope_bytes;
//  - a correlation row: one PHP request with its id at the top level (CorrelationStore).
// Which request goes next, each time one may be sent (the planner, Plan()):
//  1. a live correlation row (its latest record is at most live_age old), highest score
//     first, once it has settled (correlation_settle without a merge, or correlation_max_wait
//     after it was first stored), so that one request carries a request's sessions and its
//     log lines together;
//  2. a live aggregate that is due: its oldest record waited aggregate_interval, or it is
//     full. While the buffer is backlogged (its head is older than live_age) live snapshots
//     are taken from the newest records (RecordBuffer::PeekNewest) ahead of the backlog;
//     pg_log records never jump the queue (their order matters);
//  3. a correlation row from the backlog;
//  4. the backlog: the head's source, coalesced, oldest first.
// The RequestBudget decides whether a kind may go now (shares with borrowing); a request
// the budget does not allow is not sent, so the listener never has a reason to refuse one.
// A record leaves the buffer only when every envelope made from it was accepted (2xx) or
// dead-lettered (a permanent rejection); transient failures retry the same envelope, so
// nothing is lost and an outage costs only duplicates (at-least-once).
//
// Outcomes: 2xx next envelope; 429 pause for Retry-After (bounded by the breaker's maximum
// cooldown; not a breaker failure) and adapt the limit; 400 and other permanent 4xx
// dead-letter the work (every record of it, once) and go on; 401/403 keep everything, open
// the breaker and log the likely cause; 404/405 (a wrong [listener] url path) the same; 413
// halve what one request coalesces, or split a single record's envelope by rows, else
// dead-letter; 408, 5xx, timeouts, connection errors count toward the breaker.
// Removal: delivered records are removed in batches (remove_batch records, or remove_delay
// after the first, or when the dispatcher waits, and by the destructor and Reconfigure());
// until then they are passed over when reading, without being read: the head is read in
// the runs of keys between them (PeekUndelivered). A crash before the removal re-sends them (at
// most remove_delay's worth in steady state): a duplicate, never a loss.
// Thread-safety: Step() and everything else except stats() belong to one thread (shipperd's
// delivery thread). stats() may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "shared/buffer/correlation_store.h"
#include "shared/buffer/record_buffer.h"
#include "shipperd/delivery/circuit_breaker.h"
#include "shared/listener/envelope_encoder.h"
#include "shipperd/delivery/request_budget.h"
#include "shared/listener/transport.h"

namespace pgagent {

struct DispatcherOptions {
  std::string url;
  std::string api_key;  // never logged
  std::string project_id = "default";
  BudgetOptions budget;
  size_t max_envelope_bytes = 1024 * 1024;
  BreakerOptions breaker;
  // Live first (see the top of this file). [listener] live_first.
  bool live_first = true;
  // A record collected at most this long ago is live; an older head means a backlog.
  std::chrono::seconds live_age{120};
  // Live snapshots of one source wait this long to go out together. [listener]
  // aggregate_interval_s.
  std::chrono::seconds aggregate_interval{15};
  // Records looked at per read of the head, and newest records looked at while backlogged.
  size_t peek_records = 512;
  size_t live_peek = 64;
  // A correlation row goes once nothing was merged into it for this long, or at the latest
  // this long after it was first stored.
  std::chrono::milliseconds correlation_settle{2000};
  std::chrono::milliseconds correlation_max_wait{20000};
  // Batched removal of delivered records (see the top of this file).
  size_t remove_batch = 256;
  std::chrono::milliseconds remove_delay{1000};
};

struct DispatcherStats {
  uint64_t requests_sent = 0;
  uint64_t requests_ok = 0;
  uint64_t requests_failed = 0;  // transient failures (connect, timeout, 5xx, 408)
  uint64_t requests_429 = 0;
  std::array<uint64_t, kRequestClasses> requests_by_class{};
  uint64_t auth_failures = 0;
  uint64_t config_errors = 0;  // 404/405, TLS refused, bad URL
  uint64_t dead_lettered = 0;
  uint64_t split_413 = 0;
  uint64_t records_delivered = 0;
  uint64_t correlation_rows_sent = 0;
  uint64_t encode_errors = 0;
  uint64_t coalesced_records = 0;  // records that shared a request with others
  uint64_t live_first_records = 0;  // live snapshots sent ahead of a backlog
  uint64_t retry_after_clamped = 0;
  uint64_t breaker_opens = 0;
  std::string breaker_state = "closed";
  int last_status = 0;
  std::string last_error;
  double last_success_unix_s = 0;
  int effective_limit = 0;
};

class Dispatcher {
 public:
  // `correlations` and `request_log` may be null (no correlation rows; the budget starts
  // empty). REQUIRES: buffer, correlations, transport, clock and request_log outlive the
  // dispatcher.
  Dispatcher(DispatcherOptions options, RecordBuffer& buffer, CorrelationStore* correlations,
             Transport& transport, const Clock& clock, std::function<double()> random01,
             RequestLog* request_log = nullptr);
  // Removes the delivered records still pending removal (errors ignored: re-sent later).
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Sends at most one request. Returns how long the caller should wait before calling
  // again: zero when more work is ready now.
  std::chrono::milliseconds Step();

  DispatcherStats stats() const;
  BreakerState breaker_state() const { return breaker_.state(); }
  // Applies new url/key/budget (SIGHUP). The work in progress is planned again.
  void Reconfigure(const DispatcherOptions& options);

 private:
  struct Work {
    RequestClass kind = RequestClass::kBacklog;
    std::vector<uint64_t> keys;                // buffer keys of the records
    uint64_t stored_bytes = 0;                 // their bytes as the buffer accounts them
    std::vector<pgagent::v1::Record> records;  // for a dead letter
    std::vector<Envelope> envelopes;
    size_t next = 0;
    std::optional<std::string> correlation_id;  // a correlation row
    uint32_t merges = 0;
    bool live_first = false;                // live snapshots sent ahead of a backlog
    std::optional<DeadLetter> rejected;     // the first permanent rejection
  };
  // A group of buffered records of one source, in key order.
  struct Group {
    std::vector<BufferedItem> items;
    uint64_t bytes = 0;
  };
  struct Candidates {
    std::optional<CorrelationHeader> correlation;
    bool correlation_live = false;
    std::optional<Group> live;
    bool live_ahead_of_backlog = false;
    std::optional<Group> backlog;
    // When something not due yet becomes due (for the idle wait).
    std::optional<std::chrono::system_clock::time_point> next_due;
  };

  // Chooses and encodes the next work; returns the wait when there is none to send now.
  Result<std::optional<std::chrono::milliseconds>> Plan();
  Status FindCorrelation(Candidates& c);
  Status FindAggregates(Candidates& c);
  // Groups by source, in order of each source's first key, each bounded by group_bytes_.
  std::vector<Group> GroupBySource(std::vector<BufferedItem>& items) const;
  bool Due(const Group& group, Candidates& c) const;
  Result<std::optional<Group>> LiveAheadOfBacklog(uint64_t head_key, Candidates& c);
  Status LoadCorrelation(const CorrelationHeader& header);
  Status LoadAggregate(Group group, RequestClass kind, bool live_first);
  // Age of a record's collected_at by the clock's wall time (negative when in the future).
  std::chrono::system_clock::duration Age(const pgagent::v1::Record& record) const;
  std::chrono::milliseconds Send();
  void OnAccepted();
  void OnRefused(const HttpResponse& response);
  void OnPermanentRejection(const HttpResponse& response);
  void OnTooLarge(const HttpResponse& response);
  std::chrono::milliseconds OnAuthFailure(int status);
  std::chrono::milliseconds OnTransient(const std::string& error);
  std::chrono::milliseconds OnConfigurationError(const std::string& error, const char* hint);
  void FinishIfDone();
  void FinishCorrelation();
  void NoteBreakerTransition(BreakerState before);
  void SaveRequestLog();
  void LogMinute();
  // Removes the delivered records from the buffer in one transaction.
  void FlushRemovals();
  // The wait when there is nothing to send: flushes pending removals once remove_delay has
  // passed, else returns the time until then (at most `most`).
  std::chrono::milliseconds IdleWait(std::chrono::milliseconds most);
  // Drops the items already delivered (pending removal).
  void SkipDelivered(std::vector<BufferedItem>& items) const;
  // The head of the buffer (oldest first, bounded by peek_records and 2 * group_bytes_)
  // without the delivered records pending removal, which are not read at all: keys are
  // integers, so the records between two delivered keys a and b are at most b - a - 1 and
  // one Peek after a with that limit reads all of them (and what it reads past b is
  // dropped there, to be read after the run). Past kMaxPeekSeeks runs the rest is
  // read in one Peek and filtered (SkipDelivered).
  Result<std::vector<BufferedItem>> PeekUndelivered();
  void UpdateStats(const std::function<void(DispatcherStats&)>& update);

  DispatcherOptions options_;
  RecordBuffer& buffer_;
  CorrelationStore* correlations_;
  Transport& transport_;
  const Clock& clock_;
  RequestLog* request_log_;
  EnvelopeEncoder encoder_;
  CircuitBreaker breaker_;
  RequestBudget budget_;
  std::optional<Work> work_;
  // Most stored bytes one aggregate coalesces (halved by a 413, restored after successes).
  uint64_t group_bytes_;
  int successes_since_413_ = 0;
  // Delivered, removal pending (batched); since when the oldest has waited.
  std::set<uint64_t> delivered_;
  uint64_t delivered_bytes_ = 0;
  // No record with a key at or below this one exists any more (keys only grow): where
  // PeekUndelivered starts, so that removed keys do not count in its Peek limits.
  uint64_t head_floor_ = 0;
  std::chrono::steady_clock::time_point delivered_since_{};
  std::chrono::steady_clock::time_point breaker_opened_at_{};
  std::chrono::steady_clock::time_point next_minute_log_{};
  DispatcherStats minute_base_;
  uint64_t minute_linked_base_ = 0, minute_seen_base_ = 0, minute_evicted_base_ = 0;
  bool config_error_logged_ = false;
  mutable std::mutex stats_mu_;
  DispatcherStats stats_;
};

}  // namespace pgagent
