// Simulated drain of a 1-hour (and a 6-hour) outage backlog at a fixed request budget: FakeClock +
// FakeTransport (answers 200 at once) + FakeRecordBuffer, with the real EnvelopeEncoder and
// Dispatcher. The backlog is what one hour of the default 60 s interval produces
// (delivery_bench_records.h: 5 snapshots a minute + a log batch a second, 200 lines a
// minute, with correlation ids); while it drains, live data keeps arriving every second.
// Reported (simulated time, deterministic, so one repetition):
//   drain_min            minutes until every backlog record left the buffer
//   max_req_per_60s      most requests in any 60 s span (must be <= the budget)
//   live_snapshot_max_s  worst delay from collection to sending of the snapshots collected
//                        during the drain (live_first's point), live_snapshot_p50_s median
//   requests             requests sent until the backlog drained
//   max_req_per_60s is observed over the drain and until those snapshots were sent.
// Run: delivery_bench_outage (see bench/CMakeLists.txt).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "bench/delivery_bench_records.h"
#include "shipperd/delivery/dispatcher.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_record_buffer.h"
#include "tests/fakes/fake_transport.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

uint64_t SeqOf(const std::string& body) {
  const std::string tag = "\"seq\":";
  const size_t at = body.find(tag);
  return at == std::string::npos ? 0 : std::stoull(body.substr(at + tag.size()));
}

struct OutageResult {
  double drain_min = -1;
  size_t max_per_60s = 0;
  double live_snapshot_max_s = 0;
  double live_snapshot_p50_s = 0;
  uint64_t requests = 0;
  uint64_t backlog_records = 0;
};

// Sliding count of requests in the last 60 s of simulated time.
class WindowMax {
 public:
  void Add(std::chrono::steady_clock::time_point t) { sent_.push_back(t); }
  void Observe(std::chrono::steady_clock::time_point now) {
    while (!sent_.empty() && now - sent_.front() >= 60s) sent_.pop_front();
    max_ = std::max(max_, sent_.size());
  }
  size_t max() const { return max_; }

 private:
  std::deque<std::chrono::steady_clock::time_point> sent_;
  size_t max_ = 0;
};

OutageResult SimulateOutage(bool live_first, int requests_per_minute, int outage_minutes) {
  FakeClock clock;
  FakeRecordBuffer buffer(100ull << 20, &clock);
  FakeTransport transport;
  bench::RecordMix mix;
  OutageResult result;
  const auto outage_start = clock.Now() - std::chrono::minutes(outage_minutes);
  for (int m = 0; m < outage_minutes; ++m) {
    if (!buffer.Append(mix.Minute(outage_start + std::chrono::minutes(m))).ok()) return result;
  }
  result.backlog_records = buffer.Stats()->records;
  const uint64_t last_backlog_key = buffer.PeekNewest(1)->front().key;

  DispatcherOptions o;
  o.url = "https://127.0.0.1:1/ingest/postgres";
  o.api_key = "bench-key";
  o.budget.per_minute = requests_per_minute;
  o.live_first = live_first;
  Dispatcher dispatcher(o, buffer, nullptr, transport, clock, [] { return 0.5; });

  std::map<uint64_t, std::chrono::steady_clock::time_point> live_snapshots;  // seq -> stored
  std::vector<double> latencies_s;
  WindowMax window;
  size_t seen = 0;
  std::chrono::steady_clock::time_point drained_at{};
  const auto start = clock.Monotonic();
  auto next_second = start;
  int second = 0;
  // Bounded: 12 simulated hours.
  while (clock.Monotonic() - start < 12h) {
    if (clock.Monotonic() >= next_second) {
      std::vector<pgagent::v1::Record> records = mix.Second(clock.Now(), second % 60);
      for (const auto& r : records) {
        if (r.kind() != pgagent::v1::RECORD_KIND_LOG)
          live_snapshots[r.id().seq()] = clock.Monotonic();
      }
      if (!buffer.Append(records).ok()) return result;
      ++second;
      next_second += 1s;
    }
    const auto wait = dispatcher.Step();
    for (; seen < transport.requests().size(); ++seen) {
      window.Add(clock.Monotonic());
      auto it = live_snapshots.find(SeqOf(transport.requests()[seen].body));
      if (it == live_snapshots.end()) continue;
      latencies_s.push_back(std::chrono::duration<double>(clock.Monotonic() - it->second).count());
      live_snapshots.erase(it);
    }
    window.Observe(clock.Monotonic());
    auto head = buffer.Peek(1);
    if (result.drain_min < 0 && head.ok() &&
        (head->empty() || head->front().key > last_backlog_key)) {
      result.drain_min = std::chrono::duration<double>(clock.Monotonic() - start).count() / 60.0;
      result.requests = transport.requests().size();
      drained_at = clock.Monotonic();
    }
    // After the drain, run on until every snapshot collected during it has been sent.
    if (result.drain_min >= 0 &&
        (live_snapshots.empty() || live_snapshots.begin()->second >= drained_at)) {
      break;
    }
    const auto until_tick =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_second - clock.Monotonic());
    clock.Advance(std::clamp(wait, 1ms, std::max(until_tick, 1ms)));
  }
  result.max_per_60s = window.max();
  if (!latencies_s.empty()) {
    std::sort(latencies_s.begin(), latencies_s.end());
    result.live_snapshot_max_s = latencies_s.back();
    result.live_snapshot_p50_s = latencies_s[latencies_s.size() / 2];
  }
  return result;
}

void BM_DrainOutage(benchmark::State& state) {
  const bool live_first = state.range(0) != 0;
  const int budget = static_cast<int>(state.range(1));
  const int outage_minutes = static_cast<int>(state.range(2));
  OutageResult result;
  for (auto _ : state) result = SimulateOutage(live_first, budget, outage_minutes);
  state.counters["drain_min"] = result.drain_min;
  state.counters["max_req_per_60s"] = static_cast<double>(result.max_per_60s);
  state.counters["live_snapshot_max_s"] = result.live_snapshot_max_s;
  state.counters["live_snapshot_p50_s"] = result.live_snapshot_p50_s;
  state.counters["requests"] = static_cast<double>(result.requests);
  state.counters["backlog_records"] = static_cast<double>(result.backlog_records);
  if (result.drain_min < 0) state.SkipWithError("backlog did not drain in 12 simulated hours");
  if (result.max_per_60s > static_cast<size_t>(budget)) state.SkipWithError("budget exceeded");
}

BENCHMARK(BM_DrainOutage)
    ->ArgNames({"live_first", "req_per_min", "outage_min"})
    ->ArgsProduct({{0, 1}, {80, 100}, {60, 360}})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pgagent

BENCHMARK_MAIN();
