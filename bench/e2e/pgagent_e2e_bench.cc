// The end-to-end benchmark of issue 9 (overhead, soak with chaos, footprint) as a program:
//   pgagent_e2e_bench [--full|--quick] [--out DIR] [--phases overhead,soak,footprint,budget]
//                     [--budget-steady-s N] [--budget-outage-s N] [--budget-drain-limit-s N]
//                     [--budget-interval-s N] [--tagged-per-min N] [--burst-load-per-core X]
//                     [--soak-s N] [--run-s N] [--pairs N] [--kills N] [--down-s N]
//                     [--rotations N] [--pg-restarts N] [--lines-per-s N] [--footprint-s N]
//                     [--log-min-ms 0,250] [--log-statements all|summarize]
//                     [--interval-s 1] [--seed N] [--drain-s N]
//                     [--nice N (default 10, as the systemd units; 0: not niced)]
//                     [--policy other|batch|idle (scheduling policy; default other)]
//                     [--buffer-dir DIR (the daemons' LMDB buffers; default: the temp dir)]
//                     [--keep]
// Writes DIR/report.md and DIR/report.json (default build/e2e-report next to the binary's
// build tree). Exit code: 0 when the soak lost nothing and no daemon exited by itself
// (and, for --full, no RssAnon growth trend), 1 otherwise, 2 for a bad flag or an
// environment that cannot be set up. See docs/performance.md; scripts/e2e-report.sh
// builds and runs it.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>

#include "bench/e2e/e2e_runner.h"
#include "tests/support/child_process.h"

namespace {

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(
      stderr,
      "pgagent_e2e_bench: %s\n(see the comment at the top of bench/e2e/pgagent_e2e_bench.cc)\n",
      why.c_str());
  std::exit(2);
}

int IntFlag(const std::string& flag, const char* value) {
  char* end = nullptr;
  const long v = std::strtol(value, &end, 10);
  if (end == value || *end != '\0' || v < 0 || v > 1000000)
    Usage("bad value for " + flag + ": " + value);
  return static_cast<int>(v);
}

}  // namespace

