#include "shared/buffer/lmdb_buffer.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <chrono>
#include <map>
#include <utility>

#include "common/log.h"
#include "shared/buffer/stored_value.h"

#include "shared/buffer/lmdb_txn.h"

namespace pgagent {

using namespace lmdb_internal;  // NOLINT: this file is the LMDB adapter

namespace {

constexpr uint64_t kMiB = 1024 * 1024;
constexpr uint64_t kFormatVersion = 1;
constexpr int kMaxMapFullRetries = 4;
constexpr unsigned kMaxDbs = 8;

// Meta counter names.
constexpr const char* kFormat = "format_version";
constexpr const char* kNextKey = "next_key";
constexpr const char* kRecords = "records";
constexpr const char* kBytes = "bytes";
constexpr const char* kCorrupt = "corrupt_skipped";
constexpr const char* kHwmTick = "hwm_tick";
constexpr const char* kMapFull = "map_full_recoveries";
constexpr const char* kDlNextId = "dl_next_id";
constexpr const char* kDlCount = "dl_count";
constexpr const char* kDlBytes = "dl_bytes";
constexpr const char* kDlTotal = "dl_total";
constexpr const char* kDlDropped = "dl_dropped";
constexpr std::string_view kEvictedRecordsPrefix = "evicted_records/";
constexpr std::string_view kEvictedBytesPrefix = "evicted_bytes/";

}  // namespace

LmdbBuffer::LmdbBuffer(const LmdbBufferOptions& options, MDB_env* env)
    : options_(options),
      clock_(options.clock != nullptr ? *options.clock : SystemClock::Instance()),
      env_(env),
      max_bytes_(options.max_size_mb * kMiB),
      dead_letter_max_bytes_(options.dead_letter_max_mb * kMiB) {}

LmdbBuffer::~LmdbBuffer() { mdb_env_close(env_); }

Result<std::unique_ptr<LmdbBuffer>> LmdbBuffer::Open(const LmdbBufferOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("buffer path is empty");
  if (options.max_size_mb == 0) return InvalidArgumentError("buffer max_size_mb must be >= 1");
  if (options.dead_letter_max_mb == 0 || options.dead_letter_max_count == 0 ||
      options.max_boot_ids == 0) {
    return InvalidArgumentError("buffer dead-letter caps and max_boot_ids must be >= 1");
  }
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_env_create");
  std::unique_ptr<LmdbBuffer> buffer(new LmdbBuffer(options, env));
  buffer->map_size_ = options.map_size_ForTest != 0
                          ? options.map_size_ForTest
                          : 3 * buffer->max_bytes_ + 2 * buffer->dead_letter_max_bytes_ + 32 * kMiB;
  PGAGENT_RETURN_IF_ERROR(OpenEnvironment(
      env, EnvSpec{options.path, "buffer", kMaxDbs, buffer->map_size_, options.read_only,
                   options.no_sync_ForTest}));
  MDB_stat stat{};
  if (mdb_env_stat(env, &stat) == MDB_SUCCESS) buffer->page_size_ = stat.ms_psize;
  MDB_envinfo info{};
  if (mdb_env_info(env, &info) == MDB_SUCCESS) buffer->map_size_ = info.me_mapsize;

  PGAGENT_RETURN_IF_ERROR(buffer->OpenDatabases());
  PGAGENT_RETURN_IF_ERROR(buffer->CheckFormat());
  if (!options.read_only) PGAGENT_RETURN_IF_ERROR(buffer->ReconcileAccounting());
  PGAGENT_ASSIGN_OR_RETURN(int cleared, buffer->ClearStaleReaders());
  if (cleared > 0) {
    log::Info("buffer.stale_readers_cleared", {{"path", options.path}, {"slots", cleared}});
  }
  return buffer;
}

Status LmdbBuffer::OpenDatabases() {
  const unsigned create = options_.read_only ? 0 : MDB_CREATE;
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &raw);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_txn_begin");
  Txn txn(raw, 0);
  struct Named {
    const char* name;
    MDB_dbi* dbi;
  };
  for (Named db : {Named{kRecordsDbName, &records_dbi_}, Named{kMetaDbName, &meta_dbi_},
                   Named{kHighWaterDbName, &hwm_dbi_}, Named{kDeadLetterDbName, &dead_dbi_}}) {
    rc = mdb_dbi_open(txn.get(), db.name, create, db.dbi);
    if (rc == MDB_NOTFOUND) return NotFoundError(options_.path + ": not a pgagent buffer");
    if (!txn.Check(rc, "mdb_dbi_open")) return txn.status();
  }
  return txn.Commit();  // handles opened in a transaction become usable after its commit
}

