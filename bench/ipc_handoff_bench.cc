// Records per second through the IPC handoff into the durable LMDB buffer, and the
// enqueue -> acknowledgement latency (p50/p99), with collectord's ZmqOutbox and shipperd's
// IngestServer in two threads of one process over a real ipc:// socket, and fsync'ed LMDB
// commits. Not a test.
//   ipc_handoff_bench [records=20000] [record_bytes=1024] [runs=5]
#include <algorithm>
#include <filesystem>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "collectord/outbox/zmq_outbox.h"
#include "common/ipc_frame.h"
#include "shared/buffer/lmdb_buffer.h"
#include "shipperd/ingest/ingest_server.h"

namespace {

using Clock = std::chrono::steady_clock;
using pgagent::v1::Record;

Record Make(uint64_t n, size_t bytes) {
  Record r;
  r.set_kind(pgagent::v1::RECORD_KIND_LOG);
  r.mutable_collected_at()->set_seconds(1795773600);
  auto* e = r.mutable_log()->add_entries();
  e->set_level("LOG");
  e->set_message(std::to_string(n) + " " + std::string(bytes, 'x'));
  r.mutable_log()->set_count(1);
  return r;
}

uint64_t NumberOf(const Record& r) { return std::strtoull(r.log().entries(0).message().c_str(), nullptr, 10); }

struct RunResult {
  double records_per_s;
  double p50_ms;
  double p99_ms;
};

RunResult RunOnce(size_t records, size_t record_bytes) {
  char tmpl[] = "/tmp/pgagent-ipcbench-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  pgagent::LmdbBufferOptions bo;
  bo.path = dir + "/buffer";
  bo.max_size_mb = 1024;
  auto buffer = pgagent::LmdbBuffer::Open(bo);
  if (!buffer.ok()) std::abort();
  pgagent::IngestOptions io;
  io.runtime_dir = dir + "/run";
  auto server = pgagent::IngestServer::Bind(io, **buffer, pgagent::SystemClock::Instance());
  if (!server.ok()) std::abort();
  std::atomic<bool> stop{false};
  std::thread ingest([&] {
    while (!stop) (void)(*server)->Poll(std::chrono::milliseconds(50));
  });
  pgagent::ZmqOutboxOptions oo;
  oo.endpoint = pgagent::IngestEndpoint(io.runtime_dir);
  auto outbox = pgagent::ZmqOutbox::Connect(oo, pgagent::SystemClock::Instance());
  if (!outbox.ok()) std::abort();
  std::vector<Clock::time_point> offered(records + 1);
  std::vector<double> latency_ms;
  latency_ms.reserve(records);
  uint64_t next = 1;
  const auto start = Clock::now();
  while (latency_ms.size() < records) {
    while (next <= records && (*outbox)->CanAcceptLog()) {
      offered[next] = Clock::now();
      if (!(*outbox)->Offer(Make(next, record_bytes)).ok()) break;
      ++next;
    }
    std::vector<Record> acked;
    (*outbox)->Poll(std::chrono::milliseconds(1), &acked);
    const auto now = Clock::now();
    for (const auto& r : acked) {
      latency_ms.push_back(std::chrono::duration<double, std::milli>(now - offered[NumberOf(r)]).count());
    }
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  stop = true;
  ingest.join();
  outbox->reset();
  server->reset();
  buffer->reset();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  std::sort(latency_ms.begin(), latency_ms.end());
  return {records / secs, latency_ms[latency_ms.size() / 2], latency_ms[latency_ms.size() * 99 / 100]};
}

}  // namespace

int main(int argc, char** argv) {
  const size_t records = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;
  const size_t bytes = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1024;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  std::vector<RunResult> results;
  for (int i = 0; i < runs; ++i) {
    results.push_back(RunOnce(records, bytes));
    std::printf("run %d: %.0f records/s, p50 %.2f ms, p99 %.2f ms\n", i + 1, results.back().records_per_s,
                results.back().p50_ms, results.back().p99_ms);
  }
  auto median = [&](auto field) {
    std::vector<double> v;
    for (const auto& r : results) v.push_back(field(r));
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("ipc_handoff: %zu records of ~%zu bytes, %d runs: median %.0f records/s, median p50 %.2f ms, median p99 %.2f ms\n",
              records, bytes, runs, median([](const RunResult& r) { return r.records_per_s; }),
              median([](const RunResult& r) { return r.p50_ms; }),
              median([](const RunResult& r) { return r.p99_ms; }));
  return 0;
}
