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
// When backlogged, consecutive pg_log records are coalesced into fuller envelopes (bounded
// by max_envelope_bytes). Records go out oldest first.
// Thread-safety: Step() and everything else except stats() belong to one thread (shipperd's
// delivery thread). stats() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
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
  };

  Status LoadWork();
  std::vector<BufferedItem> ChooseRecords(std::vector<BufferedItem>& items) const;
  size_t CorrelationBudget() const;
  std::chrono::milliseconds Send();
  void OnAccepted();
  void OnPermanentRejection(const HttpResponse& response);
  void OnTooLarge(const HttpResponse& response);
  void OnAuthFailure(int status);
  std::chrono::milliseconds OnTransient(const std::string& error);
  std::chrono::milliseconds OnConfigurationError(const Status& error);
  void FinishIfDone();
  void UpdateStats(const std::function<void(DispatcherStats&)>& update);

  DispatcherOptions options_;
  RecordBuffer& buffer_;
  Transport& transport_;
  const Clock& clock_;
  EnvelopeEncoder encoder_;
  CircuitBreaker breaker_;
  RequestBudget budget_;
  std::optional<Work> work_;
  bool auth_error_logged_ = false;
  mutable std::mutex stats_mu_;
  DispatcherStats stats_;
};

}  // namespace pgagent