Status LmdbBuffer::CheckFormat() {
  uint64_t version = 0;
  if (options_.read_only) {
    PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
    version = txn.GetMeta(kFormat);
    PGAGENT_RETURN_IF_ERROR(txn.status());
  } else {
    PGAGENT_RETURN_IF_ERROR(RunWrite([&](Txn& txn) {
      version = txn.GetMeta(kFormat);
      if (version == 0) txn.SetMeta(kFormat, kFormatVersion);
      return txn.status();
    }));
  }
  if (version > kFormatVersion) {
    return FailedPreconditionError(options_.path + ": buffer format " + std::to_string(version) +
                                   " is newer than this pgagent (" +
                                   std::to_string(kFormatVersion) + ")");
  }
  return Status::Ok();
}

// Cheap even for a full buffer: the sizes are in the leaf pages, values are not read.
Status LmdbBuffer::ReconcileAccounting() {
  bool changed = false;
  PGAGENT_RETURN_IF_ERROR(RunWrite([&](Txn& txn) {
    changed = RecountRecords(txn);
    return txn.status();
  }));
  if (changed) log::Warn("buffer.accounting_repaired", {{"path", options_.path}});
  return Status::Ok();
}

Result<LmdbBuffer::Txn> LmdbBuffer::BeginRead() {
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw);
  if (rc == MDB_MAP_RESIZED && options_.read_only) {
    // The writer grew the map since we opened; adopt its size (no txn of ours is active:
    // read-only handles are used by one-shot tools).
    rc = mdb_env_set_mapsize(env_, 0);
    if (rc == MDB_SUCCESS) rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw);
  }
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_txn_begin(read)");
  return Txn(raw, meta_dbi_);
}

Status LmdbBuffer::RunWrite(const std::function<Status(Txn&)>& body) {
  if (options_.read_only) return FailedPreconditionError("buffer opened read-only");
  std::lock_guard<std::mutex> lock(write_mu_);
  for (int attempt = 0;; ++attempt) {
    MDB_txn* raw = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &raw);
    if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_txn_begin(write)");
    {
      Txn txn(raw, meta_dbi_);
      Status status = body(txn);
      if (status.ok()) status = txn.Commit();
      if (!txn.map_full()) return ExplainWriteFailure(std::move(status));
    }  // the failed transaction is aborted here, before the eviction begins its own
    if (attempt == kMaxMapFullRetries) {
      return ResourceExhaustedError("buffer storage map full after " +
                                    std::to_string(kMaxMapFullRetries) + " evictions");
    }
    PGAGENT_RETURN_IF_ERROR(EvictForMapFull(attempt));
  }
}

// REQUIRES: write_mu_ held. Frees max(cap / 8, 256 KiB) << attempt bytes of the oldest
// records. A second commit follows because LMDB reuses the pages a transaction freed only
// after one more transaction has committed.
Status LmdbBuffer::EvictForMapFull(int attempt) {
  const uint64_t target = std::max<uint64_t>(max_bytes_ / 8, 256 * 1024) << attempt;
  uint64_t freed = 0;
  for (int step = 0; step < 2; ++step) {
    MDB_txn* raw = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &raw);
    if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_txn_begin(evict)");
    Txn txn(raw, meta_dbi_);
    if (step == 0) {
      const uint64_t bytes = txn.GetMeta(kBytes);
      const uint64_t goal = bytes > target ? bytes - target : 0;
      EvictDownTo(txn, goal);
      freed = bytes - txn.GetMeta(kBytes);
    }
    // Step 1 rewrites the counter only so that a transaction commits.
    txn.SetMeta(kMapFull, txn.GetMeta(kMapFull) + (step == 0 ? 1 : 0));
    PGAGENT_RETURN_IF_ERROR(txn.Commit());
  }
  log::Warn("buffer.map_full", {{"path", options_.path},
                                {"attempt", attempt},
                                {"evicted_bytes", freed},
                                {"map_size", map_size_}});
  return Status::Ok();
}

