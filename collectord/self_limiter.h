// collectord's own watchdog, in the spirit of osquery's: when the daemon's RSS or CPU share
// crosses the configured limits ([agent] max_rss_mb, max_cpu_percent), it sheds work —
// statement texts are no longer fetched and the sampling interval is doubled — until both
// have stayed below 80% of their limits for `recover_after` consecutive observations.
// A plain state machine fed one observation per cycle; the daemon applies its decisions and
// logs the transitions it reports.
// Thread-safety: not thread-safe; owned by the collector's worker thread.
#pragma once

#include <cstdint>
#include <string>

namespace pgagent {

struct SelfLimitOptions {
  uint64_t max_rss_bytes = 128ull << 20;  // 0 disables the RSS limit
  double max_cpu_percent = 20;            // of one core; 0 disables the CPU limit
  int recover_after = 3;                  // calm observations before shedding stops
  double recover_fraction = 0.8;
};

enum class SelfLimitChange { kNone, kStartedShedding, kStoppedShedding };

class SelfLimiter {
 public:
  explicit SelfLimiter(SelfLimitOptions options) : options_(options) {}

  // One observation per cycle. Returns what changed, if anything.
  SelfLimitChange Observe(uint64_t rss_bytes, double cpu_percent);

  bool shedding() const { return shedding_; }
  // Multiplier for the sampling interval (1 normally, 2 while shedding).
  int interval_multiplier() const { return shedding_ ? 2 : 1; }
  // Statement texts are fetched only when not shedding.
  bool fetch_statement_texts() const { return !shedding_; }
  // Which limit triggered the current shedding ("rss" or "cpu"), for the log line.
  const std::string& reason() const { return reason_; }
  uint64_t times_shed() const { return times_shed_; }

 private:
  SelfLimitOptions options_;
  bool shedding_ = false;
  int calm_ = 0;
  std::string reason_;
  uint64_t times_shed_ = 0;
};

}  // namespace pgagent
