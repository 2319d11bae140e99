#include "shared/buffer/lmdb_correlation_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "shared/buffer/lmdb_txn.h"

namespace pgagent {

using namespace lmdb_internal;  // NOLINT: this file is an LMDB adapter
using pgagent::v1::CorrelationRow;

namespace {

constexpr const char* kPendingDb = "pending";
constexpr const char* kLinkedDb = "linked";
constexpr const char* kMetaDb = "meta";
constexpr size_t kHeaderBytes = 37;
// Linked ids are trimmed in steps, so that a full scan happens once per this many links.
constexpr uint64_t kLinkedTrimStep = 1000;

// Meta counters.
constexpr const char* kPending = "pending";
constexpr const char* kPendingBytes = "pending_bytes";
constexpr const char* kLinkedCount = "linked_ids";
constexpr const char* kSeen = "seen";
constexpr const char* kFollowUps = "follow_ups";
constexpr const char* kLinked = "linked";
constexpr const char* kEvicted = "evicted";
constexpr const char* kDropped = "dropped";
constexpr const char* kBadIds = "bad_ids";

void PutU64(std::string& out, uint64_t v) { out += EncodeU64(v); }

std::string EncodeValue(const CorrelationHeader& h, const CorrelationRow& row) {
  std::string out;
  out.reserve(kHeaderBytes + row.ByteSizeLong());
  uint64_t score_bits = 0;
  std::memcpy(&score_bits, &h.score, sizeof(score_bits));
  PutU64(out, score_bits);
  PutU64(out, static_cast<uint64_t>(h.created_unix_ms));
  PutU64(out, static_cast<uint64_t>(h.updated_unix_ms));
  PutU64(out, static_cast<uint64_t>(h.last_seen_unix_ms));
  out += h.follow_up ? '\1' : '\0';
  const std::string merges = EncodeU64(h.merges);
  out.append(merges, 0, 4);
  row.AppendToString(&out);
  return out;
}

// nullopt when the value is too short to hold a header.
std::optional<CorrelationHeader> DecodeHeader(std::string_view id, std::string_view value) {
  if (value.size() < kHeaderBytes) return std::nullopt;
  CorrelationHeader h;
  h.id = std::string(id);
  const uint64_t score_bits = DecodeU64(value.substr(0, 8));
  std::memcpy(&h.score, &score_bits, sizeof(h.score));
  h.created_unix_ms = static_cast<int64_t>(DecodeU64(value.substr(8, 8)));
  h.updated_unix_ms = static_cast<int64_t>(DecodeU64(value.substr(16, 8)));
  h.last_seen_unix_ms = static_cast<int64_t>(DecodeU64(value.substr(24, 8)));
  h.follow_up = value[32] != 0;
  h.merges = static_cast<uint32_t>(DecodeU64(value.substr(33, 4)));
  h.bytes = value.size();
  return h;
}

std::optional<CorrelationRow> DecodeRow(std::string_view value) {
  CorrelationRow row;
  if (value.size() < kHeaderBytes ||
      !row.ParseFromArray(value.data() + kHeaderBytes,
                          static_cast<int>(value.size() - kHeaderBytes))) {
    return std::nullopt;
  }
  return row;
}

int64_t UnixMs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

// Eviction order: follow-ups before first rows, then the lowest score, then the oldest.
bool EvictFirst(const CorrelationHeader& a, const CorrelationHeader& b) {
  if (a.follow_up != b.follow_up) return a.follow_up;
  if (a.score != b.score) return a.score < b.score;
  return a.created_unix_ms < b.created_unix_ms;
}

}  // namespace

LmdbCorrelationStore::LmdbCorrelationStore(const LmdbCorrelationStoreOptions& options,
                                           MDB_env* env)
    : options_(options),
      clock_(options.clock != nullptr ? *options.clock : SystemClock::Instance()),
      env_(env) {}

LmdbCorrelationStore::~LmdbCorrelationStore() { mdb_env_close(env_); }

Result<std::unique_ptr<LmdbCorrelationStore>> LmdbCorrelationStore::Open(
    const LmdbCorrelationStoreOptions& options) {
  if (options.path.empty()) return InvalidArgumentError("correlation store path is empty");
  if (options.max_rows == 0 || options.max_bytes == 0) {
    return InvalidArgumentError("correlation store caps must be >= 1");
  }
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_env_create");
  std::unique_ptr<LmdbCorrelationStore> store(new LmdbCorrelationStore(options, env));
  // Room for the pending rows twice over (copy-on-write) plus the linked ids.
  const uint64_t map_size = 3 * options.max_bytes + 64ull * 1024 * 1024;
  PGAGENT_RETURN_IF_ERROR(OpenEnvironment(
      env, EnvSpec{options.path, "correlation store", 4, map_size, options.read_only,
                   options.no_sync_ForTest}));
  PGAGENT_RETURN_IF_ERROR(store->OpenDatabases());
  int dead = 0;
  mdb_reader_check(env, &dead);
  return store;
}

Status LmdbCorrelationStore::OpenDatabases() {
  const unsigned create = options_.read_only ? 0 : MDB_CREATE;
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &raw);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_txn_begin");
  Txn txn(raw, 0);
  for (auto [name, dbi] : {std::pair{kPendingDb, &pending_dbi_}, std::pair{kLinkedDb, &linked_dbi_},
                           std::pair{kMetaDb, &meta_dbi_}}) {
    rc = mdb_dbi_open(txn.get(), name, create, dbi);
    if (rc == MDB_NOTFOUND) return NotFoundError(options_.path + ": not a correlation store");
    if (!txn.Check(rc, "mdb_dbi_open")) return txn.status();
  }
  return txn.Commit();
}