// A full file system often surfaces from LMDB as EIO (a failed write-back or msync), which
// reads "Input/output error" to an administrator whose disk is simply full: say so.
Status LmdbBuffer::ExplainWriteFailure(Status status) const {
  if (status.ok() || status.code() == StatusCode::kResourceExhausted) return status;
  struct statvfs fs {};
  if (statvfs(options_.path.c_str(), &fs) != 0) return status;
  const uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  if (free_bytes >= 4 * page_size_) return status;
  return ResourceExhaustedError("no space left on the file system of " + options_.path + " (" +
                                std::to_string(free_bytes) + " bytes free): " +
                                status.message());
}

int64_t LmdbBuffer::NowUnixMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

uint64_t LmdbBuffer::AccountedBytes(size_t value_size) const {
  // Mirrors LMDB's leaf sizing: node header (8) + key (8) + value, plus a 2-byte slot; a node
  // larger than me_nodemax keeps a page number and the value goes to whole overflow pages.
  // A small record is charged its share of a full leaf page (pages hold whole nodes only, and
  // MDB_APPEND fills them), so the unused tail of each page is accounted too.
  constexpr uint64_t kPageHeader = 16, kNodeHeader = 8, kKey = 8, kSlot = 2, kPgno = 8;
  const uint64_t node_max = (((page_size_ - kPageHeader) / 2) & ~uint64_t{1}) - kSlot;
  const uint64_t leaf = kNodeHeader + kKey + value_size;
  if (leaf <= node_max) {
    const uint64_t per_page = (page_size_ - kPageHeader) / (((leaf + 1) & ~uint64_t{1}) + kSlot);
    return (page_size_ + per_page - 1) / per_page;
  }
  const uint64_t pages = (kPageHeader - 1 + value_size) / page_size_ + 1;
  return pages * page_size_ + kNodeHeader + kKey + kPgno + kSlot;
}

uint64_t LmdbBuffer::FileSlackBytes(uint64_t largest_batch_bytes) const {
  return 2 * largest_batch_bytes + max_bytes_ / 128 + 64 * page_size_;
}

Result<int> LmdbBuffer::ClearStaleReaders() {
  int dead = 0;
  int rc = mdb_reader_check(env_, &dead);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_reader_check");
  return dead;
}

// ---------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------

void LmdbBuffer::PutRecordValue(Txn& txn, std::string_view value) {
  const uint64_t key = std::max<uint64_t>(txn.GetMeta(kNextKey), 1);
  // MDB_APPEND: keys only grow, so pages fill completely and a key at or below the last one
  // (a bug) fails with MDB_KEYEXIST instead of overwriting.
  txn.Put(records_dbi_, EncodeKey(key), value, MDB_APPEND);
  txn.SetMeta(kNextKey, key + 1);
  txn.AddMeta(kRecords, 1);
  txn.AddMeta(kBytes, AccountedBytes(value.size()));
}

void LmdbBuffer::EvictDownTo(Txn& txn, uint64_t goal_bytes) {
  if (!txn.ok() || txn.GetMeta(kBytes) <= goal_bytes) return;
  Cursor cursor(txn.get(), records_dbi_);
  if (!txn.Check(cursor.open_rc(), "mdb_cursor_open")) return;
  while (txn.ok() && txn.GetMeta(kBytes) > goal_bytes) {
    MDB_val key{}, value{};
    int rc = cursor.Get(&key, &value, MDB_FIRST);
    if (rc == MDB_NOTFOUND) {
      // Accounting drifted above what is stored (cannot happen): realign it.
      txn.SetMeta(kBytes, 0);
      txn.SetMeta(kRecords, 0);
      break;
    }
    if (!txn.Check(rc, "mdb_cursor_get(evict)")) return;
    std::optional<RecordHeader> header = ReadRecordHeader(ToView(value));
    const std::string kind = KindName(header ? header->kind : -1);
    const uint64_t accounted = AccountedBytes(value.mv_size);
    if (!txn.Check(cursor.Del(), "mdb_cursor_del(evict)")) return;
    txn.SubMeta(kRecords, 1);
    txn.SubMeta(kBytes, accounted);
    txn.AddMeta(std::string(kEvictedRecordsPrefix) + kind, 1);
    txn.AddMeta(std::string(kEvictedBytesPrefix) + kind, accounted);
    ++evicted_since_warning_[kind];
  }
}

