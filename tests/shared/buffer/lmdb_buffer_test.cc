#include "shared/buffer/lmdb_buffer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "common/log.h"
#include "shared/buffer/stored_value.h"
#include "tests/fakes/fake_clock.h"
#include "tests/shared/buffer/buffer_test_util.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::Record;
using testing::EncodeKeyForTest;
using testing::MakeRecord;
using testing::TempDir;
using testing::WithRawTxn;

class LmdbBufferTest : public ::testing::Test {
 protected:
  LmdbBufferOptions Options() const {
    LmdbBufferOptions options;
    options.path = dir_.Sub("buffer");
    options.clock = &clock_;
    return options;
  }
  std::unique_ptr<LmdbBuffer> OpenBuffer(const LmdbBufferOptions& options) {
    auto buffer = LmdbBuffer::Open(options);
    EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
    return buffer.ok() ? std::move(buffer).value() : nullptr;
  }
  std::unique_ptr<LmdbBuffer> OpenBuffer() { return OpenBuffer(Options()); }

  static std::vector<uint64_t> Seqs(const std::vector<BufferedItem>& items) {
    std::vector<uint64_t> seqs;
    for (const auto& item : items) seqs.push_back(item.record.id().seq());
    return seqs;
  }
  static std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
    std::vector<uint64_t> seqs;
    for (uint64_t s = first; s <= last; ++s) seqs.push_back(s);
    return seqs;
  }
  static std::vector<Record> Batch(const std::string& boot, uint64_t first, size_t count,
                                   size_t message_bytes = 100) {
    std::vector<Record> records;
    for (size_t i = 0; i < count; ++i)
      records.push_back(MakeRecord(boot, first + i, message_bytes));
    return records;
  }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(LmdbBufferTest, AppendedRecordsArePeekedInFifoOrderAndRemoved) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer);
  auto outcome = buffer->Append(Batch("boot", 1, 5));
  ASSERT_TRUE(outcome.ok()) << outcome.status().ToString();
  EXPECT_EQ(outcome->stored_seqs, Range(1, 5));
  EXPECT_TRUE(outcome->duplicate_seqs.empty());

  auto items = buffer->Peek(3);
  ASSERT_TRUE(items.ok());
  EXPECT_EQ(Seqs(*items), Range(1, 3));
  EXPECT_LT((*items)[0].key, (*items)[1].key);
  EXPECT_GT((*items)[0].stored_bytes, 0u);
  auto rest = buffer->Peek(10, items->back().key);
  EXPECT_EQ(Seqs(*rest), Range(4, 5));

  ASSERT_TRUE(buffer->Remove({(*items)[0].key, (*items)[1].key, 999999}).ok());
  EXPECT_EQ(Seqs(*buffer->Peek(10)), Range(3, 5));
  auto stats = buffer->Stats();
  EXPECT_EQ(stats->records, 3u);
  EXPECT_EQ(stats->bytes, 3 * (*items)[0].stored_bytes);
}

TEST_F(LmdbBufferTest, PeekNewestReadsFromTheTailNewestFirst) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer);
  EXPECT_TRUE(buffer->PeekNewest(3)->empty());
  ASSERT_TRUE(buffer->Append(Batch("boot", 1, 5)).ok());
  auto newest = buffer->PeekNewest(3);
  ASSERT_TRUE(newest.ok()) << newest.status().ToString();
  EXPECT_EQ(Seqs(*newest), std::vector<uint64_t>({5, 4, 3}));
  EXPECT_GT((*newest)[0].key, (*newest)[1].key);
  EXPECT_EQ(Seqs(*buffer->PeekNewest(10)), std::vector<uint64_t>({5, 4, 3, 2, 1}));
  EXPECT_TRUE(buffer->PeekNewest(0)->empty());
  ASSERT_TRUE(buffer->Remove({newest->front().key}).ok());
  EXPECT_EQ(Seqs(*buffer->PeekNewest(1)), std::vector<uint64_t>({4}));
}