int main(int argc, char** argv) {
  using pgagent::e2e::E2eOptions;
  E2eOptions o = pgagent::e2e::QuickOptions();
  std::string out_dir = pgagent::testing::BinaryDir() + "/e2e-report";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--full") {
      o = pgagent::e2e::FullOptions();
    } else if (a == "--quick") {
      o = pgagent::e2e::QuickOptions();
    } else if (a == "--out") {
      out_dir = next();
    } else if (a == "--phases") {
      std::set<std::string> phases;
      std::stringstream ss(next());
      for (std::string p; std::getline(ss, p, ',');) phases.insert(p);
      for (const auto& p : phases) {
        if (p != "overhead" && p != "soak" && p != "footprint" && p != "budget") {
          Usage("unknown phase " + p);
        }
      }
      o.run_overhead = phases.count("overhead") > 0;
      o.run_soak = phases.count("soak") > 0;
      o.run_footprint = phases.count("footprint") > 0;
      o.run_budget = phases.count("budget") > 0;
    } else if (a == "--budget-steady-s") {
      o.budget_steady_s = IntFlag(a, next());
    } else if (a == "--budget-outage-s") {
      o.budget_outage_s = IntFlag(a, next());
    } else if (a == "--budget-drain-limit-s") {
      o.budget_drain_limit_s = IntFlag(a, next());
    } else if (a == "--budget-interval-s") {
      o.budget_interval_s = IntFlag(a, next());
    } else if (a == "--burst-load-per-core") {
      o.budget_burst_load_per_core = std::atof(next());
    } else if (a == "--tagged-per-min") {
      o.tagged_per_minute = IntFlag(a, next());
    } else if (a == "--soak-s") {
      o.soak_s = IntFlag(a, next());
    } else if (a == "--run-s") {
      o.overhead_run_s = IntFlag(a, next());
    } else if (a == "--pairs") {
      o.overhead_pairs = IntFlag(a, next());
    } else if (a == "--kills") {
      o.kills = IntFlag(a, next());
    } else if (a == "--down-s") {
      o.listener_down_s = IntFlag(a, next());
    } else if (a == "--rotations") {
      o.rotations = IntFlag(a, next());
    } else if (a == "--pg-restarts") {
      o.pg_restarts = IntFlag(a, next());
    } else if (a == "--lines-per-s") {
      o.log_lines_per_s = IntFlag(a, next());
    } else if (a == "--footprint-s") {
      o.footprint_s = IntFlag(a, next());
    } else if (a == "--keep") {
      o.keep_dir = true;
    } else if (a == "--drain-s") {
      o.drain_every_s = IntFlag(a, next());
    } else if (a == "--log-min-ms") {
      // Comma-separated log_min_duration_statement values for the overhead series.
      o.overhead_log_min_duration_ms.clear();
      std::stringstream ss(next());
      for (std::string v; std::getline(ss, v, ',');) {
        o.overhead_log_min_duration_ms.push_back(IntFlag("--log-min-ms", v.c_str()));
      }
    } else if (a == "--log-statements") {
      o.overhead_log_statements = next();  // the agent's mode in the overhead phase's B runs
      if (o.overhead_log_statements != "all" && o.overhead_log_statements != "summarize") {
        Usage("--log-statements is all or summarize");
      }
    } else if (a == "--interval-s") {
      o.overhead_interval_s = IntFlag(a, next());
    } else if (a == "--nice") {
      o.agent_nice = IntFlag(a, next());
    } else if (a == "--buffer-dir") {
      o.buffer_dir = next();
    } else if (a == "--policy") {
      o.agent_policy = next();
      if (o.agent_policy != "other" && o.agent_policy != "batch" && o.agent_policy != "idle") {
        Usage("--policy is other, batch or idle");
      }
    } else if (a == "--seed") {
      o.seed = static_cast<uint32_t>(IntFlag(a, next()));
    } else {
      Usage("unknown flag " + a);
    }
  }
  o.progress = [](const std::string& line) {
    std::printf("e2e: %s\n", line.c_str());
    std::fflush(stdout);
  };
  auto report = pgagent::e2e::RunE2e(o);
  if (!report.ok()) {
    std::fprintf(stderr, "pgagent_e2e_bench: cannot set up: %s\n",
                 report.status().ToString().c_str());
    return 2;
  }
  pgagent::Status written = pgagent::e2e::WriteReport(*report, out_dir);
  if (!written.ok()) std::fprintf(stderr, "pgagent_e2e_bench: %s\n", written.ToString().c_str());
  std::printf("\n%s\nreport: %s/report.md and report.json\n", report->ToMarkdown().c_str(),
              out_dir.c_str());
  bool ok = true;
  if (report->soak.ran) {
    ok = report->soak.no_loss && report->soak.collector.unexpected_exits == 0 &&
         report->soak.shipper.unexpected_exits == 0;
    // Growth trend, asserted on the full run only (a short run's slope is start-up noise):
    // over the second half of the longest-lived instance's life (>= 150 s), anonymous RSS
    // must not grow faster than 2 MB per hour.
    if (o.variant == "full") {
      for (const auto* d : {&report->soak.collector, &report->soak.shipper}) {
        const auto& half = d->longest_second_half;
        if (half.seconds >= 150 && half.rss_anon_slope_mb_per_h > 2.0) {
          std::printf("FAIL: %s RssAnon grows %.2f MB/h\n", d->name.c_str(),
                      half.rss_anon_slope_mb_per_h);
          ok = false;
        }
      }
    }
  }
  for (const auto& overhead : report->overhead) {
    if (overhead.ran && !overhead.error.empty()) ok = false;
  }
  return ok && written.ok() ? 0 : 1;
}