// REQUIRES: write_mu_ held. One warning per eviction burst: at its start, then at most once
// a minute while it goes on, with the records evicted since the last one by kind.
void LmdbBuffer::WarnAboutEvictions() {
  if (evicted_since_warning_.empty()) return;
  const auto now = clock_.Monotonic();
  if (warned_evictions_ && now - last_eviction_warning_ < std::chrono::minutes(1)) return;
  log::Fields fields = {{"path", options_.path}, {"max_size_mb", options_.max_size_mb}};
  uint64_t total = 0;
  for (const auto& [kind, n] : evicted_since_warning_) {
    fields.push_back({"evicted_" + kind, n});
    total += n;
  }
  fields.push_back({"evicted_records", total});
  fields.push_back({"effect", "the oldest records were dropped to stay under the cap: the "
                              "listener has been unreachable for long, or [buffer] max_size_mb "
                              "is too small for the volume"});
  log::Warn("buffer.evicted", fields);
  evicted_since_warning_.clear();
  warned_evictions_ = true;
  last_eviction_warning_ = now;
}

bool LmdbBuffer::RecountRecords(Txn& txn) {
  if (!txn.ok()) return false;
  uint64_t records = 0, bytes = 0;
  {
    Cursor cursor(txn.get(), records_dbi_);
    if (!txn.Check(cursor.open_rc(), "mdb_cursor_open(recount)")) return false;
    MDB_val key{}, value{};
    int rc = cursor.Get(&key, &value, MDB_FIRST);
    for (; rc == MDB_SUCCESS; rc = cursor.Get(&key, &value, MDB_NEXT)) {
      ++records;
      bytes += AccountedBytes(value.mv_size);
    }
    if (rc != MDB_NOTFOUND && !txn.Check(rc, "mdb_cursor_get(recount)")) return false;
  }
  const bool changed = records != txn.GetMeta(kRecords) || bytes != txn.GetMeta(kBytes);
  if (changed) {
    txn.SetMeta(kRecords, records);
    txn.SetMeta(kBytes, bytes);
  }
  return changed;
}

bool LmdbBuffer::RemoveRecord(Txn& txn, uint64_t key, bool corrupt) {
  const std::string encoded = EncodeKey(key);
  std::optional<std::string_view> value = txn.Get(records_dbi_, encoded);
  if (!value) return false;
  const uint64_t accounted = AccountedBytes(value->size());
  if (!txn.Del(records_dbi_, encoded)) return false;
  txn.SubMeta(kRecords, 1);
  txn.SubMeta(kBytes, accounted);
  if (corrupt) txn.AddMeta(kCorrupt, 1);
  return true;
}

uint64_t LmdbBuffer::CachedHighWater(Txn& txn, HwmCache& cache, const std::string& boot_id) {
  auto it = cache.find(boot_id);
  if (it != cache.end()) return it->second;
  std::optional<std::string_view> raw = txn.Get(hwm_dbi_, boot_id);
  const uint64_t seq = raw ? DecodeU64(*raw) : 0;
  cache[boot_id] = seq;
  return seq;
}

