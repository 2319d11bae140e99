// The log path's cost per line, end to end, on ANY log file (issue 16 item 1):
//
//   log_path_bench FILE [--format stderr|csvlog|jsonlog] [--prefix '%m [%p] %q%u@%d %a ']
//                  [--runs N (3)] [--raw (send_raw_query_text = true)] [--keep]
//                  [--bin-dir DIR (holds collectord/ and shipperd/; default: this build tree)]
//   log_path_bench --idle-minutes N        both daemons idle against a quiet PostgreSQL
//   log_path_bench --make-pgbench-log OUT [--pgbench-s N (15)]
//
// FILE mode: (1) the parse stage alone, in this process: the file's lines through the
// tailer's LineSplitter (cut into lines, made valid UTF-8) and a LogEntryAssembler (parse,
// enrich, redact), CPU time of this thread per line; the entries it yields are the count the
// listener must receive. (2) N runs of both real daemons (build tree binaries): collectord
// follows FILE from its beginning and ships every entry through the ZeroMQ outbox to
// shipperd, which buffers it durably in LMDB and delivers it over HTTPS to the test listener
// (tests/harness/test_listener.py). A run ends when the listener has stored as many pg_log
// entries as the parse stage found. CPU of each daemon from /proc/<pid>/stat (utime + stime,
// all threads, from exec to the end of the run: start-up included), peak RSS from
// /proc/<pid>/status, lines/s until 99% of the entries were at the listener (the last small
// batch then waits for shipperd's aggregate interval: latency, not throughput); CPU per
// thread of each daemon. The medians are printed. LOG_PATH_BENCH_VERBOSE=1: progress.
// The listener's 100 requests/min limit is OFF and shipperd's budget is 6000/min in FILE
// mode: the bench measures CPU per line, not the budget (at the real limit a 500k-line file
// takes minutes of waiting, which only dilutes lines/s); the bench says so in its output.
// No database: collectord's [database] points at a closed port, its sampling cycles run
// every 60 s and fail fast (connection refused), as on a host whose server is down.
//
// --idle-minutes: a real PostgreSQL (tests/harness/pg_cluster.h) with a quiet log, both
// daemons at interval_s = 60 following its log (log_path = auto); after a 20 s warm-up,
// each daemon's CPU share of one core over N minutes.
//
// --make-pgbench-log: a throwaway cluster at log_min_duration_statement = 0 logging to
// stderr, csvlog and jsonlog at once, pgbench -i -s 1 then pgbench -c 4 -j 2 -T N; writes
// OUT.log (stderr, prefix '%m [%p] %q%u@%d %a '), OUT.csv and OUT.json.
//
// Exit code 0 on success, 1 when a run did not complete, 2 for a bad flag / environment.
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/e2e/proc_sampler.h"
#include "collectord/logs/log_entry_assembler.h"
#include "collectord/logs/log_parser.h"
#include "collectord/logtail/line_splitter.h"
#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace pgagent::e2e {
namespace {

using namespace std::chrono_literals;
using pgagent::testing::ChildProcess;
using pgagent::testing::TestListener;
using SteadyClock = std::chrono::steady_clock;

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr, "log_path_bench: %s\n(see the comment at the top of %s)\n", why.c_str(),
               "bench/e2e/log_path_bench.cc");
  std::exit(2);
}

struct Flags {
  std::string file;
  LogFormat format = LogFormat::kStderr;
  bool format_set = false;
  std::string prefix = "%m [%p] %q%u@%d %a ";
  int runs = 3;
  bool raw = false;
  bool keep = false;
  int idle_minutes = 0;
  std::string make_log;
  int pgbench_s = 15;
  std::string bin_dir;  // empty: this build tree
};

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

Result<std::string> ReadWhole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ------------------------------------------------------------------ the parse stage alone

struct ParseFigures {
  uint64_t bytes = 0, lines = 0, entries = 0;
  double split_us_per_line = 0;  // LineSplitter (lines + UTF-8) alone
  double parse_us_per_line = 0;  // LogEntryAssembler (parse, enrich, redact) alone
};

