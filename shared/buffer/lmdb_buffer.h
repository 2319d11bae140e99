// LmdbBuffer: the RecordBuffer of shipperd, an LMDB environment in the [buffer] path
// directory (created 0700; data.mdb and lock.mdb are 0600 whatever the umask).
//
// Layout: four named sub-databases in one environment:
//   "records"  8-byte big-endian key (strictly increasing, never reused) -> record value
//   "meta"     counter name -> uint64 (byte accounting, next key, persisted counters)
//   "hwm"      collector boot id -> highest stored seq + last-use tick (at most max_boot_ids)
//   "dead"     8-byte big-endian id -> dead-letter value
// (value layouts: stored_value.h). Every change to records, accounting, high-water marks and
// counters happens in ONE write transaction, committed with fsync before a call returns.
//
// Size cap: the accounted bytes of a record estimate the pages it really occupies (value +
// key + node header, or whole overflow pages for large values), so the cap bounds data.mdb:
// its size stays within max_size_mb + the dead letters' bytes + FileSlackBytes() (LMDB never
// shrinks the file but reuses freed pages). Over the cap the oldest records are evicted in the same
// transaction. The map (address space, not disk) is 3 x cap + 2 x dead-letter cap + 32 MiB, so
// MDB_MAP_FULL cannot happen below the cap; if it happens anyway the transaction is aborted, the
// oldest records are evicted in a transaction of their own, and the call is retried (bounded).
//
// Threads: no thread of its own. Every method is safe to call from any thread: write
// transactions are serialized by a mutex (and by LMDB's own writer lock across processes),
// read-only methods run concurrently (MDB_NOTLS). Other processes may open the same directory
// read-only (pgagentctl) while the daemon writes.
#pragma once

#include <lmdb.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "shared/buffer/record_buffer.h"

namespace pgagent {

namespace lmdb_internal {
class LmdbTxn;
}

struct LmdbBufferOptions {
  std::string path;            // directory; the last component is created when missing
  uint64_t max_size_mb = 100;  // [buffer] max_size_mb; must be >= 1
  uint64_t dead_letter_max_mb = 10;
  uint64_t dead_letter_max_count = 1000;
  size_t max_boot_ids = 64;          // high-water marks kept; least recently used dropped
  size_t max_response_bytes = 4096;  // dead-letter response bodies are cut to this length
  bool read_only = false;            // MDB_RDONLY: for pgagentctl; writes fail
  const Clock* clock = nullptr;      // nullptr = SystemClock; must outlive the buffer
  uint64_t map_size_ForTest = 0;     // 0 = computed from the caps (see above)
  bool no_sync_ForTest = false;      // MDB_NOSYNC: NOT durable; tests and benchmarks only
};

// LMDB names, exposed for tests that tamper with the files and for tools.
inline constexpr const char* kRecordsDbName = "records";
inline constexpr const char* kMetaDbName = "meta";
inline constexpr const char* kHighWaterDbName = "hwm";
inline constexpr const char* kDeadLetterDbName = "dead";

class LmdbBuffer final : public RecordBuffer {
 public:
  // Opens (read-write: creates) the buffer and clears stale reader slots.
  // Errors: kInvalidArgument for bad options; kNotFound when read_only and the buffer does
  // not exist; kPermissionDenied; kFailedPrecondition for a newer on-disk format;
  // kUnavailable for other LMDB/file-system failures.
  static Result<std::unique_ptr<LmdbBuffer>> Open(const LmdbBufferOptions& options);

  ~LmdbBuffer() override;
  LmdbBuffer(const LmdbBuffer&) = delete;
  LmdbBuffer& operator=(const LmdbBuffer&) = delete;

  // RecordBuffer. Records without a boot id or with seq 0 are never treated as duplicates.
  // Dedup assumes a boot's seqs arrive in increasing order (a resend repeats a suffix).
  // Write methods return kFailedPrecondition on a read-only handle; read-only Peek() skips
  // corrupt records without removing them.
  Result<AppendOutcome> Append(const std::vector<pgagent::v1::Record>& records) override;
  Result<uint64_t> HighWaterMark(const std::string& boot_id) override;
  Result<std::vector<BufferedItem>> Peek(size_t limit, uint64_t after = 0,
                                         uint64_t max_bytes = UINT64_MAX) override;
  // Walks the records sub-database backwards (MDB_LAST, MDB_PREV) in one read transaction;
  // skipped pg_log records are recognised by the kind byte of their stored header.
  Result<std::vector<BufferedItem>> PeekNewest(size_t limit, bool include_logs = true) override;
  Status Remove(const std::vector<uint64_t>& keys) override;
  // records_by_kind is counted by a scan of the record headers (O(records)); the other
  // figures are kept in the meta sub-database.
  Result<BufferStats> Stats() override;
  Result<uint64_t> Purge() override;
  Status AddDeadLetter(const DeadLetter& letter,
                       std::optional<uint64_t> remove_key = std::nullopt) override;
  Result<std::vector<DeadLetter>> ListDeadLetters(size_t limit, uint64_t after = 0) override;
  Result<uint64_t> RequeueDeadLetters(const std::vector<uint64_t>& ids) override;
  Result<uint64_t> PurgeDeadLetters() override;

