// Keeps shipperd under the listener's rate limit (100 requests per minute per client IP,
// fixed 60 s windows) and shares the budget between three kinds of request:
//   correlation  one PHP request linked (a correlation row)         share: correlation_share
//   live         a coalesced aggregate of recent records            share: live_share
//   backlog      a coalesced aggregate of records older than live   share: the rest
// Rules, over a sliding 60 s log of send times (which also keeps every fixed 60 s window of
// the listener under the limit):
//  - never more than the effective limit in any 60 s span, and nothing at all until a 429's
//    Retry-After has passed;
//  - a kind below its share may always send (while the total fits);
//  - a kind at or above its share borrows only what the other kinds leave: a kind with work
//    waiting keeps its whole unused share, an idle correlation or live kind keeps
//    kIdleReserve requests of it, so that a PHP request seen a moment later is not held
//    back a whole minute by a backlog that borrowed everything.
//  - Adaptation: a 429 although the log had room means the listener counts more than this
//    process sends (another agent behind the same IP, a lower limit): the effective limit
//    drops to what was sent in the last 60 s minus one (at least kMinAdaptedLimit: one early
//    429 says little), and grows back by one per minute without a 429, up to per_minute.
// The log of send times survives restarts through a RequestLog (Save after every request,
// Restore at start), so a restart cannot double the rate.
// Thread-safety: not thread-safe; owned by the Dispatcher's thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace pgagent {

enum class RequestClass { kCorrelation = 0, kLive = 1, kBacklog = 2 };
inline constexpr size_t kRequestClasses = 3;
const char* RequestClassName(RequestClass c);  // "correlation", "live", "backlog"

struct BudgetOptions {
  int per_minute = 80;
  double correlation_share = 0.5;
  double live_share = 0.25;  // backlog: 1 - correlation_share - live_share
};

// Where the send times are kept across restarts. The real one is FileRequestLog
// (file_request_log.h); tests pass an in-memory one or none.
class RequestLog {
 public:
  virtual ~RequestLog() = default;
  // Unix milliseconds of the requests sent in the last minute (any order).
  virtual Result<std::vector<int64_t>> Load() = 0;
  virtual Status Save(const std::vector<int64_t>& sent_unix_ms) = 0;
};

class RequestBudget {
 public:
  static constexpr int kIdleReserve = 5;
  static constexpr int kMinAdaptedLimit = 10;

  // REQUIRES: clock outlives the budget.
  RequestBudget(BudgetOptions options, const Clock& clock);

  // True when a request of kind `c` may be sent now; `waiting` says which kinds have work.
  bool Allows(RequestClass c, const std::array<bool, kRequestClasses>& waiting) const;
  // Records a request of kind `c` sent now.
  void Record(RequestClass c);
  // How long until any request fits the effective limit (zero when one fits now).
  std::chrono::steady_clock::duration WaitTime() const;
  // A 429: no request until now + retry_after, and the effective limit adapts (see
  // Adaptation above). REQUIRES: the refused request was Record()ed.
  void OnRefused(std::chrono::steady_clock::duration retry_after);
  // Requests that could be sent now without waiting (any kind).
  int Available() const;
  int effective_limit() const {
    Recover();
    return effective_limit_;
  }
  int SentInWindow(RequestClass c) const;
  int SentInWindow() const;
  void set_options(const BudgetOptions& options);
  uint64_t acquired() const { return acquired_; }

  // Send times for a RequestLog, and back (entries older than a minute are dropped; times
  // in the future are taken as now).
  std::vector<int64_t> SentUnixMs() const;
  void Restore(const std::vector<int64_t>& sent_unix_ms);

 private:
  struct Sent {
    std::chrono::steady_clock::time_point at;
    RequestClass c;
  };
  void Expire() const;
  int Share(RequestClass c) const;
  void Recover() const;

  BudgetOptions options_;
  const Clock& clock_;
  mutable std::deque<Sent> sent_;
  std::chrono::steady_clock::time_point paused_until_{};
  mutable int effective_limit_;
  mutable std::chrono::steady_clock::time_point last_adjust_{};
  uint64_t acquired_ = 0;
};

}  // namespace pgagent