Result<ParseFigures> ParseStage(const Flags& f, const std::string& text) {
  ParseFigures out;
  out.bytes = text.size();
  LogParserOptions po;
  po.format = f.format;
  po.log_line_prefix = f.prefix;
  po.redact = !f.raw;
  PGAGENT_ASSIGN_OR_RETURN(auto parser, LogParser::Create(po));
  // Chunks of 1 MiB as the tailer reads them; lines kept to time the assembler on its own.
  logtail::LineSplitter splitter(1 << 20);
  std::vector<logtail::TailLine> lines;
  const double t0 = ThreadCpuSeconds();
  for (size_t p = 0; p < text.size(); p += 1 << 20) {
    splitter.Feed(std::string_view(text).substr(p, 1 << 20), &lines);
  }
  splitter.FlushPartial(&lines);
  const double t1 = ThreadCpuSeconds();
  LogEntryAssembler assembler(*parser);
  std::vector<AssembledEntry> entries;
  entries.reserve(512);
  const auto now = SteadyClock::now();
  for (const logtail::TailLine& l : lines) {
    assembler.Push(LogLine{l.text, l.truncated, l.end_offset, /*valid_utf8=*/true}, now, &entries);
    if (entries.size() >= 500) {  // batches of 500, as collectord's LogBatcher
      out.entries += entries.size();
      entries.clear();
    }
  }
  assembler.Flush(&entries);
  out.entries += entries.size();
  const double t2 = ThreadCpuSeconds();
  out.lines = lines.size();
  if (out.lines == 0) return InvalidArgumentError("the file has no lines");
  out.split_us_per_line = (t1 - t0) * 1e6 / static_cast<double>(out.lines);
  out.parse_us_per_line = (t2 - t1) * 1e6 / static_cast<double>(out.lines);
  return out;
}

// ------------------------------------------------------------------ both daemons

struct RunFigures {
  double collectord_cpu_s = 0, shipperd_cpu_s = 0;
  double collectord_rss_mb = 0, shipperd_rss_mb = 0;  // peak VmRSS
  double wall_s = 0;
  // Until 99% of the entries were at the listener: the last batch waits for shipperd's
  // aggregate interval (a small live aggregate), which is latency, not throughput.
  double wall_99_s = 0;
  std::string listener_stats;  // the listener's counters at the end (requests by status)
  std::string collectord_threads, shipperd_threads;  // CPU per thread (ThreadCpu)
};

std::string FormatName(LogFormat f) { return std::string(LogFormatName(f)); }

std::string WriteConfig(const std::string& dir, const std::string& log_line, int db_port,
                        const TestListener& listener, bool relaxed, bool raw) {
  const std::string path = dir + "/agent.ini";
  std::ofstream c(path);
  c << "[database]\nhost = 127.0.0.1\nport = " << db_port
    << "\nname = postgres\nuser = bitville_monitor\n"
    << "[collection]\ninterval_s = 60\n"
    << log_line << "log_start = beginning\nsend_raw_query_text = " << (raw ? "true" : "false")
    << "\n[listener]\nurl = " << listener.ingest_url()
    << "\napi_key = " << listener.options().api_key
    << "\nproject_id = bench\nca_file = " << listener.ca_file() << "\n"
    << (relaxed ? "requests_per_minute = 6000\n" : "") << "[buffer]\npath = " << dir
    << "/buffer\nmax_size_mb = 2048\n[ipc]\nruntime_dir = " << dir
    << "/run\n[agent]\nstate_dir = " << dir << "/state\ncontrol_dir = " << dir << "/run\n";
  c.close();
  chmod(path.c_str(), 0600);
  return path;
}

int64_t StatsNumber(const std::string& json, const std::string& key) {
  const std::string k = "\"" + key + "\": ";
  const size_t p = json.find(k);
  return p == std::string::npos ? -1 : std::atoll(json.c_str() + p + k.size());
}

// "thread-name 0.12 s, ..." for every thread of `pid` (CPU from /proc/<pid>/task/<tid>/stat).
std::string ThreadCpu(pid_t pid) {
  const std::string task = "/proc/" + std::to_string(pid) + "/task";
  std::string out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(task, ec)) {
    const std::string tid = entry.path().filename().string();
    auto sample = ReadProcSample(static_cast<pid_t>(std::atoi(tid.c_str())), task);
    auto comm = ReadWhole(task + "/" + tid + "/comm");
    if (!sample.ok() || !comm.ok() || sample->cpu_s < 0.005) continue;
    while (!comm->empty() && comm->back() == '\n') comm->pop_back();
    char buf[96];
    std::snprintf(buf, sizeof(buf), "%s%s %.2f s", out.empty() ? "" : ", ", comm->c_str(),
                  sample->cpu_s);
    out += buf;
  }
  return out;
}