TEST_F(LmdbBufferTest, PeekStopsAtTheRecordThatReachesTheByteBound) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer);
  ASSERT_TRUE(buffer->Append(Batch("boot", 1, 10, 1000)).ok());
  const uint64_t one = (*buffer->Peek(1))[0].stored_bytes;
  // 2.5 records' worth: the third record crosses the bound and is still handed out.
  EXPECT_EQ(Seqs(*buffer->Peek(10, 0, one * 5 / 2)), Range(1, 3));
  EXPECT_EQ(Seqs(*buffer->Peek(10, 0, one * 3)), Range(1, 3));
  // A bound below one record still returns the head, so the queue always moves.
  EXPECT_EQ(Seqs(*buffer->Peek(10, 0, 1)), Range(1, 1));
  EXPECT_EQ(Seqs(*buffer->Peek(2, 0, one * 5)), Range(1, 2));
}

TEST_F(LmdbBufferTest, PeekNewestCanPassOverLogRecordsWithoutReturningThem) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer);
  std::vector<Record> records = Batch("boot", 1, 3);  // logs 1..3
  records.push_back(MakeRecord("boot", 4, 10, pgagent::v1::RECORD_KIND_ACTIVITY));
  records.push_back(MakeRecord("boot", 5, 10));  // log
  records.push_back(MakeRecord("boot", 6, 10, pgagent::v1::RECORD_KIND_SYSTEM));
  records.push_back(MakeRecord("boot", 7, 10));  // log
  ASSERT_TRUE(buffer->Append(records).ok());
  EXPECT_EQ(Seqs(*buffer->PeekNewest(10, /*include_logs=*/false)),
            std::vector<uint64_t>({6, 4}));
  // The passed-over logs still count towards the limit: the newest 3 are 7, 6, 5.
  EXPECT_EQ(Seqs(*buffer->PeekNewest(3, /*include_logs=*/false)), std::vector<uint64_t>({6}));
  EXPECT_EQ(Seqs(*buffer->PeekNewest(3)), std::vector<uint64_t>({7, 6, 5}));
}

TEST_F(LmdbBufferTest, KeysKeepIncreasingAcrossReopenEvenWhenEmptied) {
  uint64_t last_key = 0;
  {
    auto buffer = OpenBuffer();
    ASSERT_TRUE(buffer->Append(Batch("boot", 1, 3)).ok());
    auto items = buffer->Peek(10);
    last_key = items->back().key;
    ASSERT_TRUE(buffer->Remove({(*items)[0].key, (*items)[1].key, (*items)[2].key}).ok());
  }
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer->Append(Batch("boot", 4, 1)).ok());
  auto items = buffer->Peek(10);
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ(items->front().key, last_key + 1);
}

TEST_F(LmdbBufferTest, DuplicatesAreSkippedAcrossReopen) {
  {
    auto buffer = OpenBuffer();
    ASSERT_TRUE(buffer->Append(Batch("boot-a", 1, 5)).ok());
  }
  auto buffer = OpenBuffer();
  EXPECT_EQ(*buffer->HighWaterMark("boot-a"), 5u);
  EXPECT_EQ(*buffer->HighWaterMark("boot-b"), 0u);
  auto outcome = buffer->Append(Batch("boot-a", 3, 5));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->duplicate_seqs, Range(3, 5));
  EXPECT_EQ(outcome->stored_seqs, Range(6, 7));
  EXPECT_EQ(Seqs(*buffer->Peek(100)), Range(1, 7));
  EXPECT_EQ(*buffer->HighWaterMark("boot-a"), 7u);
}

TEST_F(LmdbBufferTest, DuplicatesInsideOneBatchAreStoredOnce) {
  auto buffer = OpenBuffer();
  auto outcome = buffer->Append({MakeRecord("b", 1), MakeRecord("b", 2), MakeRecord("b", 2)});
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->stored_seqs, Range(1, 2));
  EXPECT_EQ(outcome->duplicate_seqs, std::vector<uint64_t>({2}));
  EXPECT_EQ(buffer->Stats()->records, 2u);
}

