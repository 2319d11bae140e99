// Decides when the ingest loop writes a journal line about buffer failures: once when storing
// starts failing, once when a store succeeds again (with how many polls failed meanwhile), and
// only counts in between. A poll that had nothing to store says nothing about the buffer, so
// it neither ends nor starts a streak: an idle poll between two failed resends of the same
// records (the collector resends after its ack timeout) is not a recovery. Without this, one
// stall wrote a "failed" and a "recovered" line per resend.
// Thread-safety: a plain value; the ingest thread owns it.
#pragma once

#include <cstdint>

namespace pgagent {

class FailureStreak {
 public:
  enum class Change { kNone, kStartedFailing, kRecovered };

  // A poll that tried to store records and failed.
  Change OnFailure() {
    ++failures_in_streak_;
    ++total_failures_;
    if (failing_) return Change::kNone;
    failing_ = true;
    ++streaks_;
    return Change::kStartedFailing;
  }
  // A poll that stored (or acknowledged) records.
  Change OnSuccess() {
    if (!failing_) return Change::kNone;
    failing_ = false;
    last_streak_failures_ = failures_in_streak_;
    failures_in_streak_ = 0;
    return Change::kRecovered;
  }

  bool failing() const { return failing_; }
  // Failed polls in the current streak (0 when not failing).
  uint64_t failures_in_streak() const { return failures_in_streak_; }
  // Failed polls of the streak that ended last.
  uint64_t last_streak_failures() const { return last_streak_failures_; }
  uint64_t total_failures() const { return total_failures_; }
  uint64_t streaks() const { return streaks_; }

 private:
  bool failing_ = false;
  uint64_t failures_in_streak_ = 0;
  uint64_t last_streak_failures_ = 0;
  uint64_t total_failures_ = 0;
  uint64_t streaks_ = 0;
};

}  // namespace pgagent