struct Daemons {
  std::unique_ptr<ChildProcess> shipperd, collectord;
  Status Start(const std::string& config, const std::string& dir, const std::string& bin_dir) {
    const std::string bin = bin_dir.empty() ? pgagent::testing::BinaryDir() : bin_dir;
    PGAGENT_ASSIGN_OR_RETURN(
        shipperd,
        ChildProcess::Start({bin + "/shipperd/pgagent-shipperd", config}, dir + "/shipperd.log"));
    PGAGENT_ASSIGN_OR_RETURN(collectord,
                             ChildProcess::Start({bin + "/collectord/pgagent-collectord", config},
                                                 dir + "/collectord.log"));
    return Status::Ok();
  }
};

Result<RunFigures> RunDaemons(const Flags& f, uint64_t expected_entries, bool keep) {
  pgagent::testing::TestListenerOptions lo;
  lo.rate_limit_per_minute = 0;     // see the top of this file
  lo.max_stored_bytes = 256 << 20;  // the bench clears the rows as they arrive
  PGAGENT_ASSIGN_OR_RETURN(auto listener, TestListener::Start(lo));
  PGAGENT_ASSIGN_OR_RETURN(std::string dir, pgagent::testing::MakeTempDir("pgagent-logbench-"));
  const std::string log_line = "log_path = " + std::filesystem::absolute(f.file).string() +
                               "\nlog_format = " + FormatName(f.format) + "\nlog_line_prefix = \"" +
                               f.prefix + "\"\n";
  // Port 1: nothing listens, so the 60 s sampling cycles fail at once (connection refused).
  const std::string config = WriteConfig(dir, log_line, 1, *listener, true, f.raw);
  Daemons d;
  const auto t0 = SteadyClock::now();
  PGAGENT_RETURN_IF_ERROR(d.Start(config, dir, f.bin_dir));
  RunFigures out;
  ProcSample c{}, s{};
  int64_t last_seen = -1;
  auto last_progress = t0;
  Status result = Status::Ok();
  while (true) {
    std::this_thread::sleep_for(200ms);
    if (auto cs = ReadProcSample(d.collectord->pid()); cs.ok()) c = *cs;
    if (auto ss = ReadProcSample(d.shipperd->pid()); ss.ok()) s = *ss;
    out.collectord_rss_mb = std::max(out.collectord_rss_mb, c.rss_kb / 1024);
    out.shipperd_rss_mb = std::max(out.shipperd_rss_mb, s.rss_kb / 1024);
    auto stats = listener->StatsJson();
    if (!stats.ok()) {
      result = stats.status();
      break;
    }
    const int64_t seen = StatsNumber(*stats, "pg_log_entries");
    out.listener_stats = *stats;
    (void)listener->ClearStored();  // bounded listener memory; the counter stays
    if (out.wall_99_s == 0 && seen >= static_cast<int64_t>(expected_entries * 0.99)) {
      out.wall_99_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    }
    if (seen >= static_cast<int64_t>(expected_entries)) break;
    if (std::getenv("LOG_PATH_BENCH_VERBOSE") != nullptr) {
      std::fprintf(stderr, "[%6.1fs] %lld entries at the listener, cpu %.2f + %.2f s\n",
                   std::chrono::duration<double>(SteadyClock::now() - t0).count(),
                   static_cast<long long>(seen), c.cpu_s, s.cpu_s);
    }
    if (seen != last_seen) {
      last_seen = seen;
      last_progress = SteadyClock::now();
    } else if (SteadyClock::now() - last_progress > 60s) {
      result = DeadlineExceededError("no progress for 60 s: " + std::to_string(seen) + " of " +
                                     std::to_string(expected_entries) + " entries (logs in " + dir +
                                     ")");
      keep = true;
      break;
    }
    if (!d.collectord->running() || !d.shipperd->running()) {
      result = InternalError("a daemon exited (logs in " + dir + ")");
      keep = true;
      break;
    }
  }
  out.wall_s = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  out.collectord_threads = ThreadCpu(d.collectord->pid());
  out.shipperd_threads = ThreadCpu(d.shipperd->pid());
  out.collectord_cpu_s = c.cpu_s;
  out.shipperd_cpu_s = s.cpu_s;
  d.collectord->Stop(10s);
  d.shipperd->Stop(10s);
  if (keep) {
    std::printf("kept %s\n", dir.c_str());
  } else {
    pgagent::testing::RemoveTree(dir);
  }
  if (!result.ok()) return result;
  return out;
}