TEST_F(LmdbBufferTest, RecordsWithoutBootIdOrSeqAreNeverDuplicates) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer->Append({MakeRecord("", 1), MakeRecord("", 1), MakeRecord("b", 0)}).ok());
  ASSERT_TRUE(buffer->Append({MakeRecord("b", 0)}).ok());
  EXPECT_EQ(buffer->Stats()->records, 4u);
}

TEST_F(LmdbBufferTest, BootIdsBeyondTheLimitForgetTheLeastRecentlyUsed) {
  LmdbBufferOptions options = Options();
  options.max_boot_ids = 3;
  auto buffer = OpenBuffer(options);
  for (const char* boot : {"a", "b", "c"}) ASSERT_TRUE(buffer->Append({MakeRecord(boot, 5)}).ok());
  ASSERT_TRUE(buffer->Append({MakeRecord("a", 6)}).ok());  // "b" is now the least recent
  ASSERT_TRUE(buffer->Append({MakeRecord("d", 1)}).ok());
  EXPECT_EQ(*buffer->HighWaterMark("a"), 6u);
  EXPECT_EQ(*buffer->HighWaterMark("b"), 0u);
  EXPECT_EQ(*buffer->HighWaterMark("c"), 5u);
  EXPECT_EQ(*buffer->HighWaterMark("d"), 1u);
}

TEST_F(LmdbBufferTest, DirectoryAndFilesAreOwnerOnlyWhateverTheUmask) {
  const mode_t old_umask = umask(0);
  auto buffer = OpenBuffer();
  umask(old_umask);
  ASSERT_TRUE(buffer);
  ASSERT_TRUE(buffer->Append(Batch("b", 1, 1)).ok());
  struct stat st {};
  ASSERT_EQ(stat(Options().path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  for (const char* file : {"/data.mdb", "/lock.mdb"}) {
    ASSERT_EQ(stat((Options().path + file).c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 07777, 0600u) << file;
  }
}

// An outage writes 3x the cap. Records have one size, X accounted bytes, so exactly
// floor(cap / X) newest records remain and every other one is evicted, oldest first.
TEST_F(LmdbBufferTest, OutageOfThreeTimesTheCapEvictsExactlyTheOldest) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 1;
  auto buffer = OpenBuffer(options);
  const uint64_t cap = buffer->max_bytes();
  constexpr size_t kBatch = 16;
  constexpr uint64_t kFirstSeq = 1000;  // seqs 1000..16383 share one varint width
  ASSERT_TRUE(buffer->Append(Batch("boot", kFirstSeq, 1, 3000)).ok());
  const uint64_t x = buffer->Stats()->bytes;
  uint64_t next = kFirstSeq + 1, written = x;
  while (written < 3 * cap) {
    ASSERT_TRUE(buffer->Append(Batch("boot", next, kBatch, 3000)).ok());
    next += kBatch;
    written += kBatch * x;
  }
  const uint64_t total = next - kFirstSeq;
  const uint64_t kept = cap / x;

  auto stats = buffer->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->records, kept);
  EXPECT_EQ(stats->bytes, kept * x);
  EXPECT_EQ(stats->evicted_records_by_kind["log"], total - kept);
  EXPECT_EQ(stats->evicted_bytes_by_kind["log"], (total - kept) * x);
  EXPECT_EQ(Seqs(*buffer->Peek(total)), Range(next - kept, next - 1));

  const auto file_size = std::filesystem::file_size(options.path + "/data.mdb");
  RecordProperty("data_mdb_bytes", std::to_string(file_size));
  RecordProperty("bound_bytes", std::to_string(cap + buffer->FileSlackBytes(kBatch * x)));
  EXPECT_LE(file_size, cap + buffer->FileSlackBytes(kBatch * x))
      << "cap " << cap << " record " << x;
}

TEST_F(LmdbBufferTest, AnEvictionBurstIsOneWarningAMinuteWithCountsByKind) {
  std::vector<std::string> lines;
  log::SetSinkForTest([&](const std::string& line) {
    if (line.find("buffer.evicted") != std::string::npos) lines.push_back(line);
  });
  LmdbBufferOptions options = Options();
  options.max_size_mb = 1;
  auto buffer = OpenBuffer(options);
  uint64_t next = 1000;
  for (int i = 0; i < 40; ++i, next += 16) {
    ASSERT_TRUE(buffer->Append(Batch("boot", next, 16, 3000)).ok());
  }
  ASSERT_EQ(lines.size(), 1u);  // many evicting appends, one warning
  EXPECT_NE(lines[0].find("\"evicted_log\":"), std::string::npos) << lines[0];
  clock_.Advance(61s);
  ASSERT_TRUE(buffer->Append(Batch("boot", next, 16, 3000)).ok());
  EXPECT_EQ(lines.size(), 2u);  // the burst goes on: one more a minute later
  log::SetSinkForTest(nullptr);
}

// Small records live inside the leaf pages (no overflow pages): the bound holds too.
TEST_F(LmdbBufferTest, OutageOfSmallRecordsKeepsTheFileWithinTheBound) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 1;
  auto buffer = OpenBuffer(options);
  constexpr size_t kBatch = 128;
  constexpr uint64_t kFirstSeq = 1000;  // seqs 1000..16383 share one varint width
  uint64_t next = kFirstSeq;
  while (next < kFirstSeq + 12000) {
    ASSERT_TRUE(buffer->Append(Batch("boot", next, kBatch, 200)).ok());
    next += kBatch;
  }
  auto stats = buffer->Stats();
  const uint64_t x = stats->bytes / stats->records;
  EXPECT_LT(x, 300u);  // inline in the leaf pages
  EXPECT_EQ(stats->records, buffer->max_bytes() / x);
  EXPECT_EQ(stats->records + stats->evicted_records_by_kind["log"], next - kFirstSeq);
  EXPECT_EQ(Seqs(*buffer->Peek(next)), Range(next - stats->records, next - 1));
  const auto file_size = std::filesystem::file_size(options.path + "/data.mdb");
  RecordProperty("small_data_mdb_bytes", std::to_string(file_size));
  EXPECT_LE(file_size, buffer->max_bytes() + buffer->FileSlackBytes(kBatch * x));
}