// hwm value: seq (8 bytes LE) + last-use tick (8 bytes LE), the tick ordering boot ids for
// TrimBootIds without trusting the wall clock.
void LmdbBuffer::WriteHighWater(Txn& txn, const HwmCache& cache) {
  if (cache.empty()) return;
  const uint64_t tick = txn.GetMeta(kHwmTick) + 1;
  txn.SetMeta(kHwmTick, tick);
  for (const auto& [boot_id, seq] : cache) {
    txn.Put(hwm_dbi_, boot_id, EncodeU64(seq) + EncodeU64(tick));
  }
  TrimBootIds(txn);
}

void LmdbBuffer::TrimBootIds(Txn& txn) {
  MDB_stat stat{};
  if (!txn.ok() || !txn.Check(mdb_stat(txn.get(), hwm_dbi_, &stat), "mdb_stat(hwm)")) return;
  for (size_t count = stat.ms_entries; count > options_.max_boot_ids && txn.ok(); --count) {
    std::string oldest;
    uint64_t oldest_tick = UINT64_MAX;
    {
      Cursor cursor(txn.get(), hwm_dbi_);
      if (!txn.Check(cursor.open_rc(), "mdb_cursor_open(hwm)")) return;
      MDB_val key{}, value{};
      for (int rc = cursor.Get(&key, &value, MDB_FIRST); rc == MDB_SUCCESS;
           rc = cursor.Get(&key, &value, MDB_NEXT)) {
        const uint64_t tick = DecodeU64(ToView(value).substr(std::min<size_t>(8, value.mv_size)));
        if (tick < oldest_tick) {
          oldest_tick = tick;
          oldest = std::string(ToView(key));
        }
      }
    }
    txn.Del(hwm_dbi_, oldest);
  }
}

Result<AppendOutcome> LmdbBuffer::Append(const std::vector<pgagent::v1::Record>& records) {
  const int64_t now_ms = NowUnixMs();
  std::vector<std::string> values;
  values.reserve(records.size());
  for (const pgagent::v1::Record& record : records) {
    PGAGENT_ASSIGN_OR_RETURN(std::string value, EncodeRecordValue(record, now_ms));
    if (AccountedBytes(value.size()) > max_bytes_) {
      return ResourceExhaustedError("record of " + std::to_string(value.size()) +
                                    " bytes is larger than the buffer cap");
    }
    values.push_back(std::move(value));
  }
  AppendOutcome outcome;
  PGAGENT_RETURN_IF_ERROR(RunWrite([&](Txn& txn) {
    outcome = AppendOutcome{};
    HwmCache hwm;
    for (size_t i = 0; i < records.size() && txn.ok(); ++i) {
      const pgagent::v1::RecordId& id = records[i].id();
      const bool deduplicated = !id.boot_id().empty() && id.seq() != 0;
      if (deduplicated && id.seq() <= CachedHighWater(txn, hwm, id.boot_id())) {
        outcome.duplicate_seqs.push_back(id.seq());
        continue;
      }
      PutRecordValue(txn, values[i]);
      if (deduplicated) hwm[id.boot_id()] = id.seq();
      outcome.stored_seqs.push_back(id.seq());
    }
    WriteHighWater(txn, hwm);
    EvictDownTo(txn, max_bytes_);
    return txn.status();
  }));
  std::lock_guard<std::mutex> lock(write_mu_);
  WarnAboutEvictions();
  return outcome;
}

Result<uint64_t> LmdbBuffer::HighWaterMark(const std::string& boot_id) {
  PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
  std::optional<std::string_view> raw = txn.Get(hwm_dbi_, boot_id);
  PGAGENT_RETURN_IF_ERROR(txn.status());
  return raw ? DecodeU64(*raw) : 0;
}

Result<std::vector<BufferedItem>> LmdbBuffer::Peek(size_t limit, uint64_t after,
                                                   uint64_t max_bytes) {
  if (limit == 0 || after == UINT64_MAX) return std::vector<BufferedItem>{};
  return Scan(ScanSpec{limit, after, /*newest_first=*/false, max_bytes, /*include_logs=*/true});
}

Result<std::vector<BufferedItem>> LmdbBuffer::PeekNewest(size_t limit, bool include_logs) {
  if (limit == 0) return std::vector<BufferedItem>{};
  return Scan(ScanSpec{limit, 0, /*newest_first=*/true, UINT64_MAX, include_logs});
}

