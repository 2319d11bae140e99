// LmdbCorrelationStore: the CorrelationStore of shipperd, an LMDB environment of its own in
// `path` (the buffer directory's "correlations" subdirectory; 0700, files 0600).
//
// Layout: "pending" correlation id -> value (37-byte header: score, created, updated,
// last_seen, follow_up, merges; then the serialized CorrelationRow), "linked" id -> unix ms
// it was linked (the newest `linked_ids_kept`, for follow-ups), "meta" counter -> uint64.
// Every change commits with fsync before a call returns.
// Threads: none of its own; every method is safe from any thread (writes serialized by a
// mutex, reads concurrent under MDB_NOTLS).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "shared/buffer/correlation_store.h"

namespace pgagent {

namespace lmdb_internal {
class LmdbTxn;
}

struct LmdbCorrelationStoreOptions {
  std::string path;
  uint64_t max_rows = 2000;
  uint64_t max_bytes = 16ull << 20;
  uint64_t linked_ids_kept = 20000;
  bool read_only = false;        // for pgagentctl
  const Clock* clock = nullptr;  // nullptr = SystemClock; must outlive the store
  bool no_sync_ForTest = false;
};

class LmdbCorrelationStore final : public CorrelationStore {
 public:
  // Errors: kInvalidArgument for bad options, kNotFound when read_only and absent,
  // kPermissionDenied, kUnavailable.
  static Result<std::unique_ptr<LmdbCorrelationStore>> Open(
      const LmdbCorrelationStoreOptions& options);
  ~LmdbCorrelationStore() override;
  LmdbCorrelationStore(const LmdbCorrelationStore&) = delete;
  LmdbCorrelationStore& operator=(const LmdbCorrelationStore&) = delete;

  Status Upsert(const std::vector<pgagent::v1::CorrelationRow>& rows,
                const CorrelationMerge& merge) override;
  Result<std::vector<CorrelationHeader>> List() override;
  Result<std::optional<pgagent::v1::CorrelationRow>> Get(const std::string& id) override;
  Status MarkLinked(const std::string& id, uint32_t merges) override;
  Status Drop(const std::string& id) override;
  Result<CorrelationStoreStats> Stats() override;

 private:
  using Txn = lmdb_internal::LmdbTxn;
  LmdbCorrelationStore(const LmdbCorrelationStoreOptions& options, MDB_env* env);
  Status OpenDatabases();
  Status RunWrite(const std::function<Status(Txn&)>& body);
  Result<Txn> BeginRead();
  void UpsertOne(Txn& txn, const pgagent::v1::CorrelationRow& row, const CorrelationMerge& merge,
                 int64_t now_ms);
  void RemovePending(Txn& txn, const std::string& id, uint64_t bytes);
  void EvictOverCaps(Txn& txn);
  void RememberLinked(Txn& txn, const std::string& id, int64_t now_ms);
  int64_t NowUnixMs() const;

  const LmdbCorrelationStoreOptions options_;
  const Clock& clock_;
  MDB_env* env_;
  MDB_dbi pending_dbi_ = 0;
  MDB_dbi linked_dbi_ = 0;
  MDB_dbi meta_dbi_ = 0;
  std::mutex write_mu_;
};

}  // namespace pgagent