TEST_F(LmdbBufferTest, EvictionCountersSurviveReopen) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 1;
  {
    auto buffer = OpenBuffer(options);
    for (uint64_t seq = 1000; seq < 1400; seq += 10) {
      ASSERT_TRUE(buffer->Append(Batch("boot", seq, 10, 3000)).ok());
    }
  }
  auto stats = OpenBuffer(options)->Stats();
  EXPECT_GT(stats->evicted_records_by_kind["log"], 0u);
  EXPECT_EQ(stats->evicted_records_by_kind["log"] + stats->records, 400u);
}

// The map is far smaller than the cap, so MDB_MAP_FULL happens: the buffer evicts the
// oldest records in transactions of their own and retries, and no Append fails.
TEST_F(LmdbBufferTest, MapFullIsRecoveredByEvictingTheOldestAndRetrying) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 8;
  options.map_size_ForTest = 1 << 20;
  auto buffer = OpenBuffer(options);
  uint64_t next = 1000;
  for (int i = 0; i < 60; ++i) {
    auto outcome = buffer->Append(Batch("boot", next, 8, 3000));
    ASSERT_TRUE(outcome.ok()) << "batch " << i << ": " << outcome.status().ToString();
    ASSERT_EQ(outcome->stored_seqs.size(), 8u);
    next += 8;
  }
  auto stats = buffer->Stats();
  EXPECT_GE(stats->map_full_recoveries, 1u);
  EXPECT_EQ(stats->evicted_records_by_kind["log"] + stats->records, next - 1000);
  auto items = buffer->Peek(next);
  ASSERT_GE(items->size(), 8u);
  EXPECT_EQ(Seqs(*items), Range(next - items->size(), next - 1));  // a FIFO suffix
}