Result<std::vector<BufferedItem>> LmdbBuffer::Scan(const ScanSpec& spec) {
  std::vector<BufferedItem> items;
  std::vector<uint64_t> corrupt;
  {
    PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
    Cursor cursor(txn.get(), records_dbi_);
    if (!txn.Check(cursor.open_rc(), "mdb_cursor_open")) return txn.status();
    const std::string start = EncodeKey(spec.after + 1);
    MDB_val key = ToVal(start), value{};
    const MDB_cursor_op step = spec.newest_first ? MDB_PREV : MDB_NEXT;
    int rc = cursor.Get(&key, &value, spec.newest_first ? MDB_LAST : MDB_SET_RANGE);
    size_t looked_at = 0;  // good records returned or passed over; corrupt ones don't count
    uint64_t bytes = 0;
    for (; rc == MDB_SUCCESS && looked_at < spec.limit && bytes < spec.max_bytes;
         rc = cursor.Get(&key, &value, step)) {
      if (!spec.include_logs) {
        std::optional<RecordHeader> header = ReadRecordHeader(ToView(value));
        if (header && header->kind == pgagent::v1::RECORD_KIND_LOG) {
          ++looked_at;
          continue;
        }
      }
      Result<pgagent::v1::Record> record = DecodeRecordValue(ToView(value));
      if (!record.ok()) {
        corrupt.push_back(DecodeKey(key));
        continue;
      }
      ++looked_at;
      items.push_back(
          BufferedItem{DecodeKey(key), std::move(record).value(), AccountedBytes(value.mv_size)});
      bytes += items.back().stored_bytes;
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) txn.Check(rc, "mdb_cursor_get(peek)");
    PGAGENT_RETURN_IF_ERROR(txn.status());
  }
  if (!corrupt.empty() && !options_.read_only) RemoveCorrupt(corrupt);
  return items;
}

// Corrupt records never block the queue: they are removed and counted. A failure to remove
// them is logged, not returned: Peek() still hands out the good records, and the next Peek()
// tries again.
// The accounting is recounted too: a damaged value may no longer have the length it was
// charged for.
void LmdbBuffer::RemoveCorrupt(const std::vector<uint64_t>& keys) {
  Status status = RunWrite([&](Txn& txn) {
    for (uint64_t key : keys) RemoveRecord(txn, key, /*corrupt=*/true);
    RecountRecords(txn);
    return txn.status();
  });
  log::Warn("buffer.corrupt_records", {{"path", options_.path},
                                       {"count", keys.size()},
                                       {"first_key", keys.front()},
                                       {"removed", status.ok()},
                                       {"error", status.ok() ? "" : status.ToString()}});
}

Status LmdbBuffer::Remove(const std::vector<uint64_t>& keys) {
  if (keys.empty()) return Status::Ok();
  return RunWrite([&](Txn& txn) {
    for (uint64_t key : keys) RemoveRecord(txn, key, /*corrupt=*/false);
    return txn.status();
  });
}

Result<uint64_t> LmdbBuffer::Purge() {
  uint64_t removed = 0;
  PGAGENT_RETURN_IF_ERROR(RunWrite([&](Txn& txn) {
    removed = txn.GetMeta(kRecords);
    txn.Check(mdb_drop(txn.get(), records_dbi_, 0), "mdb_drop(records)");
    txn.SetMeta(kRecords, 0);
    txn.SetMeta(kBytes, 0);
    return txn.status();
  }));
  return removed;
}

// ---------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------

namespace {

// Adds every meta counter named prefix + kind to `out` by kind.
void ReadCountersByKind(MDB_txn* txn, MDB_dbi meta, std::string_view prefix,
                        std::map<std::string, uint64_t>& out) {
  Cursor cursor(txn, meta);
  if (cursor.open_rc() != MDB_SUCCESS) return;
  MDB_val key = ToVal(prefix), value{};
  for (int rc = cursor.Get(&key, &value, MDB_SET_RANGE);
       rc == MDB_SUCCESS && ToView(key).starts_with(prefix);
       rc = cursor.Get(&key, &value, MDB_NEXT)) {
    out[std::string(ToView(key).substr(prefix.size()))] = DecodeU64(ToView(value));
  }
}

}  // namespace

