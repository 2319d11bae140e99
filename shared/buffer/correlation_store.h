// The durable queue of correlation rows waiting to be linked at the listener: one pending
// row per correlation id (PHP request), merged while it waits, removed when it was sent.
// The real one is LmdbCorrelationStore; tests use FakeCorrelationStore
// (tests/fakes/fake_correlation_store.h).
//
// Contract:
//  - Upsert() stores new rows and merges rows for ids already pending (with the merge
//    function given), durably (committed and synced) before it returns. A row for an id that
//    was linked before is stored as a follow-up (CorrelationRow.follow_up).
//  - Over the caps (rows, bytes), the rows with the lowest score are dropped, follow-ups
//    first, each counted in `evicted` (not linked: the request's rows stay in the aggregates).
//  - MarkLinked() removes a row once the listener accepted it, unless it was merged with
//    newer data after it was read (its `merges` differ): then it stays, as a follow-up.
// Thread-safety: implementations are safe to call from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pgagent/v1/delivery.pb.h"

namespace pgagent {

// What the dispatcher needs to choose the next row, without decoding it.
struct CorrelationHeader {
  std::string id;
  double score = 0;
  int64_t created_unix_ms = 0;    // first stored (store clock)
  int64_t updated_unix_ms = 0;    // last merged (store clock)
  int64_t last_seen_unix_ms = 0;  // collected_at of the latest record in it
  bool follow_up = false;
  uint32_t merges = 0;
  uint64_t bytes = 0;  // stored value size
};

struct CorrelationStoreStats {
  uint64_t pending = 0;
  uint64_t pending_bytes = 0;
  uint64_t seen = 0;        // ids stored for the first time (follow-ups not counted)
  uint64_t follow_ups = 0;  // rows for ids linked before
  uint64_t linked = 0;      // rows the listener accepted
  uint64_t evicted = 0;     // rows dropped over the caps (never linked)
  uint64_t dropped = 0;     // rows dropped as undeliverable (dead-lettered)
  uint64_t bad_ids = 0;     // ids refused (empty or longer than kMaxCorrelationIdBytes)
};

// Longer ids are refused (LMDB keys are at most 511 bytes; a real id is a UUID).
inline constexpr size_t kMaxCorrelationIdBytes = 128;

// Merges `from` into `into` (same id). Must be idempotent for a row merged twice (a record
// resent after a crash is extracted again).
using CorrelationMerge =
    std::function<void(pgagent::v1::CorrelationRow& into, const pgagent::v1::CorrelationRow& from)>;

class CorrelationStore {
 public:
  virtual ~CorrelationStore() = default;

  // Errors: kUnavailable / kResourceExhausted / kDataLoss on storage failure (nothing stored).
  virtual Status Upsert(const std::vector<pgagent::v1::CorrelationRow>& rows,
                        const CorrelationMerge& merge) = 0;
  // Every pending row's header (bounded by the row cap), in no particular order.
  virtual Result<std::vector<CorrelationHeader>> List() = 0;
  // nullopt when the id is not pending.
  virtual Result<std::optional<pgagent::v1::CorrelationRow>> Get(const std::string& id) = 0;
  // The listener accepted the row read with `merges` (see the contract above).
  virtual Status MarkLinked(const std::string& id, uint32_t merges) = 0;
  // The listener refused the row for good (it was dead-lettered): removed, counted.
  virtual Status Drop(const std::string& id) = 0;
  virtual Result<CorrelationStoreStats> Stats() = 0;
};

}  // namespace pgagent