TEST_F(LmdbBufferTest, AppendFailsCleanlyWhenTheMapCannotHoldOneBatch) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 64;
  options.map_size_ForTest = 1 << 20;
  auto buffer = OpenBuffer(options);
  auto outcome = buffer->Append(Batch("boot", 1, 400, 3000));  // 1.6 MB in one transaction
  EXPECT_EQ(outcome.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(*buffer->HighWaterMark("boot"), 0u);
  EXPECT_TRUE(buffer->Append(Batch("boot", 1, 4, 3000)).ok());
}

TEST_F(LmdbBufferTest, RecordLargerThanTheCapIsRejectedAndNothingIsStored) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 1;
  auto buffer = OpenBuffer(options);
  auto outcome = buffer->Append({MakeRecord("b", 1), MakeRecord("b", 2, 2 << 20)});
  EXPECT_EQ(outcome.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(buffer->Stats()->records, 0u);
  EXPECT_EQ(*buffer->HighWaterMark("b"), 0u);
}

TEST_F(LmdbBufferTest, CorruptRecordsAreSkippedCountedAndRemoved) {
  const LmdbBufferOptions options = Options();
  {
    auto buffer = OpenBuffer(options);
    ASSERT_TRUE(buffer->Append(Batch("boot", 1, 5)).ok());
  }
  // Flip one payload byte of record 2 and cut record 4 short, behind the buffer's back.
  int rc = WithRawTxn(options.path, [](MDB_txn* txn, MDB_dbi records, MDB_dbi) {
    for (uint64_t key : {2, 4}) {
      std::string k = EncodeKeyForTest(key);
      MDB_val kv{k.size(), k.data()}, value{};
      if (int r = mdb_get(txn, records, &kv, &value); r != MDB_SUCCESS) return r;
      std::string bytes(static_cast<const char*>(value.mv_data), value.mv_size);
      if (key == 2) bytes[bytes.size() / 2] ^= 0x20;
      if (key == 4) bytes.resize(10);
      MDB_val nv{bytes.size(), bytes.data()};
      if (int r = mdb_put(txn, records, &kv, &nv, 0); r != MDB_SUCCESS) return r;
    }
    return MDB_SUCCESS;
  });
  ASSERT_EQ(rc, MDB_SUCCESS) << mdb_strerror(rc);

  auto buffer = OpenBuffer(options);
  auto items = buffer->Peek(10);
  ASSERT_TRUE(items.ok());
  EXPECT_EQ(Seqs(*items), std::vector<uint64_t>({1, 3, 5}));
  auto stats = buffer->Stats();
  EXPECT_EQ(stats->corrupt_skipped, 2u);
  EXPECT_EQ(stats->records, 3u);
  EXPECT_EQ(stats->bytes, 3 * items->front().stored_bytes);
  EXPECT_EQ(Seqs(*buffer->Peek(10)), std::vector<uint64_t>({1, 3, 5}));
  EXPECT_EQ(buffer->Stats()->corrupt_skipped, 2u);
}

TEST_F(LmdbBufferTest, PeekNewestSkipsAndCountsACorruptRecordAtTheTail) {
  const LmdbBufferOptions options = Options();
  {
    auto buffer = OpenBuffer(options);
    ASSERT_TRUE(buffer->Append(Batch("boot", 1, 3)).ok());
  }
  int rc = WithRawTxn(options.path, [](MDB_txn* txn, MDB_dbi records, MDB_dbi) {
    std::string k = EncodeKeyForTest(3);
    MDB_val kv{k.size(), k.data()}, value{};
    if (int r = mdb_get(txn, records, &kv, &value); r != MDB_SUCCESS) return r;
    std::string bytes(static_cast<const char*>(value.mv_data), value.mv_size);
    bytes[bytes.size() - 1] ^= 0x01;
    MDB_val nv{bytes.size(), bytes.data()};
    return mdb_put(txn, records, &kv, &nv, 0);
  });
  ASSERT_EQ(rc, MDB_SUCCESS) << mdb_strerror(rc);

  auto buffer = OpenBuffer(options);
  auto newest = buffer->PeekNewest(2);
  ASSERT_TRUE(newest.ok());
  EXPECT_EQ(Seqs(*newest), std::vector<uint64_t>({2, 1}));
  EXPECT_EQ(buffer->Stats()->corrupt_skipped, 1u);
  EXPECT_EQ(buffer->Stats()->records, 2u);
}

