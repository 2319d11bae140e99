// One steady-state pgagent sampling cycle (activity + lock waits + pg_stat_statements) on a
// loaded PostgreSQL, next to a naive `SELECT * FROM pg_stat_statements` in the same run.
// Not a test. Starts its own throwaway cluster (tests/harness/pg_cluster.h) with
// max_connections = backends + 100, opens `backends` connections (most idle, some running
// pg_sleep, some idle in transaction, a small lock chain), fills pg_stat_statements with
// `statements` distinct query shapes, then per cycle runs a hot set of `hot` statements
// (the workload of one interval) and samples.
//   pg_cycle_bench [backends=1000] [statements=5000] [cycles=15] [hot=300]
// Reported per steady cycle, medians:
//   server_ms: planning + execution time of pgagent's own queries, from pg_stat_statements
//              deltas (track_planning on; entries whose text starts with the /* pgagent */
//              comment), and of the naive query;
//   wall_ms:   client-observed time of the whole cycle (includes network, parsing);
//   bytes:     result bytes received (LibpqSession::BytesReceived: per row 7 + 4 per value
//              + value bytes) — the same accounting for pgagent and the naive read.
#include <libpq-fe.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "collectord/pg/activity_collector.h"
#include "collectord/pg/libpq_session.h"
#include "collectord/pg/pg_connection.h"
#include "collectord/pg/statements_collector.h"
#include "common/clock.h"
#include "tests/harness/pg_cluster.h"

