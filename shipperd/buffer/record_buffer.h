// The durable buffer between IPC ingest and HTTPS delivery. The real one is LmdbBuffer
// (lmdb_buffer.h); tests may use FakeRecordBuffer (tests/fakes/fake_record_buffer.h).
//
// Contract:
//  - Append() returns only after the records are durable (committed and synced): the
//    ingest side acknowledges a record to collectord only after Append() returned OK.
//  - Keys are strictly increasing across restarts (FIFO order).
//  - A record is removed only by Remove() (after delivery), by eviction over the size cap,
//    or by Purge().
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
  uint64_t key = 0;           // buffer key, strictly increasing
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
  double oldest_age_s = 0;
  std::map<std::string, uint64_t> records_by_kind;
  std::map<std::string, uint64_t> evicted_records_by_kind;
  std::map<std::string, uint64_t> evicted_bytes_by_kind;
  uint64_t dead_letters = 0;
  uint64_t corrupt_skipped = 0;
  uint64_t max_bytes = 0;
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
  // (0 = from the head). Corrupt records are skipped and counted.
  virtual Result<std::vector<BufferedItem>> Peek(size_t limit, uint64_t after = 0) = 0;

  // Removes the records with these keys (delivered). Unknown keys are ignored.
  virtual Status Remove(const std::vector<uint64_t>& keys) = 0;

  virtual Result<BufferStats> Stats() = 0;
};

}  // namespace pgagent