TEST_F(LmdbBufferTest, WrongAccountingIsRepairedAtOpen) {
  const LmdbBufferOptions options = Options();
  uint64_t bytes = 0;
  {
    auto buffer = OpenBuffer(options);
    ASSERT_TRUE(buffer->Append(Batch("boot", 1, 3)).ok());
    bytes = buffer->Stats()->bytes;
  }
  int rc = WithRawTxn(options.path, [](MDB_txn* txn, MDB_dbi, MDB_dbi meta) {
    std::string key = "bytes", value(8, '\x7f');
    MDB_val kv{key.size(), key.data()}, vv{value.size(), value.data()};
    return mdb_put(txn, meta, &kv, &vv, 0);
  });
  ASSERT_EQ(rc, MDB_SUCCESS);
  auto stats = OpenBuffer(options)->Stats();
  EXPECT_EQ(stats->bytes, bytes);
  EXPECT_EQ(stats->records, 3u);
}

TEST_F(LmdbBufferTest, NewerOnDiskFormatIsRefused) {
  const LmdbBufferOptions options = Options();
  OpenBuffer(options);
  int rc = WithRawTxn(options.path, [](MDB_txn* txn, MDB_dbi, MDB_dbi meta) {
    std::string key = "format_version", value(8, '\0');
    value[0] = 2;
    MDB_val kv{key.size(), key.data()}, vv{value.size(), value.data()};
    return mdb_put(txn, meta, &kv, &vv, 0);
  });
  ASSERT_EQ(rc, MDB_SUCCESS);
  EXPECT_EQ(LmdbBuffer::Open(options).status().code(), StatusCode::kFailedPrecondition);
}

DeadLetter Letter(uint64_t seq, int status = 400) {
  DeadLetter letter;
  letter.http_status = status;
  letter.envelope_json = R"({"source":"pg_log","seq":)" + std::to_string(seq) + "}";
  letter.response_body = "rejected";
  letter.records = {MakeRecord("boot", seq)};
  return letter;
}

TEST_F(LmdbBufferTest, DeadLettersAreCappedDroppingTheOldest) {
  LmdbBufferOptions options = Options();
  options.dead_letter_max_count = 3;
  auto buffer = OpenBuffer(options);
  for (uint64_t seq = 1; seq <= 5; ++seq) ASSERT_TRUE(buffer->AddDeadLetter(Letter(seq)).ok());
  auto letters = buffer->ListDeadLetters(10);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), 3u);
  EXPECT_EQ(letters->front().records.at(0).id().seq(), 3u);
  EXPECT_EQ(letters->front().id, 3u);
  EXPECT_EQ(letters->front().http_status, 400);
  EXPECT_EQ(letters->front().envelope_json, R"({"source":"pg_log","seq":3})");
  EXPECT_EQ(letters->front().dead_lettered_at_unix_ms, 1767225600000);
  EXPECT_EQ(buffer->ListDeadLetters(10, 4)->size(), 1u);
  auto stats = buffer->Stats();
  EXPECT_EQ(stats->dead_letters, 3u);
  EXPECT_EQ(stats->dead_lettered_total, 5u);
  EXPECT_EQ(stats->dead_letters_dropped, 2u);
}

TEST_F(LmdbBufferTest, DeadLetterResponseBodyIsCutAndOversizedLetterRefused) {
  LmdbBufferOptions options = Options();
  options.max_response_bytes = 8;
  options.dead_letter_max_mb = 1;
  auto buffer = OpenBuffer(options);
  DeadLetter letter = Letter(1);
  letter.response_body = std::string(100, 'r');
  ASSERT_TRUE(buffer->AddDeadLetter(letter).ok());
  EXPECT_EQ(buffer->ListDeadLetters(1)->front().response_body, "rrrrrrrr");
  letter.envelope_json = std::string(2 << 20, 'e');
  EXPECT_EQ(buffer->AddDeadLetter(letter).code(), StatusCode::kResourceExhausted);
}