namespace {

using pgagent::testing::PgCluster;
using pgagent::testing::PgClusterOptions;
using Clock = std::chrono::steady_clock;

struct Args {
  int backends = 1000;
  int statements = 5000;
  int cycles = 15;
  int hot = 300;
};

// A plain libpq connection (no /* pgagent */ tag, so its queries are not counted as
// pgagent's). Exec() returns the first value and adds the result's bytes to `bytes` with
// the same accounting as LibpqSession::BytesReceived.
struct Conn {
  explicit Conn(const std::string& conninfo) : pg(PQconnectdb(conninfo.c_str())) {}
  ~Conn() { PQfinish(pg); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  std::string Exec(const std::string& sql, bool* ok_out = nullptr) {
    PGresult* r = PQexec(pg, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) std::fprintf(stderr, "bench: %s: %s", sql.substr(0, 60).c_str(), PQerrorMessage(pg));
    std::string first;
    for (int row = 0; row < PQntuples(r); ++row) {
      bytes += 7 + 4 * static_cast<uint64_t>(PQnfields(r));
      for (int c = 0; c < PQnfields(r); ++c) bytes += static_cast<uint64_t>(PQgetlength(r, row, c));
    }
    if (PQntuples(r) > 0 && PQnfields(r) > 0) first = PQgetvalue(r, 0, 0);
    PQclear(r);
    if (ok_out) *ok_out = ok;
    return first;
  }
  PGconn* pg;
  uint64_t bytes = 0;
};

constexpr int kTables = 50;

// An ORM-like query; the table (one of kTables) and the IN list length (PostgreSQL 15 gives
// each length its own queryid) make each i a distinct pg_stat_statements entry.
std::string Shape(int i) {
  std::string in;
  for (int k = 0; k <= i / kTables; ++k) in += (k ? "," : "") + std::to_string(k + 1);
  return "SELECT o.id, o.customer_id, o.status, o.created_at FROM bench_orders_" +
         std::to_string(i % kTables) + " o WHERE o.status = 'open' AND o.customer_id IN (" + in +
         ") AND o.created_at > now() - interval '7 days' ORDER BY o.created_at DESC LIMIT 10";
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Sum of total_exec_time (ms) of pg_stat_statements entries matching `where`.
double PgssTime(Conn& admin, const std::string& where) {
  return std::atof(admin
                       .Exec("SELECT coalesce(sum(total_exec_time + total_plan_time), 0) FROM "
                             "pg_stat_statements WHERE " +
                             where)
                       .c_str());
}

std::vector<std::unique_ptr<Conn>> OpenBackends(const PgCluster& cluster, int n) {
  std::vector<std::unique_ptr<Conn>> conns;
  for (int i = 0; i < n; ++i) {
    auto c = std::make_unique<Conn>(cluster.ConnString("app") + " application_name=app-" +
                                    std::to_string(i));
    if (PQstatus(c->pg) != CONNECTION_OK) {
      std::fprintf(stderr, "bench: backend %d: %s", i, PQerrorMessage(c->pg));
      break;
    }
    conns.push_back(std::move(c));
  }
  // 20 running, 30 idle in transaction, a lock chain of 1 holder + 4 waiters; rest idle.
  for (int i = 0; i < 20 && i < static_cast<int>(conns.size()); ++i) {
    PQsendQuery(conns[i]->pg,
                "SELECT pg_sleep(3600) /* correlation:0f8fad5b-d9cb-469f-a165-70867728950e */");
  }
  for (int i = 20; i < 50 && i < static_cast<int>(conns.size()); ++i) {
    conns[i]->Exec("BEGIN");
    conns[i]->Exec("SELECT 'some literal', " + std::to_string(i));
  }
  if (conns.size() > 55) {
    conns[50]->Exec("BEGIN");
    conns[50]->Exec("UPDATE bench_orders SET status = 'locked' WHERE id = 1");
    for (int i = 51; i < 55; ++i)
      PQsendQuery(conns[i]->pg, "UPDATE bench_orders SET status = 'x' WHERE id = 1");
  }
  return conns;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc > 1) a.backends = std::atoi(argv[1]);
  if (argc > 2) a.statements = std::atoi(argv[2]);
  if (argc > 3) a.cycles = std::atoi(argv[3]);
  if (argc > 4) a.hot = std::atoi(argv[4]);
  rlimit fds{};
  getrlimit(RLIMIT_NOFILE, &fds);
  fds.rlim_cur = fds.rlim_max;
  setrlimit(RLIMIT_NOFILE, &fds);

  PgClusterOptions options;
  options.settings = {{"max_connections", std::to_string(a.backends + 100)},
                      {"pg_stat_statements.max", std::to_string(a.statements * 2)},
                      {"pg_stat_statements.track_planning", "on"},
                      {"shared_buffers", "256MB"}};
  auto cluster = PgCluster::Start(options);
  if (!cluster.ok()) {
    std::fprintf(stderr, "bench: %s\n", cluster.status().ToString().c_str());
    return 1;
  }
  PgCluster& pg = **cluster;
  auto setup = pg.Psql(
      "CREATE EXTENSION pg_stat_statements;"
      " CREATE TABLE bench_orders (id int PRIMARY KEY, customer_id int, status text,"
      "   created_at timestamptz);"
      " INSERT INTO bench_orders SELECT g, g % 97, 'open', now() - g * interval '1 minute'"
      "   FROM generate_series(1, 2000) g; ANALYZE bench_orders;"
      " DO $$BEGIN FOR i IN 0.." +
      std::to_string(kTables - 1) +
      " LOOP"
      "   EXECUTE format('CREATE TABLE bench_orders_%s (LIKE bench_orders)', i);"
      " END LOOP; END$$;"
      " CREATE ROLE app LOGIN; GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO app;");
  if (!setup.ok()) {
    std::fprintf(stderr, "bench: setup: %s\n", setup.status().ToString().c_str());
    return 1;
  }
  // The application runs as its own role, as in production (pgagent is not the app's role).
  Conn workload(pg.ConnString("app") + " application_name=workload");
  for (int i = 0; i < a.statements; ++i) workload.Exec(Shape(i));
  auto backends = OpenBackends(pg, a.backends);
  std::printf("backends open: %zu, distinct statements: %d\n", backends.size(), a.statements);

  pgagent::PgConnectionOptions o;
  o.conninfo = pg.ConnString();
  o.max_agent_sessions = 0;
  pgagent::LibpqSession session(o);
  pgagent::PgConnection conn(session, pgagent::SystemClock::Instance(), o);
  pgagent::ActivityCollector activity(conn, nullptr, pgagent::SystemClock::Instance(), {});
  pgagent::StatementsCollector statements(conn, nullptr, pgagent::SystemClock::Instance(), {});
  Conn naive(pg.ConnString() + " application_name=naive-reader");
  Conn admin(pg.ConnString() + " application_name=bench-admin");

  const std::string kOwn = "query LIKE '/* pgagent */%'";
  const std::string kNaive = "query = 'SELECT * FROM pg_stat_statements'";
  std::vector<double> server_ms, wall_ms, bytes, naive_server_ms, naive_wall_ms, naive_bytes;
  uint32_t activity_rows = 0, lock_waits = 0, entries = 0, changed = 0, sent = 0;
  int warmup = 0;
  bool warming = true;
  for (int cycle = 0; cycle < 40 + a.cycles && static_cast<int>(server_ms.size()) < a.cycles;
       ++cycle) {
    // The interval's workload: a stable hot set, as in production.
    for (int i = 0; i < a.hot; ++i) workload.Exec(Shape((i * 7919) % a.statements));
    double own_before = PgssTime(admin, kOwn);
    uint64_t bytes_before = session.BytesReceived();
    auto t0 = Clock::now();
    pgagent::v1::Record act, st;
    pgagent::Status s1 = activity.Collect(act);
    pgagent::Status s2 = statements.Collect(st);
    auto t1 = Clock::now();
    if (!s1.ok() || !s2.ok()) {
      std::fprintf(stderr, "bench: cycle %d: %s / %s\n", cycle, s1.ToString().c_str(),
                   s2.ToString().c_str());
      return 1;
    }
    double own_after = PgssTime(admin, kOwn);
    uint64_t cycle_bytes = session.BytesReceived() - bytes_before;

    double naive_before = PgssTime(admin, kNaive);
    uint64_t naive_bytes_before = naive.bytes;
    auto t2 = Clock::now();
    bool naive_ok = false;
    naive.Exec("SELECT * FROM pg_stat_statements", &naive_ok);
    auto t3 = Clock::now();
    if (!naive_ok) return 1;
    double naive_after = PgssTime(admin, kNaive);
    // Warm-up: the baseline, then cycles until the hot statements' texts are cached
    // (text fetches happen only for queryids never seen; they are reported separately).
    if (warming) {
      ++warmup;
      warming = st.statements().texts_fetched() > 0 && warmup < 40;
      continue;
    }
    server_ms.push_back(own_after - own_before);
    wall_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    bytes.push_back(static_cast<double>(cycle_bytes));
    naive_server_ms.push_back(naive_after - naive_before);
    naive_wall_ms.push_back(std::chrono::duration<double, std::milli>(t3 - t2).count());
    naive_bytes.push_back(static_cast<double>(naive.bytes - naive_bytes_before));
    activity_rows = act.activity().count();
    lock_waits = static_cast<uint32_t>(act.activity().lock_waits_size());
    entries = st.statements().total_entries();
    changed = st.statements().changed_entries();
    sent = st.statements().count();
  }
  std::printf(
      "steady cycles: %zu (after %d warm-up cycles); last cycle: %u activity rows, %u lock waits,"
      " %u pgss entries, %u changed, %u sent\n",
      server_ms.size(), warmup, activity_rows, lock_waits, entries, changed, sent);
  std::printf("%-28s %12s %12s %14s\n", "median per cycle", "server_ms", "wall_ms", "bytes");
  std::printf("%-28s %12.2f %12.2f %14.0f\n", "pgagent cycle", Median(server_ms), Median(wall_ms),
              Median(bytes));
  std::printf("%-28s %12.2f %12.2f %14.0f\n", "naive SELECT * FROM pgss", Median(naive_server_ms),
              Median(naive_wall_ms), Median(naive_bytes));
  std::printf("pgagent bytes / naive bytes: %.1f%%\n",
              100.0 * Median(bytes) / std::max(1.0, Median(naive_bytes)));
  std::printf(
      "pgagent queries by mean server time (all cycles, warm-up included; the text"
      " fetch runs only when a statement to send has no cached text):\n");
  PGresult* r = PQexec(
      admin.pg,
      "SELECT calls, round((mean_exec_time + mean_plan_time)::numeric, 2), "
      "left(regexp_replace(query,"
      " '\\s+', ' ', 'g'), 90) FROM pg_stat_statements"
      " WHERE query LIKE '/* pgagent */%' ORDER BY mean_exec_time + mean_plan_time DESC LIMIT 8");
  for (int i = 0; i < PQntuples(r); ++i) {
    std::printf("  calls %4s  mean %8s ms  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                PQgetvalue(r, i, 2));
  }
  PQclear(r);
  for (auto& b : backends) PQrequestCancel(b->pg);
  return 0;
}
