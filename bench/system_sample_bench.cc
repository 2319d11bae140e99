// Cost of collectord/system sampling against this machine's real /proc:
//  - BM_SystemSample: one full SystemCollector::Collect() (stat, meminfo, loadavg, diskstats,
//    net/dev, 3x pressure, /proc listing, 3x statvfs), and the process RSS while sampling
//    (VmRSS of /proc/self/status, counter rss_kb);
//  - BM_LoadSignalRead: one burst-controller reading (/proc/loadavg + /proc/pressure/cpu);
//  - BM_BackendSample/N: BackendResourceSampler over N live pids (stat + io each).
// Run with --benchmark_repetitions=10 --benchmark_report_aggregates_only=true for medians.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "collectord/system/backend_resources.h"
#include "collectord/system/load_signal.h"
#include "collectord/system/proc_fs.h"
#include "collectord/system/proc_parsers.h"
#include "collectord/system/system_collector.h"
#include "common/clock.h"

namespace pgagent::system {
namespace {

// VmRSS of this process in kB, 0 when unreadable.
double RssKb(const ProcFs& fs) {
  Result<std::string> status = fs.ReadFile("/proc/self/status");
  if (!status.ok()) return 0;
  const size_t at = status->find("VmRSS:");
  if (at == std::string::npos) return 0;
  return std::strtod(status->c_str() + at + 6, nullptr);
}

void BM_SystemSample(benchmark::State& state) {
  RealProcFs fs;
  SystemOptions options;
  options.data_directory = "/tmp";
  options.log_directory = "/var/log";
  SystemCollector collector(options, fs, SystemClock::Instance());
  pgagent::v1::Record record;
  for (auto _ : state) {
    record.Clear();
    Status status = collector.Collect(record);
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(record);
  }
  state.counters["rss_kb"] = RssKb(fs);
  state.counters["record_bytes"] = static_cast<double>(record.ByteSizeLong());
}
BENCHMARK(BM_SystemSample)->Unit(benchmark::kMicrosecond);

void BM_LoadSignalRead(benchmark::State& state) {
  RealProcFs fs;
  ProcLoadSignalSource source(fs, ProcLoadSignalSource::OnlineCores());
  for (auto _ : state) {
    Result<LoadSignal> signal = source.Read();
    benchmark::DoNotOptimize(signal);
  }
}
BENCHMARK(BM_LoadSignalRead)->Unit(benchmark::kMicrosecond);

void BM_BackendSample(benchmark::State& state) {
  RealProcFs fs;
  std::vector<int32_t> pids;
  Result<std::vector<std::string>> names = fs.ListDir("/proc");
  if (names.ok()) {
    for (const std::string& name : *names) {
      if (CountPidEntries({name}) == 1) pids.push_back(std::atoi(name.c_str()));
    }
  }
  pids.resize(std::min<size_t>(pids.size(), static_cast<size_t>(state.range(0))));
  BackendResourceSampler sampler(fs, SystemClock::Instance(), HostBackendSamplerOptions());
  for (auto _ : state) {
    auto result = sampler.Sample(pids);
    benchmark::DoNotOptimize(result);
  }
  state.counters["pids"] = static_cast<double>(pids.size());
}
BENCHMARK(BM_BackendSample)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pgagent::system

BENCHMARK_MAIN();
