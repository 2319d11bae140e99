// End-to-end log tailing throughput on a real file (page cache warm): file -> lines
// (FileTailer, for several read chunk sizes) and file -> redacted pg_log batches with
// acknowledgement commits (LogSource: tailer + stderr parser + batcher). A generated stderr
// log of mixed statements (150-300 byte lines) is written once to a temporary directory.
// Reports items/s = lines per second and bytes/s; run with --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true for medians.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "collectord/logs/log_parser.h"
#include "collectord/logtail/file_tailer.h"
#include "collectord/logtail/log_source.h"

namespace pgagent::logtail {
namespace {

constexpr int kLines = 200000;

std::string MakeLine(std::mt19937& rng, int i) {
  static const char* kTables[] = {"orders", "customers", "order_items", "invoices", "sessions"};
  const std::string head = "2026-11-27 10:26:01." + std::to_string(100 + i % 900) + " UTC [" +
                           std::to_string(1000 + i % 5000) + "] app@shop php-fpm ";
  const std::string table = kTables[rng() % 5];
  const std::string id = std::to_string(rng() % 1000000);
  switch (rng() % 10) {
    case 0:
      return head + "ERROR:  duplicate key value violates unique constraint \"" + table +
             "_pkey\"\n" + head + "DETAIL:  Key (id)=(" + id + ") already exists.\n";
    case 1:
      return head +
             "LOG:  connection authorized: user=app database=shop application_name=php-fpm "
             "SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)\n";
    default:
      return head + "LOG:  duration: " + std::to_string(rng() % 900) +
             ".123 ms  statement: SELECT o.id, o.status, o.total FROM " + table +
             " o WHERE o.customer_id = " + id + " AND o.status = 'open' ORDER BY o.id LIMIT 20\n";
  }
}

struct LogFixture {
  LogFixture() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "pgagent-tailbench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir = tmpl;
    path = dir + "/postgresql.log";
    std::mt19937 rng(42);
    std::string data;
    for (int i = 0; i < kLines; ++i) data += MakeLine(rng, i);
    for (char c : data) lines += c == '\n' ? 1 : 0;
    bytes = data.size();
    std::ofstream(path, std::ios::binary) << data;
  }
  ~LogFixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string dir, path;
  int64_t lines = 0;
  int64_t bytes = 0;
};

LogFixture& Fixture() {
  static LogFixture fixture;
  return fixture;
}

FileTailerOptions Options(size_t chunk) {
  FileTailerOptions o;
  o.path = Fixture().path;
  o.start_at_beginning = true;
  o.read_chunk_bytes = chunk;
  return o;
}

void BM_FileToLines(benchmark::State& state) {
  LogFixture& f = Fixture();
  TailPoll poll;
  int64_t lines = 0;
  for (auto _ : state) {
    auto tailer =
        FileTailer::Create(Options(static_cast<size_t>(state.range(0))),
                           PosixLogFileSystem::Instance(), SystemClock::Instance(), nullptr)
            .value();
    while (tailer->line_offset() < static_cast<uint64_t>(f.bytes)) {
      tailer->Poll(&poll);
      lines += static_cast<int64_t>(poll.lines.size());
      benchmark::DoNotOptimize(poll.lines.data());
    }
  }
  if (lines != state.iterations() * f.lines) state.SkipWithError("lines lost");
  state.SetItemsProcessed(lines);
  state.SetBytesProcessed(state.iterations() * f.bytes);
}

void BM_FileToBatches(benchmark::State& state) {
  LogFixture& f = Fixture();
  LogParserOptions parser_options;
  parser_options.log_line_prefix = "%m [%p] %q%u@%d %a ";
  auto parser = LogParser::Create(parser_options).value();
  std::vector<pgagent::v1::LogBatch> batches;
  int64_t entries = 0;
  for (auto _ : state) {
    LogSourceOptions o;
    o.tail = Options(256 * 1024);
    auto source = LogSource::Create(o, *parser, PosixLogFileSystem::Instance(),
                                    SystemClock::Instance(), nullptr)
                      .value();
    uint64_t acked_offset = 0;
    while (acked_offset < static_cast<uint64_t>(f.bytes)) {
      batches.clear();
      source->Poll(&batches);
      if (source->tailer().line_offset() >= static_cast<uint64_t>(f.bytes)) source->Flush(&batches);
      for (const auto& b : batches) {
        entries += b.count();
        acked_offset = b.cursor().offset();
        if (!source->Commit(b.cursor()).ok()) state.SkipWithError("commit failed");
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * f.lines);
  state.SetBytesProcessed(state.iterations() * f.bytes);
  state.counters["entries"] =
      static_cast<double>(entries) / static_cast<double>(state.iterations());
}

BENCHMARK(BM_FileToLines)
    ->Arg(64 << 10)
    ->Arg(256 << 10)
    ->Arg(1 << 20)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FileToBatches)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pgagent::logtail

BENCHMARK_MAIN();
