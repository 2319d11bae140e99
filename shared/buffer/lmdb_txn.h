// Internal to shared/buffer (lmdb_buffer.cc, lmdb_correlation_store.cc): the LMDB plumbing
// both stores share. Not for use elsewhere.
// Thread-safety: a Txn or Cursor belongs to the thread that made it.
#pragma once

#include <lmdb.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/status.h"

namespace pgagent {
namespace lmdb_internal {

inline Status LmdbStatus(int rc, std::string_view what) {
  std::string message = std::string(what) + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
      return ResourceExhaustedError(std::move(message));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return DataLossError(std::move(message));
    case ENOENT:
      return NotFoundError(std::move(message));
    case EACCES:
    case EPERM:
      return PermissionDeniedError(std::move(message));
    default:
      return UnavailableError(std::move(message));
  }
}

inline std::string EncodeKey(uint64_t key) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((key >> (56 - 8 * i)) & 0xFF);
  return bytes;
}

inline uint64_t DecodeKey(const MDB_val& val) {
  if (val.mv_size != 8) return 0;
  const auto* bytes = static_cast<const unsigned char*>(val.mv_data);
  uint64_t key = 0;
  for (int i = 0; i < 8; ++i) key = (key << 8) | bytes[i];
  return key;
}

inline std::string EncodeU64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return bytes;
}

inline uint64_t DecodeU64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) {
    value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return value;
}

inline MDB_val ToVal(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}

inline std::string_view ToView(const MDB_val& val) {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}

// mkdir 0700 (whatever the umask), or checks that a directory exists there.
inline Status EnsureDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0) {
    // mkdir honours the umask; the mode must not depend on it.
    if (chmod(path.c_str(), 0700) != 0) return ErrnoStatus("chmod " + path, errno);
    return Status::Ok();
  }
  if (errno != EEXIST) return ErrnoStatus("mkdir " + path, errno);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus("stat " + path, errno);
  if (!S_ISDIR(st.st_mode)) return InvalidArgumentError(path + " exists and is not a directory");
  return Status::Ok();
}

// chmod 0600 unless the file does not exist.
inline Status ChmodIfExists(const std::string& file) {
  if (chmod(file.c_str(), 0600) == 0 || errno == ENOENT) return Status::Ok();
  return ErrnoStatus("chmod " + file, errno);
}

// How an environment is opened (both stores open theirs the same way).
struct EnvSpec {
  std::string path;  // directory: created 0700 when writable
  const char* what;  // for messages: "buffer", "correlation store"
  unsigned max_dbs = 8;
  uint64_t map_size = 0;  // ignored read-only: a reader adopts the writer's map size
  bool read_only = false;
  bool no_sync = false;  // MDB_NOSYNC: NOT durable; tests and benchmarks only
};

// Opens `env` (from mdb_env_create; its owner closes it) as `spec` says, MDB_NOTLS, with
// data.mdb and lock.mdb 0600 whatever the umask.
inline Status OpenEnvironment(MDB_env* env, const EnvSpec& spec) {
  if (!spec.read_only) PGAGENT_RETURN_IF_ERROR(EnsureDirectory(spec.path));
  int rc = mdb_env_set_maxdbs(env, spec.max_dbs);
  if (rc == MDB_SUCCESS && !spec.read_only) rc = mdb_env_set_mapsize(env, spec.map_size);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, "mdb_env_set_mapsize");
  unsigned flags = MDB_NOTLS;
  if (spec.read_only) flags |= MDB_RDONLY;
  if (spec.no_sync) flags |= MDB_NOSYNC;
  rc = mdb_env_open(env, spec.path.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) return LmdbStatus(rc, std::string("open ") + spec.what + " " + spec.path);
  if (spec.read_only) return Status::Ok();
  PGAGENT_RETURN_IF_ERROR(ChmodIfExists(spec.path + "/data.mdb"));
  return ChmodIfExists(spec.path + "/lock.mdb");
}

