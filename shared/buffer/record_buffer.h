// The durable buffer between IPC ingest and HTTPS delivery. The real one is LmdbBuffer
// (lmdb_buffer.h); tests may use FakeRecordBuffer (tests/fakes/fake_record_buffer.h).
//
// Contract:
//  - Append() returns only after the records are durable (committed and synced): the
//    ingest side acknowledges a record to collectord only after Append() returned OK.
//  - Keys are strictly increasing across restarts (FIFO order).
//  - A record is removed only by Remove() (after delivery), by eviction over the size cap,
//    by AddDeadLetter(), by Purge(), or when it is found corrupt (skipped and counted).
//  - Dead letters (envelopes the listener rejected permanently) live in their own capped
//    store and keep every original Record, so RequeueDeadLetters() can append them again.
//  - Deduplication: Append() stores each (boot_id, seq) at most once. The high-water mark
//    per boot id is persisted in the same transaction as the records.
// Thread-safety: implementations are safe to call from several threads (one writer at a
// time is serialized internally).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

// One record as stored.
struct BufferedItem {
  uint64_t key = 0;  // buffer key, strictly increasing
  pgagent::v1::Record record;
  uint64_t stored_bytes = 0;  // bytes accounted against the cap
};

// Result of an Append(): which records were stored, and which were duplicates.
struct AppendOutcome {
  std::vector<uint64_t> stored_seqs;
  std::vector<uint64_t> duplicate_seqs;
};

struct BufferStats {
  uint64_t records = 0;
  uint64_t bytes = 0;
  double oldest_age_s = 0;  // since the head record was stored
  std::map<std::string, uint64_t> records_by_kind;
  std::map<std::string, uint64_t> evicted_records_by_kind;
  std::map<std::string, uint64_t> evicted_bytes_by_kind;
  uint64_t dead_letters = 0;  // dead letters kept now
  uint64_t corrupt_skipped = 0;
  uint64_t max_bytes = 0;
  uint64_t dead_letter_bytes = 0;     // accounted bytes of the dead letters kept
  uint64_t dead_lettered_total = 0;   // dead letters ever added
  uint64_t dead_letters_dropped = 0;  // oldest dead letters dropped over their cap
  uint64_t map_full_recoveries = 0;   // storage-full events recovered by extra eviction
};

// An envelope the listener rejected permanently (400, or 413 that cannot be split).
struct DeadLetter {
  uint64_t id = 0;                       // assigned by AddDeadLetter(), strictly increasing
  int64_t dead_lettered_at_unix_ms = 0;  // assigned by AddDeadLetter()
  int http_status = 0;
  std::string envelope_json;  // the (first) request body that was rejected
  std::string response_body;  // the listener's answer (may be truncated)
  // EVERY record the rejected request was made from (a coalesced request stands for many);
  // empty for a correlation row, whose records are in the aggregates.
  std::vector<pgagent::v1::Record> records;
};

class RecordBuffer {
 public:
  virtual ~RecordBuffer() = default;

  // Stores the records durably in one transaction, skipping (boot_id, seq) pairs at or
  // below the persisted high-water mark of their boot id, and evicting the oldest records
  // when the size cap would be exceeded. Errors: kResourceExhausted when a single record is
  // larger than the cap; kUnavailable / kDataLoss on storage failure (nothing stored).
  virtual Result<AppendOutcome> Append(const std::vector<pgagent::v1::Record>& records) = 0;

  // Highest seq stored for boot_id (0 when none).
  virtual Result<uint64_t> HighWaterMark(const std::string& boot_id) = 0;

  // Up to `limit` records from the head (oldest first), starting after key `after`
  // (0 = from the head). Stops early once the records returned add up to `max_bytes`
  // stored bytes or more (the record crossing the bound is included, so at least one is
  // returned): the dispatcher decodes only what one envelope can take. Corrupt records are
  // skipped and counted.
  virtual Result<std::vector<BufferedItem>> Peek(size_t limit, uint64_t after = 0,
                                                 uint64_t max_bytes = UINT64_MAX) = 0;

  // The newest `limit` records (NEWEST first), for the dispatcher's live-first policy.
  // With include_logs false, pg_log records among them are passed over without being
  // decoded (they still count towards `limit`). Corrupt records are skipped and counted,
  // as in Peek().
  virtual Result<std::vector<BufferedItem>> PeekNewest(size_t limit,
                                                       bool include_logs = true) = 0;

  // Removes the records with these keys (delivered). Unknown keys are ignored.
  virtual Status Remove(const std::vector<uint64_t>& keys) = 0;

  virtual Result<BufferStats> Stats() = 0;

  // Removes every record (`pgagentctl queue purge --yes`); high-water marks, counters and
  // dead letters are kept. Returns the number of records removed.
  virtual Result<uint64_t> Purge() = 0;

  // Stores `letter` (its id and time are assigned here) and, when remove_key is set,
  // removes that record from the queue in the same transaction. Drops the oldest dead
  // letters beyond the dead-letter cap (counted). Errors: kResourceExhausted when the letter
  // alone is larger than the dead-letter cap; kUnavailable / kDataLoss on storage failure.
  virtual Status AddDeadLetter(const DeadLetter& letter,
                               std::optional<uint64_t> remove_key = std::nullopt) = 0;

  // Up to `limit` dead letters, oldest first, with id > after.
  virtual Result<std::vector<DeadLetter>> ListDeadLetters(size_t limit, uint64_t after = 0) = 0;

  // Appends ALL the records of these dead letters at the tail of the queue again (new keys,
  // bypassing deduplication, in their order) and deletes the dead letters, in one
  // transaction, so each record is restored exactly once. Unknown ids are ignored; a letter
  // with a record that exceeds the cap stays whole. Returns the number of letters requeued.
  virtual Result<uint64_t> RequeueDeadLetters(const std::vector<uint64_t>& ids) = 0;

  // Deletes every dead letter. Returns the number deleted.
  virtual Result<uint64_t> PurgeDeadLetters() = 0;
};

}  // namespace pgagent
