// Crash safety with real processes: a child appends and is SIGKILLed mid-stream.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>

#include "shared/buffer/lmdb_buffer.h"
#include "tests/shared/buffer/buffer_test_util.h"

namespace pgagent {
namespace {

using testing::MakeRecord;
using testing::TempDir;

constexpr size_t kBatch = 8;

// Child body: appends batches from `first_seq` on and writes the seqs of each batch whose
// Append() returned OK to `ack_fd`. Never returns.
[[noreturn]] void AppendUntilKilled(const std::string& path, uint64_t first_seq, int ack_fd) {
  LmdbBufferOptions options;
  options.path = path;
  auto buffer = LmdbBuffer::Open(options);
  if (!buffer.ok()) _exit(2);
  for (uint64_t seq = first_seq; seq < first_seq + 1000000; seq += kBatch) {
    std::vector<pgagent::v1::Record> batch;
    for (uint64_t s = seq; s < seq + kBatch; ++s) batch.push_back(MakeRecord("boot", s, 1500));
    if (!(*buffer)->Append(batch).ok()) _exit(3);
    uint64_t acked[kBatch];
    for (size_t i = 0; i < kBatch; ++i) acked[i] = seq + i;
    // 64 bytes < PIPE_BUF: each batch's acks reach the parent whole or not at all.
    if (write(ack_fd, acked, sizeof(acked)) != static_cast<ssize_t>(sizeof(acked))) _exit(4);
  }
  _exit(0);
}

// Reads exactly n bytes unless EOF comes first; returns the bytes read.
size_t ReadFull(int fd, void* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = read(fd, static_cast<char*>(out) + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

// Runs one child from first_seq, kills it after it acknowledged at least `min_acks` records,
// and returns every seq it acknowledged.
std::vector<uint64_t> RunAndKill(const std::string& path, uint64_t first_seq, size_t min_acks) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    AppendUntilKilled(path, first_seq, fds[1]);
  }
  close(fds[1]);
  std::vector<uint64_t> acked;
  uint64_t seq = 0;
  while (acked.size() < min_acks && ReadFull(fds[0], &seq, sizeof(seq)) == sizeof(seq)) {
    acked.push_back(seq);
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  while (ReadFull(fds[0], &seq, sizeof(seq)) == sizeof(seq)) acked.push_back(seq);
  close(fds[0]);
  return acked;
}

TEST(LmdbBufferCrashTest, EveryAcknowledgedRecordSurvivesSigkillExactlyOnce) {
  TempDir dir;
  const std::string path = dir.Sub("buffer");
  std::mt19937 random(12345);
  std::vector<uint64_t> all_acked;
  uint64_t next_first = 1;
  for (int round = 0; round < 5; ++round) {
    // Each restart resends a little of what was already acknowledged (like collectord's
    // window after a reconnect): those must be dropped as duplicates.
    const uint64_t first = next_first > 20 ? next_first - 20 : 1;
    std::vector<uint64_t> acked = RunAndKill(path, first, 40 + random() % 200);
    ASSERT_FALSE(acked.empty()) << "round " << round;
    all_acked.insert(all_acked.end(), acked.begin(), acked.end());
    next_first = acked.back() + 1;
  }

  LmdbBufferOptions options;
  options.path = path;
  auto buffer = LmdbBuffer::Open(options);
  ASSERT_TRUE(buffer.ok()) << buffer.status().ToString();
  auto items = (*buffer)->Peek(1000000);
  ASSERT_TRUE(items.ok());
  std::map<uint64_t, int> stored;
  uint64_t previous = 0;
  for (const auto& item : *items) {
    ++stored[item.record.id().seq()];
    EXPECT_GT(item.record.id().seq(), previous) << "FIFO order";
    previous = item.record.id().seq();
  }
  for (uint64_t seq : all_acked) EXPECT_EQ(stored[seq], 1) << "seq " << seq;
  EXPECT_GE(*(*buffer)->HighWaterMark("boot"), all_acked.back());
  EXPECT_EQ((*buffer)->Stats()->corrupt_skipped, 0u);
}

TEST(LmdbBufferCrashTest, ReaderSlotOfAKilledProcessIsCleared) {
  TempDir dir;
  LmdbBufferOptions options;
  options.path = dir.Sub("buffer");
  auto buffer = LmdbBuffer::Open(options);
  ASSERT_TRUE(buffer.ok());
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  if (pid == 0) {
    // A reader that dies holding its read transaction (and its reader slot).
    close(fds[0]);
    LmdbBufferOptions child_options = options;
    child_options.read_only = true;
    auto child = LmdbBuffer::Open(child_options);
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    if (!child.ok() || mdb_env_create(&env) != 0 || mdb_env_set_maxdbs(env, 8) != 0 ||
        mdb_env_open(env, options.path.c_str(), MDB_RDONLY, 0600) != 0 ||
        mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) != 0) {
      _exit(2);
    }
    char ready = 'r';
    if (write(fds[1], &ready, 1) != 1) _exit(3);
    pause();
    _exit(0);
  }
  close(fds[1]);
  char ready = 0;
  ASSERT_EQ(ReadFull(fds[0], &ready, 1), 1u);
  close(fds[0]);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  auto cleared = (*buffer)->ClearStaleReaders();
  ASSERT_TRUE(cleared.ok());
  EXPECT_EQ(*cleared, 1);
  EXPECT_EQ(*(*buffer)->ClearStaleReaders(), 0);
}

}  // namespace
}  // namespace pgagent
