// Test peer for the IPC handoff tests: a collector that streams numbered records through a
// real ZmqOutbox (the code collectord uses) and appends the number of every record that
// shipperd acknowledged to --acked-file (fdatasync'ed per batch, so a number in the file was
// acknowledged before the process could be killed).
//   ipc_stream_peer --endpoint ipc://... --first 1000000 --count 5000 --acked-file F
//                   [--kind system|log] [--timeout-s 120] [--window-records N]
// Exits 0 when every record was acknowledged, 2 on timeout. Prints a summary line.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "collectord/outbox/zmq_outbox.h"
#include "common/clock.h"

namespace {

using pgagent::v1::Record;

Record Numbered(uint64_t n, bool log) {
  Record r;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  r.mutable_collected_at()->set_seconds(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  if (log) {
    r.set_kind(pgagent::v1::RECORD_KIND_LOG);
    auto* e = r.mutable_log()->add_entries();
    e->set_level("LOG");
    e->set_message(std::to_string(n));
    r.mutable_log()->set_count(1);
  } else {
    r.set_kind(pgagent::v1::RECORD_KIND_SYSTEM);
    r.mutable_system()->mutable_processes()->set_processes(static_cast<uint32_t>(n));
    r.mutable_system()->set_interval_s(static_cast<double>(n));
  }
  return r;
}

uint64_t NumberOf(const Record& r) {
  if (r.kind() == pgagent::v1::RECORD_KIND_LOG) return std::strtoull(r.log().entries(0).message().c_str(), nullptr, 10);
  return static_cast<uint64_t>(r.system().interval_s());
}

}  // namespace

int main(int argc, char** argv) {
  std::string endpoint, acked_file, kind = "system";
  uint64_t first = 1, count = 1000;
  int timeout_s = 120;
  size_t window_records = 256;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--endpoint") endpoint = v;
    else if (k == "--acked-file") acked_file = v;
    else if (k == "--first") first = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--count") count = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--kind") kind = v;
    else if (k == "--timeout-s") timeout_s = std::atoi(v.c_str());
    else if (k == "--window-records") window_records = std::strtoull(v.c_str(), nullptr, 10);
  }
  const bool log = kind == "log";
  const int fd = ::open(acked_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) {
    std::perror("open acked file");
    return 1;
  }
  pgagent::ZmqOutboxOptions options;
  options.endpoint = endpoint;
  options.window.max_inflight_records = window_records;
  options.window.ack_timeout = std::chrono::milliseconds(1000);
  auto outbox = pgagent::ZmqOutbox::Connect(options, pgagent::SystemClock::Instance());
  if (!outbox.ok()) {
    std::fprintf(stderr, "%s\n", outbox.status().ToString().c_str());
    return 1;
  }
  uint64_t next = first, acked = 0, log_pauses = 0;
  bool paused = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (acked < count && std::chrono::steady_clock::now() < deadline) {
    // Offer while the window has room (logs: while the outbox accepts them).
    while (next < first + count) {
      if (log && !(*outbox)->CanAcceptLog()) {
        if (!paused) ++log_pauses;
        paused = true;
        break;
      }
      if (!log && (*outbox)->stats().window.pending_records >= 64) break;
      paused = false;
      if (!(*outbox)->Offer(Numbered(next, log)).ok()) break;
      ++next;
    }
    std::vector<Record> done;
    (*outbox)->Poll(std::chrono::milliseconds(10), &done);
    if (done.empty()) continue;
    std::string lines;
    for (const auto& r : done) lines += std::to_string(NumberOf(r)) + "\n";
    if (::write(fd, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) return 1;
    ::fdatasync(fd);
    acked += done.size();
  }
  const auto s = (*outbox)->stats().window;
  std::printf("acked=%llu sent=%llu resent=%llu dropped_snapshots=%llu new_boots=%llu log_pauses=%llu\n",
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(s.sent),
              static_cast<unsigned long long>(s.resent), static_cast<unsigned long long>(s.dropped_snapshots),
              static_cast<unsigned long long>(s.new_boots), static_cast<unsigned long long>(log_pauses));
  std::fflush(stdout);
  ::close(fd);
  return acked == count ? 0 : 2;
}