// A cursor closed when it goes out of scope (before its transaction ends).
class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &cursor_); }
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  int open_rc() const { return rc_; }
  int Get(MDB_val* key, MDB_val* value, MDB_cursor_op op) {
    return mdb_cursor_get(cursor_, key, value, op);
  }
  int Del() { return mdb_cursor_del(cursor_, 0); }

 private:
  MDB_cursor* cursor_ = nullptr;
  int rc_ = MDB_SUCCESS;
};

// A transaction whose first LMDB failure is sticky: later operations become no-ops, and
// status() reports the failure. Meta counters are cached and written back by Commit().
class LmdbTxn {
 public:
  LmdbTxn(MDB_txn* txn, MDB_dbi meta_dbi) : txn_(txn), meta_dbi_(meta_dbi) {}
  LmdbTxn(LmdbTxn&& other) noexcept
      : txn_(std::exchange(other.txn_, nullptr)),
        meta_dbi_(other.meta_dbi_),
        rc_(other.rc_),
        what_(other.what_),
        meta_(std::move(other.meta_)),
        dirty_(std::move(other.dirty_)) {}
  LmdbTxn& operator=(LmdbTxn&&) = delete;
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;
  ~LmdbTxn() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }

  MDB_txn* get() const { return txn_; }
  bool ok() const { return rc_ == MDB_SUCCESS; }
  bool map_full() const { return rc_ == MDB_MAP_FULL; }
  Status status() const { return ok() ? Status::Ok() : LmdbStatus(rc_, what_); }

  // Records rc when it is the first failure. Returns true on success.
  bool Check(int rc, const char* what) {
    if (rc == MDB_SUCCESS) return true;
    if (rc_ == MDB_SUCCESS) {
      rc_ = rc;
      what_ = what;
    }
    return false;
  }

  // The value, or nullopt when absent or after a failure.
  std::optional<std::string_view> Get(MDB_dbi dbi, std::string_view key) {
    if (!ok()) return std::nullopt;
    MDB_val k = ToVal(key), v{};
    int rc = mdb_get(txn_, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) return std::nullopt;
    if (!Check(rc, "mdb_get")) return std::nullopt;
    return ToView(v);
  }

  void Put(MDB_dbi dbi, std::string_view key, std::string_view value, unsigned flags = 0) {
    if (!ok()) return;
    MDB_val k = ToVal(key), v = ToVal(value);
    Check(mdb_put(txn_, dbi, &k, &v, flags), "mdb_put");
  }

  // True when the key existed and was deleted.
  bool Del(MDB_dbi dbi, std::string_view key) {
    if (!ok()) return false;
    MDB_val k = ToVal(key);
    int rc = mdb_del(txn_, dbi, &k, nullptr);
    if (rc == MDB_NOTFOUND) return false;
    return Check(rc, "mdb_del");
  }

  uint64_t GetMeta(const std::string& name) {
    auto it = meta_.find(name);
    if (it != meta_.end()) return it->second;
    std::optional<std::string_view> raw = Get(meta_dbi_, name);
    uint64_t value = raw ? DecodeU64(*raw) : 0;
    meta_[name] = value;
    return value;
  }
  void SetMeta(const std::string& name, uint64_t value) {
    meta_[name] = value;
    dirty_[name] = true;
  }
  void AddMeta(const std::string& name, uint64_t delta) { SetMeta(name, GetMeta(name) + delta); }
  // Subtracts, stopping at 0 (the accounting never goes negative).
  void SubMeta(const std::string& name, uint64_t delta) {
    uint64_t value = GetMeta(name);
    SetMeta(name, value > delta ? value - delta : 0);
  }

  // Writes the meta counters back and commits (with fsync unless MDB_NOSYNC).
  Status Commit() {
    for (const auto& [name, is_dirty] : dirty_) {
      if (is_dirty) Put(meta_dbi_, name, EncodeU64(meta_[name]));
    }
    if (!ok()) return status();
    Check(mdb_txn_commit(std::exchange(txn_, nullptr)), "mdb_txn_commit");
    return status();
  }

 private:
  MDB_txn* txn_;
  MDB_dbi meta_dbi_;
  int rc_ = MDB_SUCCESS;
  const char* what_ = "";
  std::map<std::string, uint64_t> meta_;
  std::map<std::string, bool> dirty_;
};

}  // namespace lmdb_internal
}  // namespace pgagent
