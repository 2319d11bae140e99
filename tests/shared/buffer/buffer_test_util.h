// Helpers shared by the buffer tests: records of a chosen size and kind, a temp directory
// removed at the end of the test, and raw LMDB access for tampering with stored values.
// Thread-safety: test-only helpers, one thread.
#pragma once

#include <lmdb.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "pgagent/v1/records.pb.h"
#include "shared/buffer/lmdb_buffer.h"

namespace pgagent::testing {

// A log record of boot `boot_id` and sequence `seq` whose single entry's message has
// `message_bytes` bytes (records with seqs of the same varint width have the same size).
inline pgagent::v1::Record MakeRecord(const std::string& boot_id, uint64_t seq,
                                      size_t message_bytes = 100,
                                      pgagent::v1::RecordKind kind = pgagent::v1::RECORD_KIND_LOG) {
  pgagent::v1::Record record;
  record.mutable_id()->set_boot_id(boot_id);
  record.mutable_id()->set_seq(seq);
  record.set_kind(kind);
  record.mutable_collected_at()->set_seconds(1767225600);
  record.set_project_id("proj");
  record.set_host("db1");
  switch (kind) {
    case pgagent::v1::RECORD_KIND_ACTIVITY:
      record.mutable_activity()->set_count(static_cast<uint32_t>(message_bytes));
      break;
    case pgagent::v1::RECORD_KIND_SYSTEM:
      record.mutable_system()->set_interval_s(static_cast<double>(message_bytes));
      break;
    default: {
      auto* entry = record.mutable_log()->add_entries();
      entry->set_message(std::string(message_bytes, 'x'));
      record.mutable_log()->set_count(1);
    }
  }
  return record;
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr ? base : "/tmp") + "/pgagent-buffer-XXXXXX";
    char* made = mkdtemp(pattern.data());
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs `fn` in a raw read-write LMDB transaction on the buffer at `path` (which must not be
// open in this process) and commits. Returns the first LMDB error code, or MDB_SUCCESS.
inline int WithRawTxn(const std::string& path,
                      const std::function<int(MDB_txn*, MDB_dbi records, MDB_dbi meta)>& fn) {
  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc == MDB_SUCCESS) rc = mdb_env_set_maxdbs(env, 8);
  if (rc == MDB_SUCCESS) rc = mdb_env_open(env, path.c_str(), 0, 0600);
  MDB_txn* txn = nullptr;
  if (rc == MDB_SUCCESS) rc = mdb_txn_begin(env, nullptr, 0, &txn);
  MDB_dbi records = 0, meta = 0;
  if (rc == MDB_SUCCESS) rc = mdb_dbi_open(txn, kRecordsDbName, 0, &records);
  if (rc == MDB_SUCCESS) rc = mdb_dbi_open(txn, kMetaDbName, 0, &meta);
  if (rc == MDB_SUCCESS) rc = fn(txn, records, meta);
  if (txn != nullptr) {
    if (rc == MDB_SUCCESS) {
      rc = mdb_txn_commit(txn);
    } else {
      mdb_txn_abort(txn);
    }
  }
  mdb_env_close(env);
  return rc;
}

// The 8-byte big-endian LMDB key of a buffer key.
inline std::string EncodeKeyForTest(uint64_t key) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((key >> (56 - 8 * i)) & 0xFF);
  return bytes;
}

}  // namespace pgagent::testing