TEST_F(LmdbBufferTest, DeadLetteringRemovesTheRecordInTheSameTransaction) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer->Append(Batch("boot", 1, 2)).ok());
  const uint64_t key = buffer->Peek(1)->front().key;
  ASSERT_TRUE(buffer->AddDeadLetter(Letter(1), key).ok());
  EXPECT_EQ(Seqs(*buffer->Peek(10)), std::vector<uint64_t>({2}));
  EXPECT_EQ(buffer->Stats()->dead_letters, 1u);
}

TEST_F(LmdbBufferTest, RequeuedDeadLetterGoesToTheTailDespiteDeduplication) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer->Append(Batch("boot", 1, 3)).ok());
  ASSERT_TRUE(buffer->AddDeadLetter(Letter(1), buffer->Peek(1)->front().key).ok());
  ASSERT_TRUE(buffer->AddDeadLetter(Letter(2)).ok());
  const auto letters = *buffer->ListDeadLetters(10);
  EXPECT_EQ(*buffer->RequeueDeadLetters({letters[0].id, 12345}), 1u);
  EXPECT_EQ(Seqs(*buffer->Peek(10)), std::vector<uint64_t>({2, 3, 1}));
  auto stats = buffer->Stats();
  EXPECT_EQ(stats->dead_letters, 1u);
  EXPECT_EQ(stats->records, 3u);
  EXPECT_EQ(*buffer->PurgeDeadLetters(), 1u);
  EXPECT_TRUE(buffer->ListDeadLetters(10)->empty());
  EXPECT_EQ(buffer->Stats()->dead_letter_bytes, 0u);
}

TEST_F(LmdbBufferTest, ADeadLetterOfACoalescedRequestRequeuesEveryRecordExactlyOnce) {
  auto buffer = OpenBuffer();
  DeadLetter letter;
  letter.http_status = 400;
  letter.envelope_json = R"({"source":"pg_log"})";
  letter.records = Batch("boot", 34, 4);  // records ...:34 to ...:37, one envelope
  ASSERT_TRUE(buffer->AddDeadLetter(letter).ok());
  auto letters = buffer->ListDeadLetters(10);
  ASSERT_EQ(letters->size(), 1u);
  ASSERT_EQ(letters->front().records.size(), 4u);
  EXPECT_EQ(*buffer->RequeueDeadLetters({letters->front().id}), 1u);
  EXPECT_EQ(Seqs(*buffer->Peek(10)), std::vector<uint64_t>({34, 35, 36, 37}));
  EXPECT_EQ(*buffer->RequeueDeadLetters({letters->front().id}), 0u);  // gone: not twice
  EXPECT_EQ(buffer->Stats()->records, 4u);
}

TEST_F(LmdbBufferTest, DeadLetterTooLargeForTheQueueStaysWhenRequeued) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 1;
  options.dead_letter_max_mb = 4;
  auto buffer = OpenBuffer(options);
  DeadLetter letter = Letter(1);
  letter.records = {MakeRecord("boot", 1, 2 << 20)};
  ASSERT_TRUE(buffer->AddDeadLetter(letter).ok());
  EXPECT_EQ(*buffer->RequeueDeadLetters({1}), 0u);
  EXPECT_EQ(buffer->ListDeadLetters(10)->size(), 1u);
  EXPECT_TRUE(buffer->Peek(10)->empty());
}

TEST_F(LmdbBufferTest, PurgeRemovesEveryRecordButKeepsHighWaterMarks) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer->Append(Batch("boot", 1, 4)).ok());
  EXPECT_EQ(*buffer->Purge(), 4u);
  EXPECT_TRUE(buffer->Peek(10)->empty());
  EXPECT_EQ(buffer->Stats()->bytes, 0u);
  EXPECT_EQ(buffer->Append(Batch("boot", 3, 3))->stored_seqs, Range(5, 5));
}

