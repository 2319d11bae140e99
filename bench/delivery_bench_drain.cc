// Time to drain a 100 MB backlog to the real HTTPS test listener (tests/harness/
// test_listener.h, rate limit off) with the real LmdbBuffer (durable: every Remove() is a
// committed, fsync'ed transaction, as in shipperd), CurlTransport (TLS, keep-alive) and
// Dispatcher (budget set out of the way: 1,000,000 requests/min). The backlog is the
// realistic record mix of delivery_bench_records.h (activity snapshots with sessions,
// statements, system, health, log batches), collected hours ago (an outage).
// durable:0 opens the buffer with MDB_NOSYNC (not durable; for comparison only).
// Filling the buffer is not timed; the drain is (manual time). Counters per repetition:
//   MB_per_s       buffered bytes (the buffer's own accounting) drained per second
//   json_MB_per_s  request-body bytes sent per second
//   records_per_s, requests_per_s
// The listener is python3 (standard library): it is the bottleneck, not pgagent; the
// figures are a floor. Run: delivery_bench_drain (see bench/CMakeLists.txt).
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/delivery_bench_records.h"
#include "common/clock.h"
#include "shared/buffer/lmdb_buffer.h"
#include "shared/listener/curl_transport.h"
#include "shipperd/delivery/dispatcher.h"
#include "tests/harness/test_listener.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kBacklogBytes = 100ull << 20;

testing::TestListener* g_listener = nullptr;

// Counts what goes through the real transport.
class CountingTransport final : public Transport {
 public:
  explicit CountingTransport(Transport& inner) : inner_(inner) {}
  Result<HttpResponse> Post(const HttpRequest& request) override {
    ++requests_;
    body_bytes_ += request.body.size();
    return inner_.Post(request);
  }
  Result<HttpResponse> Get(const std::string& url) override { return inner_.Get(url); }
  uint64_t requests() const { return requests_; }
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  Transport& inner_;
  uint64_t requests_ = 0;
  uint64_t body_bytes_ = 0;
};

// Fills `buffer` with whole minutes of the mix until its accounted bytes reach the goal.
// Returns the number of records stored, 0 on failure.
uint64_t FillBacklog(LmdbBuffer& buffer) {
  bench::RecordMix mix;
  // Collected over the hours before now: an outage that just ended.
  auto at = std::chrono::system_clock::now() - 24h;
  uint64_t records = 0;
  for (int minute = 0; minute < 24 * 60; ++minute, at += 60s) {
    std::vector<pgagent::v1::Record> batch = mix.Minute(at);
    if (!buffer.Append(batch).ok()) return 0;
    records += batch.size();
    if (minute % 10 != 9) continue;  // Stats() scans every record: not after each minute
    auto stats = buffer.Stats();
    if (!stats.ok()) return 0;
    if (stats->bytes >= kBacklogBytes) return records;
  }
  return records;
}

void BM_DrainBacklogToTestListener(benchmark::State& state) {
  const bool live_first = state.range(0) != 0;
  const bool durable = state.range(1) != 0;
  for (auto _ : state) {
    std::string dir = (std::filesystem::temp_directory_path() / "pgagent-drain-XXXXXX").string();
    if (mkdtemp(dir.data()) == nullptr) {
      state.SkipWithError("mkdtemp failed");
      return;
    }
    LmdbBufferOptions bo;
    bo.path = dir + "/buffer";
    bo.max_size_mb = 160;
    bo.no_sync_ForTest = !durable;  // durable=0 shows what the fsyncs of Remove() cost
    auto buffer = LmdbBuffer::Open(bo);
    if (!buffer.ok()) {
      state.SkipWithError(buffer.status().ToString().c_str());
      std::filesystem::remove_all(dir);
      return;
    }
    const uint64_t records = FillBacklog(**buffer);
    const uint64_t bytes = (*buffer)->Stats()->bytes;
    (void)g_listener->Reset();

    CurlTransportOptions to;
    to.ca_file = g_listener->ca_file();
    auto curl = CurlTransport::Create(to);
    if (records == 0 || !curl.ok()) {
      state.SkipWithError("fill or transport failed");
      std::filesystem::remove_all(dir);
      return;
    }
    CountingTransport transport(**curl);
    DispatcherOptions o;
    o.url = g_listener->ingest_url();
    o.api_key = g_listener->options().api_key;
    o.project_id = g_listener->options().project;
    o.budget.per_minute = 1000000;
    o.live_first = live_first;
    Dispatcher dispatcher(o, **buffer, nullptr, transport, SystemClock::Instance(),
                          [] { return 0.5; });

    const auto start = std::chrono::steady_clock::now();
    bool drained = false;
    uint64_t cleared_at = 0;
    // Bounded: 15 minutes of wall time.
    while (std::chrono::steady_clock::now() - start < 15min) {
      const auto wait = dispatcher.Step();
      // The listener keeps every row in memory: drop them now and then (a quick local call).
      if (transport.requests() >= cleared_at + 2000) {
        cleared_at = transport.requests();
        (void)g_listener->ClearStored();
      }
      if (wait == 0ms) continue;
      if ((*buffer)->Peek(1)->empty()) {
        drained = true;
        break;
      }
      std::this_thread::sleep_for(std::min(wait, std::chrono::milliseconds(50)));
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    state.SetIterationTime(seconds);
    const DispatcherStats stats = dispatcher.stats();
    state.counters["MB_per_s"] = static_cast<double>(bytes) / (1 << 20) / seconds;
    state.counters["json_MB_per_s"] =
        static_cast<double>(transport.body_bytes()) / (1 << 20) / seconds;
    state.counters["records_per_s"] = static_cast<double>(records) / seconds;
    state.counters["requests_per_s"] = static_cast<double>(transport.requests()) / seconds;
    state.counters["records"] = static_cast<double>(records);
    state.counters["requests"] = static_cast<double>(transport.requests());
    state.counters["failed"] = static_cast<double>(stats.requests_failed + stats.dead_lettered);
    buffer->reset();
    std::filesystem::remove_all(dir);
    if (!drained) state.SkipWithError("did not drain within 15 minutes");
  }
}

BENCHMARK(BM_DrainBacklogToTestListener)
    ->ArgNames({"live_first", "durable"})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Iterations(1)
    ->Repetitions(3)
    ->UseManualTime()
    ->Unit(benchmark::kSecond)
    ->ReportAggregatesOnly(false);

}  // namespace
}  // namespace pgagent

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  pgagent::testing::TestListenerOptions options;
  options.rate_limit_per_minute = 0;
  auto listener = pgagent::testing::TestListener::Start(options);
  if (!listener.ok()) {
    fprintf(stderr, "test listener: %s\n", listener.status().ToString().c_str());
    return 1;
  }
  pgagent::g_listener = listener->get();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