int FileMode(const Flags& f) {
  auto text = ReadWhole(f.file);
  if (!text.ok()) Usage(text.status().ToString());
  auto parse = ParseStage(f, *text);
  if (!parse.ok()) Usage(parse.status().ToString());
  text->clear();
  text->shrink_to_fit();
  const double lines = static_cast<double>(parse->lines);
  std::printf("file %s: %llu lines, %.1f MB, %llu entries, format %s, redaction %s\n",
              f.file.c_str(), static_cast<unsigned long long>(parse->lines),
              static_cast<double>(parse->bytes) / 1e6,
              static_cast<unsigned long long>(parse->entries), FormatName(f.format).c_str(),
              f.raw ? "off" : "on");
  std::printf(
      "parse stage alone (this process, one thread): split + UTF-8 %.3f us/line, "
      "assemble + parse + enrich + redact %.3f us/line\n",
      parse->split_us_per_line, parse->parse_us_per_line);
  std::printf(
      "listener rate limit OFF and requests_per_minute = 6000: this measures CPU per "
      "line, not the 100/min budget\n");
  std::vector<double> col, ship, rate, col_rss, ship_rss;
  for (int i = 0; i < f.runs; ++i) {
    auto run = RunDaemons(f, parse->entries, f.keep);
    if (!run.ok()) {
      std::fprintf(stderr, "run %d: %s\n", i + 1, run.status().ToString().c_str());
      return 1;
    }
    col.push_back(run->collectord_cpu_s * 1e6 / lines);
    ship.push_back(run->shipperd_cpu_s * 1e6 / lines);
    rate.push_back(0.99 * lines / run->wall_99_s);
    col_rss.push_back(run->collectord_rss_mb);
    ship_rss.push_back(run->shipperd_rss_mb);
    const size_t st = run->listener_stats.find("\"status\"");
    std::printf("run %d: listener %s\n", i + 1,
                run->listener_stats.substr(st, run->listener_stats.find('}', st) + 1 - st).c_str());
    std::printf("run %d: threads collectord: %s; shipperd: %s\n", i + 1,
                run->collectord_threads.c_str(), run->shipperd_threads.c_str());
    std::printf(
        "run %d: collectord %.3f us/line, shipperd %.3f us/line, total %.3f us/line, "
        "%.0f lines/s (99%% of the entries in %.1f s, all in %.1f s), peak RSS "
        "collectord %.1f MB shipperd %.1f MB\n",
        i + 1, col.back(), ship.back(), col.back() + ship.back(), rate.back(), run->wall_99_s,
        run->wall_s, col_rss.back(), ship_rss.back());
    std::fflush(stdout);
  }
  std::printf(
      "median of %d: collectord %.3f + shipperd %.3f = %.3f us/line; %.0f lines/s; "
      "peak RSS collectord %.1f MB, shipperd %.1f MB\n",
      f.runs, Median(col), Median(ship), Median(col) + Median(ship), Median(rate), Median(col_rss),
      Median(ship_rss));
  return 0;
}

// ------------------------------------------------------------------ idle and log making

int IdleMode(const Flags& f) {
  pgagent::testing::PgClusterOptions po;
  po.all_log_formats = false;
  auto pg = pgagent::testing::PgCluster::Start(po);
  if (!pg.ok()) Usage(pg.status().ToString());
  if (auto r = (*pg)->Psql("CREATE ROLE bitville_monitor LOGIN; GRANT pg_monitor TO "
                           "bitville_monitor;");
      !r.ok()) {
    Usage(r.status().ToString());
  }
  auto listener = TestListener::Start({});  // the real contract, 100 requests/min
  auto dir = pgagent::testing::MakeTempDir("pgagent-idlebench-");
  if (!listener.ok() || !dir.ok()) Usage("cannot start the listener or make a temp dir");
  const std::string config =
      WriteConfig(*dir, "log_path = auto\n", (*pg)->port(), **listener, false, false);
  Daemons d;
  if (Status s = d.Start(config, *dir, f.bin_dir); !s.ok()) Usage(s.ToString());
  std::printf("idle: interval_s = 60, quiet log, warm-up 20 s, then %d min\n", f.idle_minutes);
  std::this_thread::sleep_for(20s);
  auto c0 = ReadProcSample(d.collectord->pid());
  auto s0 = ReadProcSample(d.shipperd->pid());
  const auto t0 = SteadyClock::now();
  std::this_thread::sleep_for(std::chrono::minutes(f.idle_minutes));
  auto c1 = ReadProcSample(d.collectord->pid());
  auto s1 = ReadProcSample(d.shipperd->pid());
  const double wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  d.collectord->Stop(10s);
  d.shipperd->Stop(10s);
  if (!f.keep) pgagent::testing::RemoveTree(*dir);
  if (!c0.ok() || !c1.ok() || !s0.ok() || !s1.ok()) {
    std::fprintf(stderr, "a daemon exited during the idle run\n");
    return 1;
  }
  std::printf(
      "idle over %.0f s: collectord %.3f%% of one core (%.1f ms CPU), shipperd %.3f%% "
      "(%.1f ms), RSS collectord %.1f MB shipperd %.1f MB\n",
      wall, (c1->cpu_s - c0->cpu_s) * 100 / wall, (c1->cpu_s - c0->cpu_s) * 1e3,
      (s1->cpu_s - s0->cpu_s) * 100 / wall, (s1->cpu_s - s0->cpu_s) * 1e3, c1->rss_kb / 1024,
      s1->rss_kb / 1024);
  return 0;
}