Result<BufferStats> LmdbBuffer::Stats() {
  BufferStats stats;
  PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
  stats.records = txn.GetMeta(kRecords);
  stats.bytes = txn.GetMeta(kBytes);
  stats.corrupt_skipped = txn.GetMeta(kCorrupt);
  stats.dead_letters = txn.GetMeta(kDlCount);
  stats.dead_letter_bytes = txn.GetMeta(kDlBytes);
  stats.dead_lettered_total = txn.GetMeta(kDlTotal);
  stats.dead_letters_dropped = txn.GetMeta(kDlDropped);
  stats.map_full_recoveries = txn.GetMeta(kMapFull);
  stats.max_bytes = max_bytes_;
  PGAGENT_RETURN_IF_ERROR(txn.status());
  ReadCountersByKind(txn.get(), meta_dbi_, kEvictedRecordsPrefix, stats.evicted_records_by_kind);
  ReadCountersByKind(txn.get(), meta_dbi_, kEvictedBytesPrefix, stats.evicted_bytes_by_kind);

  Cursor cursor(txn.get(), records_dbi_);
  if (!txn.Check(cursor.open_rc(), "mdb_cursor_open")) return txn.status();
  MDB_val key{}, value{};
  int rc = cursor.Get(&key, &value, MDB_FIRST);
  for (bool first = true; rc == MDB_SUCCESS; rc = cursor.Get(&key, &value, MDB_NEXT)) {
    std::optional<RecordHeader> header = ReadRecordHeader(ToView(value));
    ++stats.records_by_kind[KindName(header ? header->kind : -1)];
    if (first && header) {
      const int64_t age_ms = NowUnixMs() - header->stored_at_unix_ms;
      stats.oldest_age_s = age_ms > 0 ? static_cast<double>(age_ms) / 1000.0 : 0.0;
    }
    first = false;
  }
  if (rc != MDB_NOTFOUND) return LmdbStatus(rc, "mdb_cursor_get(stats)");
  return stats;
}

// ---------------------------------------------------------------------------------------
// Dead letters
// ---------------------------------------------------------------------------------------

void LmdbBuffer::TrimDeadLetters(Txn& txn) {
  if (!txn.ok()) return;
  Cursor cursor(txn.get(), dead_dbi_);
  if (!txn.Check(cursor.open_rc(), "mdb_cursor_open(dead)")) return;
  while (txn.ok() && (txn.GetMeta(kDlCount) > options_.dead_letter_max_count ||
                      txn.GetMeta(kDlBytes) > dead_letter_max_bytes_)) {
    MDB_val key{}, value{};
    int rc = cursor.Get(&key, &value, MDB_FIRST);
    if (rc == MDB_NOTFOUND) {
      txn.SetMeta(kDlCount, 0);
      txn.SetMeta(kDlBytes, 0);
      break;
    }
    if (!txn.Check(rc, "mdb_cursor_get(dead)")) return;
    const uint64_t accounted = AccountedBytes(value.mv_size);
    if (!txn.Check(cursor.Del(), "mdb_cursor_del(dead)")) return;
    txn.SubMeta(kDlCount, 1);
    txn.SubMeta(kDlBytes, accounted);
    txn.AddMeta(kDlDropped, 1);
  }
}

