// Idle cost of both daemons (issue 16 item 2): a throwaway PostgreSQL cluster whose log is
// quiet, the HTTPS test listener, pgagent-shipperd and pgagent-collectord at interval_s = 60,
// then each daemon's CPU share of one core over the measured window, from utime + stime in
// /proc/<pid>/stat (kernel counters, not timers). Not a test: a benchmark to run by hand.
//   idle_cpu_bench [--seconds 180] [--warmup 20] [--bin-dir DIR] [--interval 60]
// --bin-dir holds collectord/pgagent-collectord and shipperd/pgagent-shipperd (default: this
// build), so that binaries of another commit can be measured the same way.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "bench/e2e/proc_sampler.h"
#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace {

using namespace std::chrono_literals;
using pgagent::testing::ChildProcess;
using pgagent::testing::PgCluster;
using pgagent::testing::TestListener;

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "idle_cpu_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Args {
  int seconds = 180;
  int warmup = 20;
  int interval = 60;
  std::string bin_dir = pgagent::testing::BinaryDir();
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--seconds")
      a.seconds = std::atoi(v.c_str());
    else if (k == "--warmup")
      a.warmup = std::atoi(v.c_str());
    else if (k == "--interval")
      a.interval = std::atoi(v.c_str());
    else if (k == "--bin-dir")
      a.bin_dir = v;
    else
      Fail("unknown option " + k);
  }
  return a;
}

std::string WriteConfig(const std::string& dir, const PgCluster& pg, const TestListener& listener,
                        int interval) {
  const std::string path = dir + "/pgagent.ini";
  std::ofstream f(path);
  f << "[database]\nhost = 127.0.0.1\nport = " << pg.port()
    << "\nname = postgres\nuser = postgres\n"
    << "[collection]\ninterval_s = " << interval << "\nlog_path = auto\n"
    << "[listener]\nurl = " << listener.ingest_url() << "\napi_key = " << listener.options().api_key
    << "\nproject_id = idle-bench\nca_file = " << listener.ca_file() << "\n"
    << "[buffer]\npath = " << dir << "/buffer\n"
    << "[ipc]\nruntime_dir = " << dir << "/run\n"
    << "[agent]\nstate_dir = " << dir << "/state\ncontrol_dir = " << dir << "/run\n";
  f.close();
  chmod(path.c_str(), 0600);
  return path;
}

double CpuSeconds(const ChildProcess& child) {
  auto s = pgagent::e2e::ReadProcSample(child.pid());
  if (!s.ok()) Fail("daemon " + std::to_string(child.pid()) + " is gone: " + s.status().ToString());
  return s->cpu_s;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = Parse(argc, argv);
  auto pg = PgCluster::Start();
  if (!pg.ok()) Fail(pg.status().ToString());
  auto listener = TestListener::Start();
  if (!listener.ok()) Fail(listener.status().ToString());
  auto dir = pgagent::testing::MakeTempDir("pgagent-idle-");
  if (!dir.ok()) Fail(dir.status().ToString());
  const std::string config = WriteConfig(*dir, **pg, **listener, args.interval);
  auto shipper = ChildProcess::Start({args.bin_dir + "/shipperd/pgagent-shipperd", config},
                                     *dir + "/shipperd.log");
  if (!shipper.ok()) Fail(shipper.status().ToString());
  auto collector = ChildProcess::Start({args.bin_dir + "/collectord/pgagent-collectord", config},
                                       *dir + "/collectord.log");
  if (!collector.ok()) Fail(collector.status().ToString());
  std::this_thread::sleep_for(std::chrono::seconds(args.warmup));

  const double c0 = CpuSeconds(**collector), s0 = CpuSeconds(**shipper);
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(args.seconds));
  const double c1 = CpuSeconds(**collector), s1 = CpuSeconds(**shipper);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::printf(
      "idle window %.0f s at interval_s = %d (after %d s warm-up), CPU from /proc/<pid>/stat\n",
      wall, args.interval, args.warmup);
  std::printf("  collectord  %.3f CPU s  %.4f%% of one core\n", c1 - c0, 100.0 * (c1 - c0) / wall);
  std::printf("  shipperd    %.3f CPU s  %.4f%% of one core\n", s1 - s0, 100.0 * (s1 - s0) / wall);
  (void)collector.value()->Stop(15s);
  (void)shipper.value()->Stop(15s);
  pgagent::testing::RemoveTree(*dir);
  return 0;
}
