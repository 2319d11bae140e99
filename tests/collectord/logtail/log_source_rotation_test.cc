// File -> parsed pg_log batches across rename + create rotations and a restart, with a writer
// thread at >= 10k lines/s writing stderr-format entries (some with DETAIL continuation lines).
// Batches are acknowledged (committed) as they arrive; every entry number arrives exactly once,
// and no batch mixes two files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "collectord/logtail/log_source.h"
#include "tests/collectord/logtail_unit/logtail_test_util.h"

namespace pgagent::logtail {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

std::string Entry(int n) {
  std::string head = "2026-11-27 10:00:00.123 UTC [" + std::to_string(1000 + n % 50) + "] ";
  std::string out = head + "LOG:  message number " + std::to_string(n) + "\n";
  if (n % 7 == 0) out += head + "DETAIL:  detail of " + std::to_string(n) + "\n";
  return out;
}

void WriteEntries(int fd, int first, int count) {
  std::string data;
  for (int n = first; n < first + count; ++n) data += Entry(n);
  if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::abort();
}

int OpenAppend(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) std::abort();
  return fd;
}

class LogSourceRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parser = LogParser::Create(LogParserOptions{});
    ASSERT_TRUE(parser.ok()) << parser.status().ToString();
    parser_ = std::move(parser).value();
    auto store = OffsetStore::Open(dir_.File("state"), "pg");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }

  std::unique_ptr<LogSource> Make() {
    LogSourceOptions o;
    o.tail.path = path_;
    o.tail.start_at_beginning = true;
    o.tail.rotate_wait = 100ms;
    o.tail.commit_interval = 0ms;
    o.assembler.idle_timeout = 20ms;
    o.batcher.max_entries = 200;
    o.batcher.linger = 20ms;
    o.max_unacked_batches = 4;
    auto s = LogSource::Create(o, *parser_, PosixLogFileSystem::Instance(), SystemClock::Instance(),
                               store_.get());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }

  // Polls, records entry numbers, acknowledges every batch; until `total` distinct numbers
  // arrived or 30 s passed.
  void ReceiveUntil(LogSource& source, int total) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    std::vector<pgagent::v1::LogBatch> batches;
    while (static_cast<int>(seen_.size()) < total && std::chrono::steady_clock::now() < deadline) {
      batches.clear();
      source.Poll(&batches);
      for (const auto& batch : batches) Record(batch);
      for (const auto& batch : batches) ASSERT_TRUE(source.Commit(batch.cursor()).ok());
      if (batches.empty()) std::this_thread::sleep_for(1ms);
    }
  }

  void Record(const pgagent::v1::LogBatch& batch) {
    EXPECT_EQ(batch.count(), static_cast<uint32_t>(batch.entries_size()));
    EXPECT_EQ(batch.unparsed(), 0u);
    for (const auto& e : batch.entries()) {
      int n = -1;
      EXPECT_EQ(std::sscanf(e.message().c_str(), "message number %d", &n), 1) << e.message();
      ++seen_[n];
      if (n % 7 == 0) {
        EXPECT_EQ(e.detail(), "detail of " + std::to_string(n));
      }
    }
  }

  TempDir dir_;
  std::string path_ = dir_.File("postgresql.log");
  std::unique_ptr<LogParser> parser_;
  std::unique_ptr<OffsetStore> store_;
  std::map<int, int> seen_;
};

TEST_F(LogSourceRotationTest, EveryEntryArrivesOnceAcrossRotationsAndARestart) {
  constexpr int kTotal = 40000;
  constexpr int kRotateEvery = 8000;
  testing::WriteFile(path_, "");
  std::atomic<bool> done{false};
  double rate = 0;
  std::thread writer([&] {
    const auto start = std::chrono::steady_clock::now();
    int fd = OpenAppend(path_);
    for (int n = 0; n < kTotal; n += 40) {
      WriteEntries(fd, n, 40);
      if ((n + 40) % kRotateEvery == 0 && n + 40 < kTotal) {
        std::rename(path_.c_str(), (path_ + "." + std::to_string(n)).c_str());
        ::close(fd);
        fd = OpenAppend(path_);
      }
      // On a schedule of 25k lines/s: sleeps only when ahead of it.
      std::this_thread::sleep_until(start + std::chrono::microseconds((n + 40) * 40));
    }
    ::close(fd);
    rate = kTotal / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    done = true;
  });
  {
    auto source = Make();
    ReceiveUntil(*source, kTotal / 2);  // then collectord stops, mid-stream
  }
  auto source = Make();
  ReceiveUntil(*source, kTotal);
  writer.join();
  EXPECT_GE(rate, 10000.0);
  EXPECT_EQ(static_cast<int>(seen_.size()), kTotal);
  for (int n = 0; n < kTotal; ++n) {
    if (!seen_.count(n)) {
      ADD_FAILURE() << "first missing entry: " << n;
      break;
    }
  }
  int duplicated = 0;
  for (const auto& [n, count] : seen_) duplicated += count > 1 ? 1 : 0;
  // Every batch was acknowledged before the stop: nothing is read twice.
  EXPECT_EQ(duplicated, 0);
  EXPECT_GE(source->tailer().stats().rotations, 1u);
}

}  // namespace
}  // namespace pgagent::logtail