Status LmdbBuffer::AddDeadLetter(const DeadLetter& letter, std::optional<uint64_t> remove_key) {
  DeadLetter stored = letter;
  stored.dead_lettered_at_unix_ms = NowUnixMs();
  if (stored.response_body.size() > options_.max_response_bytes) {
    stored.response_body.resize(options_.max_response_bytes);
  }
  PGAGENT_ASSIGN_OR_RETURN(std::string value, EncodeDeadLetterValue(stored));
  const uint64_t accounted = AccountedBytes(value.size());
  if (accounted > dead_letter_max_bytes_) {
    return ResourceExhaustedError("dead letter of " + std::to_string(value.size()) +
                                  " bytes is larger than the dead-letter cap");
  }
  return RunWrite([&](Txn& txn) {
    const uint64_t id = std::max<uint64_t>(txn.GetMeta(kDlNextId), 1);
    txn.Put(dead_dbi_, EncodeKey(id), value, MDB_APPEND);
    txn.SetMeta(kDlNextId, id + 1);
    txn.AddMeta(kDlCount, 1);
    txn.AddMeta(kDlBytes, accounted);
    txn.AddMeta(kDlTotal, 1);
    TrimDeadLetters(txn);
    if (remove_key) RemoveRecord(txn, *remove_key, /*corrupt=*/false);
    return txn.status();
  });
}

Result<std::vector<DeadLetter>> LmdbBuffer::ListDeadLetters(size_t limit, uint64_t after) {
  std::vector<DeadLetter> letters;
  if (limit == 0 || after == UINT64_MAX) return letters;
  PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
  Cursor cursor(txn.get(), dead_dbi_);
  if (!txn.Check(cursor.open_rc(), "mdb_cursor_open(dead)")) return txn.status();
  const std::string start = EncodeKey(after + 1);
  MDB_val key = ToVal(start), value{};
  int rc = cursor.Get(&key, &value, MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS && letters.size() < limit; rc = cursor.Get(&key, &value, MDB_NEXT)) {
    Result<DeadLetter> letter = DecodeDeadLetterValue(ToView(value));
    if (!letter.ok()) continue;  // a corrupt dead letter is left for the cap or a purge
    letter->id = DecodeKey(key);
    letters.push_back(std::move(letter).value());
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return LmdbStatus(rc, "mdb_cursor_get(dead)");
  return letters;
}

// Moves one dead letter back to the tail of the queue. A corrupt dead letter is deleted; one
// whose record no longer fits under the cap is kept. True when requeued.
bool LmdbBuffer::RequeueOne(Txn& txn, uint64_t id, int64_t now_ms) {
  const std::string key = EncodeKey(id);
  std::optional<std::string_view> raw = txn.Get(dead_dbi_, key);
  if (!raw) return false;
  const uint64_t accounted = AccountedBytes(raw->size());
  Result<DeadLetter> letter = DecodeDeadLetterValue(*raw);
  std::vector<std::string> values;
  bool encodable = letter.ok();
  if (letter.ok()) {
    for (const pgagent::v1::Record& record : letter->records) {
      Result<std::string> encoded = EncodeRecordValue(record, now_ms);
      if (!encoded.ok()) {
        encodable = false;
        break;
      }
      if (AccountedBytes(encoded->size()) > max_bytes_) return false;  // stays whole
      values.push_back(std::move(encoded).value());
    }
  }
  if (!txn.Del(dead_dbi_, key)) return false;
  txn.SubMeta(kDlCount, 1);
  txn.SubMeta(kDlBytes, accounted);
  if (!encodable || values.empty()) return false;
  for (const std::string& value : values) PutRecordValue(txn, value);
  return txn.ok();
}

Result<uint64_t> LmdbBuffer::RequeueDeadLetters(const std::vector<uint64_t>& ids) {
  const int64_t now_ms = NowUnixMs();
  uint64_t requeued = 0;
  PGAGENT_RETURN_IF_ERROR(RunWrite([&](Txn& txn) {
    requeued = 0;
    for (uint64_t id : ids) requeued += RequeueOne(txn, id, now_ms) ? 1 : 0;
    EvictDownTo(txn, max_bytes_);
    return txn.status();
  }));
  return requeued;
}

Result<uint64_t> LmdbBuffer::PurgeDeadLetters() {
  uint64_t removed = 0;
  PGAGENT_RETURN_IF_ERROR(RunWrite([&](Txn& txn) {
    removed = txn.GetMeta(kDlCount);
    txn.Check(mdb_drop(txn.get(), dead_dbi_, 0), "mdb_drop(dead)");
    txn.SetMeta(kDlCount, 0);
    txn.SetMeta(kDlBytes, 0);
    return txn.status();
  }));
  return removed;
}

}  // namespace pgagent