TEST_F(LmdbBufferTest, StatsCountByKindAndAgeTheOldestRecord) {
  auto buffer = OpenBuffer();
  ASSERT_TRUE(buffer->Append({MakeRecord("b", 1, 10, pgagent::v1::RECORD_KIND_ACTIVITY)}).ok());
  clock_.Advance(30s);
  ASSERT_TRUE(buffer
                  ->Append({MakeRecord("b", 2, 10, pgagent::v1::RECORD_KIND_SYSTEM),
                            MakeRecord("b", 3, 10, pgagent::v1::RECORD_KIND_LOG),
                            MakeRecord("b", 4, 10, pgagent::v1::RECORD_KIND_LOG)})
                  .ok());
  clock_.Advance(60s);
  auto stats = buffer->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->records, 4u);
  EXPECT_EQ(stats->records_by_kind,
            (std::map<std::string, uint64_t>{{"activity", 1}, {"log", 2}, {"system", 1}}));
  EXPECT_DOUBLE_EQ(stats->oldest_age_s, 90.0);
  EXPECT_EQ(stats->max_bytes, 100u << 20);
}

TEST_F(LmdbBufferTest, ReadOnlyHandleSeesWhatTheWriterCommits) {
  auto writer = OpenBuffer();
  ASSERT_TRUE(writer->Append(Batch("boot", 1, 2)).ok());
  LmdbBufferOptions options = Options();
  options.read_only = true;
  auto reader = OpenBuffer(options);
  ASSERT_TRUE(reader);
  EXPECT_EQ(Seqs(*reader->Peek(10)), Range(1, 2));
  ASSERT_TRUE(writer->Append(Batch("boot", 3, 2)).ok());
  EXPECT_EQ(Seqs(*reader->Peek(10)), Range(1, 4));
  EXPECT_EQ(reader->Stats()->records, 4u);
  EXPECT_EQ(*reader->HighWaterMark("boot"), 4u);
  EXPECT_EQ(reader->Append(Batch("boot", 5, 1)).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(reader->Purge().status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(LmdbBufferTest, ReadOnlyOpenOfAMissingBufferIsNotFound) {
  LmdbBufferOptions options = Options();
  options.read_only = true;
  EXPECT_EQ(LmdbBuffer::Open(options).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(options.path));
}

TEST_F(LmdbBufferTest, BadOptionsAreInvalidArgument) {
  LmdbBufferOptions options = Options();
  options.max_size_mb = 0;
  EXPECT_EQ(LmdbBuffer::Open(options).status().code(), StatusCode::kInvalidArgument);
  options = Options();
  options.path.clear();
  EXPECT_EQ(LmdbBuffer::Open(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(LmdbBufferTest, ConcurrentAppendersAndReadersLoseNothing) {
  auto buffer = OpenBuffer();
  constexpr uint64_t kPerWriter = 200;
  std::vector<std::thread> threads;
  for (const char* boot : {"w1", "w2"}) {
    threads.emplace_back([&buffer, boot] {
      for (uint64_t seq = 1; seq <= kPerWriter; seq += 4) {
        EXPECT_TRUE(buffer->Append(Batch(boot, seq, 4)).ok());
      }
    });
  }
  threads.emplace_back([&buffer] {
    for (int i = 0; i < 50; ++i) {
      EXPECT_TRUE(buffer->Peek(16).ok());
      EXPECT_TRUE(buffer->Stats().ok());
    }
  });
  for (auto& thread : threads) thread.join();
  auto items = buffer->Peek(1000);
  ASSERT_EQ(items->size(), 2 * kPerWriter);
  std::map<std::string, std::vector<uint64_t>> by_boot;
  for (const auto& item : *items)
    by_boot[item.record.id().boot_id()].push_back(item.record.id().seq());
  EXPECT_EQ(by_boot["w1"], Range(1, kPerWriter));
  EXPECT_EQ(by_boot["w2"], Range(1, kPerWriter));
}

}  // namespace
}  // namespace pgagent
