// The end-to-end proof of issue 9: both daemons as real processes (build tree binaries),
// a throwaway PostgreSQL cluster (tests/harness/pg_cluster.h) and the HTTPS test listener
// (tests/harness/test_listener.h), measured in three phases:
//   overhead  - pgbench TPS without the agent (A) and with it at a 1 s interval (B),
//               in pairs ordered A B, B A, A B, ...; median of the per-pair ratios B/A. Once per
//               server log setting in overhead_log_min_duration_ms (the same in A and B).
//   soak      - both daemons at a 1 s interval under pgbench load plus a log writer (RAISE
//               LOG markers through the server's real logging collector), with chaos:
//               SIGKILL of either daemon, PostgreSQL restarts, listener outage, log
//               rotations; RSS/CPU sampled from /proc; every marker and every record seq
//               accounted for at the listener (see delivery_ledger.h for the definition).
//               The server logs to a fixed log_filename (postgresql.log, followed with
//               log_path = auto) rotated as logrotate does: renamed, then reopened by the
//               server. Then a short csvlog sub-phase: the same markers through csvlog, with
//               statements longer than log_max_line_bytes among them.
//   footprint - RSS/CPU of each daemon at a 60 s and at a 1 s interval under light load.
// The report is a value (E2eReport) rendered as markdown and JSON.
// Used by bench/e2e/pgagent_e2e_bench.cc (full and quick runs) and tests/e2e_quick.
// Thread-safety: RunE2e runs on the calling thread (it starts one log-writer thread of its
// own and joins it); not reentrant with itself (it owns child processes).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/e2e/delivery_ledger.h"
#include "bench/e2e/proc_sampler.h"
#include "common/status.h"