Status LmdbCorrelationStore::RunWrite(const std::function<Status(Txn&)>& body) {
  if (options_.read_only) return FailedPreconditionError("correlation store opened read-only");
  std::lock_guard<std::mutex> lock(write_mu_);
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, 0, &raw);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_txn_begin(write)");
  Txn txn(raw, meta_dbi_);
  Status status = body(txn);
  if (status.ok()) status = txn.Commit();
  return status;
}

Result<LmdbCorrelationStore::Txn> LmdbCorrelationStore::BeginRead() {
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &raw);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_txn_begin(read)");
  return Txn(raw, meta_dbi_);
}

int64_t LmdbCorrelationStore::NowUnixMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.Now().time_since_epoch())
      .count();
}

void LmdbCorrelationStore::UpsertOne(Txn& txn, const CorrelationRow& row,
                                     const CorrelationMerge& merge, int64_t now_ms) {
  const std::string& id = row.correlation_id();
  if (id.empty() || id.size() > kMaxCorrelationIdBytes) {
    txn.AddMeta(kBadIds, 1);
    return;
  }
  CorrelationHeader header;
  CorrelationRow stored;
  std::optional<std::string_view> found = txn.Get(pending_dbi_, id);
  const bool existing = found.has_value();
  std::optional<CorrelationHeader> old = found ? DecodeHeader(id, *found) : std::nullopt;
  std::optional<CorrelationRow> old_row = found ? DecodeRow(*found) : std::nullopt;
  if (old && old_row) {
    header = *old;
    stored = std::move(*old_row);
    merge(stored, row);
    stored.set_merges(stored.merges() + 1);
    txn.SubMeta(kPendingBytes, old->bytes);
  } else {
    if (existing) txn.SubMeta(kPending, 1);  // an unreadable value is replaced
    stored = row;
    stored.set_merges(0);
    header.created_unix_ms = now_ms;
    header.follow_up = txn.Get(linked_dbi_, id).has_value();
    stored.set_follow_up(header.follow_up);
    txn.AddMeta(header.follow_up ? kFollowUps : kSeen, 1);
    txn.AddMeta(kPending, 1);
  }
  header.id = id;
  header.score = stored.score();
  header.updated_unix_ms = now_ms;
  header.last_seen_unix_ms = UnixMs(stored.last_seen());
  header.merges = stored.merges();
  const std::string value = EncodeValue(header, stored);
  txn.Put(pending_dbi_, id, value);
  txn.AddMeta(kPendingBytes, value.size());
}

void LmdbCorrelationStore::RemovePending(Txn& txn, const std::string& id, uint64_t bytes) {
  if (!txn.Del(pending_dbi_, id)) return;
  txn.SubMeta(kPending, 1);
  txn.SubMeta(kPendingBytes, bytes);
}

void LmdbCorrelationStore::EvictOverCaps(Txn& txn) {
  if (!txn.ok()) return;
  if (txn.GetMeta(kPending) <= options_.max_rows &&
      txn.GetMeta(kPendingBytes) <= options_.max_bytes) {
    return;
  }
  std::vector<CorrelationHeader> headers;
  {
    Cursor cursor(txn.get(), pending_dbi_);
    if (!txn.Check(cursor.open_rc(), "mdb_cursor_open")) return;
    MDB_val key{}, value{};
    for (int rc = cursor.Get(&key, &value, MDB_FIRST); rc == MDB_SUCCESS;
         rc = cursor.Get(&key, &value, MDB_NEXT)) {
      CorrelationHeader h;
      h.id = std::string(ToView(key));
      if (auto decoded = DecodeHeader(ToView(key), ToView(value))) h = *decoded;
      h.bytes = value.mv_size;
      headers.push_back(std::move(h));
    }
  }
  std::sort(headers.begin(), headers.end(), EvictFirst);
  for (const CorrelationHeader& h : headers) {
    if (txn.GetMeta(kPending) <= options_.max_rows &&
        txn.GetMeta(kPendingBytes) <= options_.max_bytes) {
      break;
    }
    RemovePending(txn, h.id, h.bytes);
    txn.AddMeta(kEvicted, 1);
  }
}

Status LmdbCorrelationStore::Upsert(const std::vector<CorrelationRow>& rows,
                                    const CorrelationMerge& merge) {
  if (rows.empty()) return Status::Ok();
  const int64_t now_ms = NowUnixMs();
  return RunWrite([&](Txn& txn) {
    for (const CorrelationRow& row : rows) UpsertOne(txn, row, merge, now_ms);
    EvictOverCaps(txn);
    return txn.status();
  });
}