  // mdb_reader_check: frees reader slots of dead processes (whose old snapshots would keep
  // freed pages from being reused and grow the file). Called by Open(); the owner calls it
  // periodically (e.g. every minute). Returns the number of slots cleared.
  Result<int> ClearStaleReaders();

  // Bytes charged against the cap for a record value of `value_size` bytes.
  uint64_t AccountedBytes(size_t value_size) const;
  // Documented bound on data.mdb beyond the cap: twice the largest write transaction (the
  // pages freed by the previous transaction are not reusable yet) + cap / 128 for branch
  // pages + 64 pages of free list and meta pages. `largest_batch_bytes` is in accounted
  // bytes. Measured after writing 3x a 100 MB cap: data.mdb exceeded the cap by 0.52 MB
  // (200 B records, batches of 128), 1.12 MB (1.3 KB, 128) and 0.24 MB (3 KB, 16).
  uint64_t FileSlackBytes(uint64_t largest_batch_bytes) const;
  uint64_t max_bytes() const { return max_bytes_; }
  uint64_t map_size() const { return map_size_; }

 private:
  using Txn = lmdb_internal::LmdbTxn;
  LmdbBuffer(const LmdbBufferOptions& options, MDB_env* env);

  Status OpenDatabases();
  Status CheckFormat();
  // Recounts records and bytes from the stored values and repairs the meta counters.
  Status ReconcileAccounting();
  // Runs `body` in a write transaction and commits it; on MDB_MAP_FULL aborts, evicts the
  // oldest records in a transaction of their own, and runs `body` again (bounded).
  Status RunWrite(const std::function<Status(Txn&)>& body);
  Status EvictForMapFull(int attempt);
  Result<Txn> BeginRead();
  // What one Scan() reads: Peek() (oldest first, keys > after) or PeekNewest() (newest
  // first, `after` unused).
  struct ScanSpec {
    size_t limit = 0;  // records looked at
    uint64_t after = 0;
    bool newest_first = false;
    uint64_t max_bytes = UINT64_MAX;  // stop once the returned records reach this
    bool include_logs = true;         // false: pass over pg_log records undecoded
  };
  Result<std::vector<BufferedItem>> Scan(const ScanSpec& spec);
  int64_t NowUnixMs() const;
  // A write failure with its cause named when the file system is full.
  Status ExplainWriteFailure(Status status) const;
  void WarnAboutEvictions();

  // Pieces of the write transactions (all leave errors sticky in the Txn).
  // Evicts the oldest records until the accounted bytes are <= goal_bytes.
  void EvictDownTo(Txn& txn, uint64_t goal_bytes);
  // True when the record existed and was removed; `corrupt` counts it as corrupt_skipped.
  bool RemoveRecord(Txn& txn, uint64_t key, bool corrupt);
  void PutRecordValue(Txn& txn, std::string_view value);
  void TrimDeadLetters(Txn& txn);
  bool RequeueOne(Txn& txn, uint64_t id, int64_t now_ms);
  // Seqs stored per boot id in the current Append (read through to the hwm database).
  using HwmCache = std::map<std::string, uint64_t>;
  uint64_t CachedHighWater(Txn& txn, HwmCache& cache, const std::string& boot_id);
  void WriteHighWater(Txn& txn, const HwmCache& cache);
  void TrimBootIds(Txn& txn);
  void RemoveCorrupt(const std::vector<uint64_t>& keys);
  // Sets the record and byte counters from a scan; true when they were wrong.
  bool RecountRecords(Txn& txn);

  const LmdbBufferOptions options_;
  const Clock& clock_;
  MDB_env* env_;
  MDB_dbi records_dbi_ = 0;
  MDB_dbi meta_dbi_ = 0;
  MDB_dbi hwm_dbi_ = 0;
  MDB_dbi dead_dbi_ = 0;
  size_t page_size_ = 4096;
  uint64_t max_bytes_ = 0;
  uint64_t dead_letter_max_bytes_ = 0;
  uint64_t map_size_ = 0;
  std::mutex write_mu_;
  // Guarded by write_mu_: evictions not yet reported by a buffer.evicted warning.
  std::map<std::string, uint64_t> evicted_since_warning_;
  bool warned_evictions_ = false;
  std::chrono::steady_clock::time_point last_eviction_warning_{};
};

}  // namespace pgagent