namespace pgagent::e2e {

struct E2eOptions {
  std::string variant = "quick";  // a label in the report
  uint32_t seed = 42;             // chaos schedule
  // Directory of the build tree holding collectord/ and shipperd/ (empty: BinaryDir()).
  std::string binary_dir;
  bool run_overhead = true;
  bool run_soak = true;
  bool run_footprint = true;
  bool run_budget = true;
  // Overhead.
  int pgbench_scale = 10;
  int pgbench_clients = 8;
  int pgbench_threads = 2;
  int overhead_run_s = 10;
  int overhead_pairs = 2;  // A/B pairs, alternately ordered (A B B A = 2)
  // Both daemons run at this nice level, as systemd/pgagent-*.service does (Nice=10); 0:
  // not niced. (The units' CPUQuota=25% needs a cgroup and is not applied here.)
  int agent_nice = 10;
  // Scheduling policy of both daemons (every thread): "other" (the units' default),
  // "batch" or "idle" (SCHED_IDLE: runs only on CPU time nothing else wants), via chrt(1).
  std::string agent_policy = "other";
  // The agent's interval_s during the B runs (the issue: 1 s).
  int overhead_interval_s = 1;
  // log_min_duration_statement values (ms) the overhead is measured at, one A/B series
  // each: 0 (every statement logged: the setting) and a typical production one.
  std::vector<int> overhead_log_min_duration_ms = {0, 250};
  // [collection] log_statements of the agent during the B runs: "all" or "summarize".
  std::string overhead_log_statements = "all";
  // Soak (all at soak_interval_s).
  int soak_s = 60;
  int soak_interval_s = 1;
  int log_lines_per_s = 10000;  // RAISE LOG marker entries per second
  int soak_pgbench_tps = 100;   // pgbench -R (fixed-rate load)
  int kills = 4;                // SIGKILLs, spread over both daemons
  int pg_restarts = 1;
  int listener_down_s = 20;
  int rotations = 3;
  // Issue 20's paths in the soak's chaos: a copytruncate of the log while collectord is down
  // (the copy must be finished first), and one request the listener rejects with 400 (its
  // records dead-lettered), requeued later with pgagentctl: the accounting stays "0 lost".
  bool chaos_copytruncate = true;
  bool chaos_dead_letter = true;
  // Two logrotate renames while collectord is down (SIGKILL): the saved file renamed twice,
  // a middle file renamed once, a new current file; all of them must be read.
  bool chaos_double_rename = true;
  // The csvlog sub-phase after the soak (0 s: skipped): markers through csvlog with
  // csvlog_oversized statements of csvlog_oversized_bytes each, longer than
  // [collection] log_max_line_bytes = csvlog_max_line_bytes (cut, counted, and every marker
  // after them arrives).
  int csvlog_s = 15;
  int csvlog_oversized = 2;
  int csvlog_oversized_bytes = 200 << 10;
  int csvlog_max_line_bytes = 64 << 10;
  int sample_every_s = 2;
  int drain_every_s = 10;
  int final_wait_s = 90;  // after the load stops: time allowed for the backlog to arrive
  int buffer_max_mb = 1024;
  // Where the daemons' LMDB buffers go (empty: the run's temp dir, on the same file system
  // as the PostgreSQL cluster, as on a typical host). A tmpfs here takes the buffer's
  // fsyncs off the disk, to tell their cost apart.
  std::string buffer_dir;
  // Keep the temp dir (daemon logs, configs) and print its path instead of removing it.
  bool keep_dir = false;
  // Footprint: seconds at each interval.
  int footprint_s = 30;
  // Budget (issue 19): the listener at its REAL limit (100 requests per minute per IP, fixed
  // windows), the agent with its default budget at budget_interval_s, pgbench -R load,
  // log_min_duration_statement = budget_log_min_ms, and a PHP-like client tagging requests
  // both ways: budget_steady_s of steady state, then a listener outage of budget_outage_s,
  // then up to budget_drain_limit_s for the backlog to drain.
  int budget_steady_s = 120;
  int budget_outage_s = 60;
  int budget_drain_limit_s = 300;
  int budget_interval_s = 1;
  int budget_log_min_ms = 250;
  int budget_pgbench_tps = 50;
  double tagged_per_minute = 20;
  int budget_drain_every_s = 15;
  // > 0: [collection] burst_load_per_core for the budget phase (low values make burst
  // sampling trigger under the phase's pgbench load).
  double budget_burst_load_per_core = 0;
  // Progress lines (e.g. to stdout); may be empty.
  std::function<void(const std::string&)> progress;
};

// The CI variant (~4-6 min on 2 shared cores) and the full variant (~50 min).
E2eOptions QuickOptions();
E2eOptions FullOptions();

struct DaemonStats {
  std::string name;
  int instances = 0;         // processes started
  int killed = 0;            // SIGKILLs sent by the chaos schedule
  int unexpected_exits = 0;  // exits nobody asked for (a crash: always a bug)
  std::vector<std::string> unexpected_exit_detail;
  SeriesStats longest;              // the longest-lived instance
  SeriesStats longest_second_half;  // its second half: the trend after warm-up
  double cpu_percent_all = 0;       // CPU seconds of all instances / soak wall seconds
  double rss_max_mb_all = 0;
};

// Where the CPU went during an overhead series, from /proc (precise where TPS is noisy).
// Per-run vectors hold one value per B run (the *_share_* ones one per A or B run).
struct OverheadCpu {
  // CPU milliseconds per wall second of each part of the agent during the B runs: the two
  // daemons (all threads) and the server backends of its monitoring role (the server-side
  // cost of its queries). Independent of the machine's size.
  std::vector<double> collectord_ms_per_s, shipperd_ms_per_s, backend_ms_per_s;
  std::vector<double> agent_ms_per_s_runs;       // their sum, per B run
  std::vector<double> agent_share_of_busy_runs;  // the sum / all busy CPU of the machine
  // Busy share of the machine's CPUs (all of them) in the A and in the B runs: near 1 means
  // saturated, so every CPU second the agent takes is taken from PostgreSQL and pgbench.
  std::vector<double> busy_share_without, busy_share_with;
  // CPU ms per second of the server's logging collector in the A and in the B runs: what
  // PostgreSQL itself spends moving the log lines into files (a scale for the agent's).
  std::vector<double> logger_ms_per_s_without, logger_ms_per_s_with;
  // CPU ms per pgbench transaction, per A and per B run: of the server (the postmaster and
  // its children, less the agent's own sessions) and of pgbench. The same work costing more
  // with the agent beside it is the indirect cost (caches, preemption) that the CPU-implied
  // ratio leaves out and the TPS ratio includes.
  std::vector<double> server_ms_per_txn_without, server_ms_per_txn_with;
  std::vector<double> pgbench_ms_per_txn_without, pgbench_ms_per_txn_with;
  double agent_ms_per_s = 0;       // median over the B runs
  double agent_share_of_busy = 0;  // median over the B runs
  // 1 - agent_share_of_busy: the TPS ratio if TPS were proportional to the CPU left to
  // PostgreSQL and pgbench on a saturated machine. It leaves out indirect costs (caches,
  // scheduling), which the TPS ratio includes; it is not noisy as the TPS ratio is.
  double cpu_implied_ratio = 0;
};

struct OverheadResult {
  bool ran = false;
  int log_min_duration_ms = 0;  // the server's log_min_duration_statement in A and B
  std::vector<double> tps_without;
  std::vector<double> tps_with;
  std::vector<double> pair_ratios;
  double median_ratio = 0;
  uint64_t requests_acked = 0;     // ingest requests answered 200 during the B runs
  SeriesStats collector, shipper;  // sampled during the B runs (last B run)
  OverheadCpu cpu;
  std::string error;
};

struct ChaosEvent {
  double t_s = 0;
  std::string what;
};

// The soak's csvlog sub-phase (no other chaos than the oversized entries).
struct CsvlogResult {
  bool ran = false;
  double seconds = 0;
  uint64_t markers_written = 0;
  uint64_t markers_after_last_oversized = 0;  // written after the last oversized statement
  int oversized_written = 0;                  // oversized statements the server logged
  // collectord's health counters at the end (pgagentctl status --json).
  uint64_t truncated_entries = 0, cut_bytes = 0, csv_resyncs = 0, unparsed_lines = 0;
  LedgerSummary ledger;
  uint64_t harness_row_gaps = 0;
  bool no_loss = false;  // every marker arrived, every oversized entry counted as cut
  std::string error;
};

struct SoakResult {
  bool ran = false;
  double seconds = 0;
  uint64_t markers_written = 0;
  double marker_rate = 0;      // achieved markers per second
  uint64_t writer_errors = 0;  // marker batches retried (PostgreSQL down)
  uint64_t pgbench_restarts = 0;
  LedgerSummary ledger;
  DaemonStats collector, shipper;
  std::vector<ChaosEvent> events;
  std::string listener_stats_json;
  uint64_t harness_row_gaps = 0;  // listener rows lost by the harness' own draining (must be 0)
  int copytruncates = 0;          // copytruncate rotations done while collectord was down
  int double_renames = 0;         // two logrotate renames done while collectord was down
  std::string requeue_output;     // what `pgagentctl deadletter requeue` printed
  double backlog_drain_s = 0;     // from load stop until every marker arrived
  bool all_markers_arrived = false;
  bool no_loss = false;  // markers complete, no seq holes, no late-starting boot
  std::string error;
  CsvlogResult csvlog;
};

struct FootprintResult {
  int interval_s = 0;
  double seconds = 0;
  SeriesStats collector, shipper;
  uint64_t rows_received = 0;
};

// The budget phase (issue 19), measured at the listener.
struct BudgetResult {
  bool ran = false;
  double steady_s = 0, outage_s = 0;
  // The listener's own counts over the whole phase.
  int responses_429 = -1, responses_400 = -1, responses_200 = -1;
  int max_requests_in_a_window = -1;  // the most one fixed 60 s window saw
  int unsafe_integers = -1;           // numbers JSON.parse would have rounded
  uint64_t rows = 0, correlation_rows = 0;
  // Delivery lag of records collected outside the outage (and its drain), and how many.
  uint64_t live_records = 0;
  double live_lag_p50_s = 0, live_lag_p99_s = 0, live_lag_max_s = 0;
  // From the listener's return until every record collected before it had arrived;
  // -1 when that did not happen within budget_drain_limit_s.
  double drain_s = -1;
  // shipperd's buffer depth (records) from its health: first and last of the steady state.
  uint64_t buffer_records_early = 0, buffer_records_late = 0;
  // The PHP-like client's requests and the listener's correlation view. The 60 s figures
  // count the requests issued while the listener was up (the target).
  uint64_t tagged_slow_or_failing = 0, linked_slow_or_failing = 0,
           linked_slow_or_failing_60s = 0;
  uint64_t tagged_fast = 0, linked_fast = 0;
  double tagged_per_minute = 0;
  double linked_share_60s = 0;  // linked_slow_or_failing_60s / tagged_slow_or_failing
  // Of those, the ones issued while the listener was down (or just before): a backlog of
  // correlation rows, one request each, linked after its return as the budget allows.
  uint64_t outage_tagged = 0, outage_linked = 0;
  double outage_all_linked_after_s = -1;  // after the return; -1: not all within the limit
  std::vector<std::string> late;  // up to 10 slow or failing requests not linked in time
  LedgerSummary ledger;
  bool no_loss = false;  // no seq holes, every boot from 1, no harness gaps
  uint64_t harness_row_gaps = 0;  // rows the runner's draining missed (must be 0)
  uint64_t burst_records = 0;     // snapshots taken by burst sampling
  std::string listener_stats_json;
  std::string error;
};

struct E2eReport {
  E2eOptions options;
  std::map<std::string, std::string> environment;  // postgres version, cpus, kernel, ...
  std::string started_at;
  double wall_s = 0;
  std::vector<OverheadResult> overhead;  // one per overhead_log_min_duration_ms
  SoakResult soak;
  std::vector<FootprintResult> footprints;
  BudgetResult budget;

  std::string ToJson() const;
  std::string ToMarkdown() const;
};

// Runs the enabled phases. Errors (kUnavailable, ...) only when the environment cannot be
// set up (no PostgreSQL, daemons not built); a phase that fails later records its error
// in the report and the run goes on.
Result<E2eReport> RunE2e(const E2eOptions& options);

// Writes report.md and report.json into `dir` (created when missing).
Status WriteReport(const E2eReport& report, const std::string& dir);

// Median of `v` (0 when empty).
double Median(std::vector<double> v);

}  // namespace pgagent::e2e
