// Durable enqueue rate of LmdbBuffer (records/s): realistic record sizes (1 and 4 KiB) with
// 1, 16 and 128 records per write transaction. Every Append() is one committed, fsync'ed
// transaction, as in shipperd. Run with --benchmark_repetitions (defaults to 5 here) and
// read the medians.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "shared/buffer/lmdb_buffer.h"

namespace pgagent {
namespace {

pgagent::v1::Record LogRecord(size_t record_bytes) {
  pgagent::v1::Record record;
  record.mutable_id()->set_boot_id("0b6a3d9e-6c1f-4f7e-9a55-1d2f3c4b5a69");
  record.set_kind(pgagent::v1::RECORD_KIND_LOG);
  record.mutable_collected_at()->set_seconds(1767225600);
  record.set_project_id("bench");
  record.set_host("db1.example");
  auto* entry = record.mutable_log()->add_entries();
  entry->set_level("LOG");
  std::string message;
  while (message.size() < record_bytes) message += "duration: 12.345 ms  statement: SELECT 1; ";
  message.resize(record_bytes > 120 ? record_bytes - 120 : record_bytes);
  entry->set_message(message);
  record.mutable_log()->set_count(1);
  return record;
}

void BM_DurableAppend(benchmark::State& state) {
  const size_t record_bytes = static_cast<size_t>(state.range(0));
  const size_t batch_size = static_cast<size_t>(state.range(1));
  std::string dir = (std::filesystem::temp_directory_path() / "pgagent-bench-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    state.SkipWithError("mkdtemp failed");
    return;
  }
  LmdbBufferOptions options;
  options.path = dir + "/buffer";
  auto buffer = LmdbBuffer::Open(options);
  if (!buffer.ok()) {
    state.SkipWithError(buffer.status().ToString().c_str());
    return;
  }
  std::vector<pgagent::v1::Record> batch(batch_size, LogRecord(record_bytes));
  uint64_t seq = 1;
  for (auto _ : state) {
    for (auto& record : batch) record.mutable_id()->set_seq(seq++);
    auto outcome = (*buffer)->Append(batch);
    if (!outcome.ok()) {
      state.SkipWithError(outcome.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * batch_size));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch_size * record_bytes));
  buffer->reset();
  std::filesystem::remove_all(dir);
}

BENCHMARK(BM_DurableAppend)
    ->ArgNames({"record_bytes", "batch"})
    ->ArgsProduct({{1024, 4096}, {1, 16, 128}})
    ->UseRealTime()
    ->MinTime(1.0)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace
}  // namespace pgagent

BENCHMARK_MAIN();