Result<std::vector<CorrelationHeader>> LmdbCorrelationStore::List() {
  PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
  std::vector<CorrelationHeader> headers;
  Cursor cursor(txn.get(), pending_dbi_);
  if (!txn.Check(cursor.open_rc(), "mdb_cursor_open")) return txn.status();
  MDB_val key{}, value{};
  for (int rc = cursor.Get(&key, &value, MDB_FIRST); rc == MDB_SUCCESS;
       rc = cursor.Get(&key, &value, MDB_NEXT)) {
    if (auto h = DecodeHeader(ToView(key), ToView(value))) headers.push_back(std::move(*h));
  }
  return headers;
}

Result<std::optional<CorrelationRow>> LmdbCorrelationStore::Get(const std::string& id) {
  PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
  std::optional<std::string_view> value = txn.Get(pending_dbi_, id);
  PGAGENT_RETURN_IF_ERROR(txn.status());
  if (!value) return std::optional<CorrelationRow>{};
  std::optional<CorrelationRow> row = DecodeRow(*value);
  if (!row) return DataLossError("correlation row " + id + " is unreadable");
  return row;
}

void LmdbCorrelationStore::RememberLinked(Txn& txn, const std::string& id, int64_t now_ms) {
  if (!txn.Get(linked_dbi_, id)) txn.AddMeta(kLinkedCount, 1);
  txn.Put(linked_dbi_, id, EncodeU64(static_cast<uint64_t>(now_ms)));
  if (txn.GetMeta(kLinkedCount) <= options_.linked_ids_kept + kLinkedTrimStep) return;
  std::vector<std::pair<uint64_t, std::string>> linked;
  {
    Cursor cursor(txn.get(), linked_dbi_);
    if (!txn.Check(cursor.open_rc(), "mdb_cursor_open")) return;
    MDB_val key{}, value{};
    for (int rc = cursor.Get(&key, &value, MDB_FIRST); rc == MDB_SUCCESS;
         rc = cursor.Get(&key, &value, MDB_NEXT)) {
      linked.emplace_back(DecodeU64(ToView(value)), std::string(ToView(key)));
    }
  }
  std::sort(linked.begin(), linked.end());
  const size_t drop = linked.size() > options_.linked_ids_kept
                          ? linked.size() - options_.linked_ids_kept
                          : 0;
  for (size_t i = 0; i < drop; ++i) txn.Del(linked_dbi_, linked[i].second);
  txn.SetMeta(kLinkedCount, linked.size() - drop);
}

Status LmdbCorrelationStore::MarkLinked(const std::string& id, uint32_t merges) {
  const int64_t now_ms = NowUnixMs();
  return RunWrite([&](Txn& txn) {
    std::optional<std::string_view> found = txn.Get(pending_dbi_, id);
    if (!found) return txn.status();
    const std::string value(*found);  // LMDB's pointer may not survive the writes below
    std::optional<CorrelationHeader> header = DecodeHeader(id, value);
    std::optional<CorrelationRow> row = DecodeRow(value);
    txn.AddMeta(kLinked, 1);
    RememberLinked(txn, id, now_ms);
    if (!header || !row || header->merges == merges) {
      RemovePending(txn, id, value.size());
      return txn.status();
    }
    // Merged since it was read: what was merged is not linked yet; keep it as a follow-up.
    const uint64_t old_bytes = value.size();
    header->follow_up = true;
    row->set_follow_up(true);
    const std::string updated = EncodeValue(*header, *row);
    txn.Put(pending_dbi_, id, updated);
    txn.SubMeta(kPendingBytes, old_bytes);
    txn.AddMeta(kPendingBytes, updated.size());
    return txn.status();
  });
}

Status LmdbCorrelationStore::Drop(const std::string& id) {
  return RunWrite([&](Txn& txn) {
    std::optional<std::string_view> value = txn.Get(pending_dbi_, id);
    if (!value) return txn.status();
    RemovePending(txn, id, value->size());
    txn.AddMeta(kDropped, 1);
    return txn.status();
  });
}

Result<CorrelationStoreStats> LmdbCorrelationStore::Stats() {
  PGAGENT_ASSIGN_OR_RETURN(Txn txn, BeginRead());
  CorrelationStoreStats s;
  s.pending = txn.GetMeta(kPending);
  s.pending_bytes = txn.GetMeta(kPendingBytes);
  s.seen = txn.GetMeta(kSeen);
  s.follow_ups = txn.GetMeta(kFollowUps);
  s.linked = txn.GetMeta(kLinked);
  s.evicted = txn.GetMeta(kEvicted);
  s.dropped = txn.GetMeta(kDropped);
  s.bad_ids = txn.GetMeta(kBadIds);
  PGAGENT_RETURN_IF_ERROR(txn.status());
  return s;
}

}  // namespace pgagent
