// Correlation rows: what shipperd knows about one PHP request (one correlation id), built
// from the records as they are stored (CorrelatingBuffer) and merged while they wait in the
// CorrelationStore for a request of the budget. The listener links a PHP request to database
// rows only by the top-level correlation_id, so each linked request costs one request; these
// rows make that request carry everything about the id, and the score decides which ids are
// worth the budget first.
//
// Score (larger first), the sum of:
//   1e6 when one of its log entries is an ERROR, FATAL or PANIC           (reason "failed")
//   1e5 when it is the root blocker of a lock wait, + the waits' ms       ("lock_root")
//   5e4 when it waits on a lock, + its wait ms                            ("lock_waiter")
//   the longest duration in ms of a logged statement (>= 0)               ("slow")
//   the longest query duration in ms of an active session sample          ("long_running")
//   10 x the CPU ms its backend used between two samples                  ("cpu")
//   1 for being seen at all                                               ("seen")
// The bounds keep one row small: a request seen in every 1 s sample for an hour still makes
// one bounded row (the latest sample per pid, the first entries), and the rest is in the
// aggregate rows, which carry every session and entry with its correlation_id.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <vector>

#include "pgagent/v1/delivery.pb.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

struct CorrelationLimits {
  size_t max_sessions = 8;
  size_t max_lock_waits = 16;
  size_t max_entries = 32;
  size_t max_record_ids = 16;
};

// One row per distinct correlation id in an activity snapshot's sessions and lock waits or a
// log batch's entries; none for other records.
std::vector<pgagent::v1::CorrelationRow> ExtractCorrelationRows(
    const pgagent::v1::Record& record, const CorrelationLimits& limits = {});

// Merges `from` into `into` (same id) within the limits and recomputes score, reasons, query
// and duration. Idempotent: merging the same row twice (a record resent after a crash)
// changes nothing the second time.
void MergeCorrelationRows(pgagent::v1::CorrelationRow& into,
                          const pgagent::v1::CorrelationRow& from,
                          const CorrelationLimits& limits = {});

}  // namespace pgagent