int MakeLogMode(const Flags& f) {
  pgagent::testing::PgClusterOptions po;
  po.settings["log_min_duration_statement"] = "0";
  po.settings["log_rotation_size"] = "0";
  po.settings["log_rotation_age"] = "0";
  po.all_log_formats = true;
  auto pg = pgagent::testing::PgCluster::Start(po);
  if (!pg.ok()) Usage(pg.status().ToString());
  pgagent::testing::RunOptions ro;
  ro.timeout = std::chrono::seconds(f.pgbench_s + 300);
  const std::string pgbench = (*pg)->bin_dir() + "/pgbench";
  const std::vector<std::string> conn = {
      "-h", "127.0.0.1", "-p", std::to_string((*pg)->port()), "-U", "postgres", "postgres"};
  std::vector<std::string> init = {pgbench, "-i", "-s", "1", "-q"};
  init.insert(init.end(), conn.begin(), conn.end());
  std::vector<std::string> run = {pgbench, "-n", "-c", "4",
                                  "-j",    "2",  "-T", std::to_string(f.pgbench_s)};
  run.insert(run.end(), conn.begin(), conn.end());
  for (const auto& argv : {init, run}) {
    if (auto r = pgagent::testing::RunChecked(argv, ro); !r.ok()) Usage(r.status().ToString());
  }
  (void)(*pg)->Stop();  // flushes the logging collector
  for (const char* suffix : {".log", ".csv", ".json"}) {
    std::string all;
    for (const std::string& file : (*pg)->LogFiles(suffix)) {
      auto t = ReadWhole(file);
      if (t.ok()) all += *t;
    }
    std::ofstream out(f.make_log + suffix, std::ios::binary);
    out << all;
    std::printf("wrote %s%s (%zu bytes)\n", f.make_log.c_str(), suffix, all.size());
  }
  return 0;
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--format") {
      auto fmt = LogFormatFromName(next());
      if (!fmt.ok()) Usage(fmt.status().ToString());
      f.format = *fmt;
      f.format_set = true;
    } else if (a == "--prefix") {
      f.prefix = next();
    } else if (a == "--runs") {
      f.runs = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--raw") {
      f.raw = true;
    } else if (a == "--bin-dir") {
      f.bin_dir = next();
    } else if (a == "--keep") {
      f.keep = true;
    } else if (a == "--idle-minutes") {
      f.idle_minutes = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--make-pgbench-log") {
      f.make_log = next();
    } else if (a == "--pgbench-s") {
      f.pgbench_s = std::max(1, std::atoi(next().c_str()));
    } else if (!a.starts_with("--") && f.file.empty()) {
      f.file = a;
    } else {
      Usage("unknown argument " + a);
    }
  }
  if (!f.format_set && !f.file.empty()) {
    if (f.file.ends_with(".csv")) f.format = LogFormat::kCsvlog;
    if (f.file.ends_with(".json")) f.format = LogFormat::kJsonlog;
  }
  return f;
}

}  // namespace
}  // namespace pgagent::e2e

int main(int argc, char** argv) {
  using namespace pgagent::e2e;
  const Flags f = ParseFlags(argc, argv);
  if (!f.make_log.empty()) return MakeLogMode(f);
  if (f.idle_minutes > 0) return IdleMode(f);
  if (f.file.empty()) Usage("a log file path, --idle-minutes N or --make-pgbench-log OUT");
  return FileMode(f);
}
