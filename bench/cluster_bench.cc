// Steady-state cost of the cluster-health collector (collectord/pg/cluster_collector.h) on
// a big cluster: one database with `tables` tables (each with a primary key and one more
// index: 2 x tables indexes) and `databases` small databases. Not a test. Starts its own
// throwaway cluster (tests/harness/pg_cluster.h; PGAGENT_PG_BINDIR picks the version).
//   cluster_bench [tables=10000] [databases=50] [cycles=10]
// Reported, from pg_stat_statements deltas of pgagent's own queries (exec + plan time,
// track_planning on) and LibpqSession's result-byte count:
//   fast cycle:   the 60 s cycle without database visits (median and mean over `cycles`
//                 cycles; one in ten also measures database sizes, as every 600 s);
//   visit:        one per-database visit of the big database and of a small one;
//   60 s cycle:   the fast cycle plus its share of visits (ceil(databases * 60 / 600) per
//                 cycle), i.e. a round over all databases in 600 s, divided by 10 cycles;
//   postgres_exporter (Debian's prometheus-postgres-exporter, default collectors, role
//   `exporter`): server time per scrape from its pg_stat_statements entries, bytes read as
//   the growth of its /proc/<pid>/io rchar per scrape (the HTTP request included).
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "collectord/pg/cluster_collector.h"
#include "collectord/pg/libpq_session.h"
#include "tests/fakes/fake_clock.h"
#include "tests/harness/pg_cluster.h"

namespace {

using namespace std::chrono_literals;
using pgagent::testing::PgCluster;
using pgagent::testing::PgClusterOptions;

constexpr char kOwn[] = "(query LIKE '/* pgagent */%' OR query LIKE '%/* pgagent */')";

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

std::string Must(const PgCluster& c, const std::string& sql, const std::string& db = "postgres") {
  auto out = c.Psql(sql, "postgres", db);
  if (!out.ok()) {
    std::fprintf(stderr, "bench: %s\n", out.status().ToString().c_str());
    std::exit(1);
  }
  return *out;
}

// Server time (ms) of pg_stat_statements entries matching `where`, all databases.
double ServerMs(const PgCluster& c, const std::string& where) {
  return std::atof(Must(c,
                        "SELECT coalesce(sum(total_exec_time + total_plan_time), 0) FROM "
                        "pg_stat_statements WHERE " +
                            where)
                       .c_str());
}

void CreateSchema(const PgCluster& c, int tables, int databases) {
  auto start = std::chrono::steady_clock::now();
  Must(c, "DO $$BEGIN FOR i IN 1.." + std::to_string(tables) +
              " LOOP EXECUTE format('CREATE TABLE bench_t%s (id int PRIMARY KEY, v int)', i);"
              " EXECUTE format('CREATE INDEX ON bench_t%s (v)', i);"
              " IF i % 500 = 0 THEN COMMIT; END IF; END LOOP; END$$;");
  Must(c, "INSERT INTO bench_t1 SELECT g, g FROM generate_series(1, 1000) g; ANALYZE;");
  for (int d = 1; d <= databases; ++d) {
    Must(c, "CREATE DATABASE bench_db" + std::to_string(d));
    Must(c,
         "CREATE TABLE t (id int PRIMARY KEY, v int); CREATE INDEX ON t (v);"
         " CREATE TABLE u (id int PRIMARY KEY);",
         "bench_db" + std::to_string(d));
  }
  std::printf("schema: %d tables + %d indexes in database postgres, %d more databases (%.0f s)\n",
              tables, 2 * tables, databases,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

struct Agent {
  Agent(const PgCluster& c, const std::string& databases) : options(Options(c)) {
    session = std::make_unique<pgagent::LibpqSession>(options);
    connection = std::make_unique<pgagent::PgConnection>(*session, clock, options, 1);
    pgagent::ClusterOptions co;
    co.visits.databases = databases;
    collector = std::make_unique<pgagent::ClusterCollector>(
        *connection, nullptr, clock, co, [o = options](const std::string& db) {
          pgagent::PgConnectionOptions v = o;
          v.dbname_override = db;
          return std::unique_ptr<pgagent::PgSession>(new pgagent::LibpqSession(v));
        });
  }
  static pgagent::PgConnectionOptions Options(const PgCluster& c) {
    pgagent::PgConnectionOptions o;
    o.conninfo = c.ConnString();
    o.max_agent_sessions = 0;
    o.statement_timeout = 60s;
    return o;
  }
  pgagent::v1::ClusterSnapshot Cycle() {
    clock.Advance(60s);
    pgagent::v1::Record r;
    pgagent::Status st = collector->Collect(r);
    if (!st.ok()) std::fprintf(stderr, "bench: collect: %s\n", st.ToString().c_str());
    for (const auto& w : r.cluster().warnings()) {
      std::fprintf(stderr, "bench: warning %s: %s\n", w.section().c_str(), w.error().c_str());
    }
    return r.cluster();
  }
  pgagent::FakeClock clock;
  pgagent::PgConnectionOptions options;
  std::unique_ptr<pgagent::LibpqSession> session;
  std::unique_ptr<pgagent::PgConnection> connection;
  std::unique_ptr<pgagent::ClusterCollector> collector;
};

// One measured collector cycle: server ms (pgss delta), bytes, client ms.
struct Cost {
  double server_ms = 0, bytes = 0, wall_ms = 0;
  int visits = 0;
};
Cost Measure(const PgCluster& c, Agent& agent) {
  double before = ServerMs(c, kOwn);
  auto t0 = std::chrono::steady_clock::now();
  auto snap = agent.Cycle();
  Cost cost;
  cost.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  cost.server_ms = ServerMs(c, kOwn) - before;
  cost.bytes = static_cast<double>(snap.bytes_read());
  cost.visits = snap.objects_size();
  return cost;
}

void Report(const char* what, const std::vector<Cost>& costs) {
  std::vector<double> s, b, w;
  for (const auto& c : costs) {
    s.push_back(c.server_ms);
    b.push_back(c.bytes);
    w.push_back(c.wall_ms);
  }
  std::printf("%-44s %9.2f %9.2f %11.0f %11.0f %9.2f\n", what, Median(s), Mean(s), Median(b),
              Mean(b), Median(w));
}

uint64_t Rchar(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/io");
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "rchar:") return value;
  }
  return 0;
}

void BenchExporter(const PgCluster& c, int scrapes) {
  const char* exporter = "/usr/bin/prometheus-postgres-exporter";
  if (access(exporter, X_OK) != 0) {
    std::printf("postgres_exporter: %s not installed (scripts/install-deps.sh)\n", exporter);
    return;
  }
  Must(c, "CREATE ROLE exporter LOGIN SUPERUSER");
  auto port = pgagent::testing::PickFreePort();
  if (!port.ok()) return;
  const std::string listen = "127.0.0.1:" + std::to_string(*port);
  const std::string dsn =
      "postgresql://exporter@127.0.0.1:" + std::to_string(c.port()) + "/postgres?sslmode=disable";
  pid_t pid = fork();
  if (pid == 0) {
    setenv("DATA_SOURCE_NAME", dsn.c_str(), 1);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    execl(exporter, exporter, ("--web.listen-address=" + listen).c_str(), nullptr);
    _exit(127);
  }
  const std::string url = "http://" + listen + "/metrics";
  pgagent::testing::RunOptions run;
  run.timeout = 60s;
  auto scrape = [&] {
    return pgagent::testing::RunProcess(
        {"curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", url}, run);
  };
  for (int i = 0; i < 50; ++i) {  // until it answers
    auto r = scrape();
    if (r.ok() && r->exit_code == 0) break;
    std::this_thread::sleep_for(100ms);
  }
  const std::string mine = "userid = (SELECT oid FROM pg_roles WHERE rolname = 'exporter')";
  std::vector<Cost> costs;
  for (int i = 0; i < scrapes + 2; ++i) {
    double before = ServerMs(c, mine);
    uint64_t rchar = Rchar(pid);
    auto t0 = std::chrono::steady_clock::now();
    auto r = scrape();
    Cost cost;
    cost.wall_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    cost.server_ms = ServerMs(c, mine) - before;
    cost.bytes = static_cast<double>(Rchar(pid) - rchar);
    if (i >= 2) costs.push_back(cost);  // the first scrapes prepare and plan
  }
  Report("postgres_exporter scrape (defaults)", costs);
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);
}

}  // namespace

int main(int argc, char** argv) {
  int tables = argc > 1 ? std::atoi(argv[1]) : 10000;
  int databases = argc > 2 ? std::atoi(argv[2]) : 50;
  int cycles = argc > 3 ? std::atoi(argv[3]) : 10;
  PgClusterOptions o;
  o.all_log_formats = false;
  o.settings = {{"pg_stat_statements.track_planning", "on"},
                {"pg_stat_statements.max", "20000"},
                {"max_locks_per_transaction", "256"},
                {"autovacuum", "off"},
                {"logging_collector", "off"}};
  auto cluster_or = PgCluster::Start(o);
  if (!cluster_or.ok()) {
    std::fprintf(stderr, "bench: %s\n", cluster_or.status().ToString().c_str());
    return 1;
  }
  const PgCluster& c = **cluster_or;
  Must(c, "CREATE EXTENSION pg_stat_statements");
  std::printf("PostgreSQL %d (%s)\n", c.major_version(), c.bin_dir().c_str());
  CreateSchema(c, tables, databases);
  std::printf("%-44s %9s %9s %11s %11s %9s\n", "per cycle / visit", "server_ms", "mean", "bytes",
              "mean_bytes", "wall_ms");
  {
    Agent fast(c, "!*");                       // no visits
    for (int i = 0; i < 3; ++i) fast.Cycle();  // baseline, prepares
    std::vector<Cost> costs;
    for (int i = 0; i < cycles; ++i) costs.push_back(Measure(c, fast));
    Report("fast cycle (no visits)", costs);
  }
  for (const char* db : {"postgres", "bench_db1"}) {
    std::vector<Cost> costs;
    for (int i = 0; i < 3; ++i) {
      Agent fast(c, "!*"), visit(c, db);
      fast.Cycle();
      visit.Cycle();  // the first visit (baseline of the table counters)
      visit.clock.Advance(600s);
      fast.clock.Advance(600s);       // both measure the database sizes (due every 600 s)
      Cost with = Measure(c, visit);  // a steady visit + a fast cycle
      Cost without = Measure(c, fast);
      costs.push_back({with.server_ms - without.server_ms, with.bytes - without.bytes,
                       with.wall_ms - without.wall_ms, with.visits});
    }
    Report((std::string("visit of ") + db + (std::string(db) == "postgres" ? " (big)" : " (small)"))
               .c_str(),
           costs);
  }
  {
    Agent all(c, "");  // every database, spread over the cycles of one schema interval
    for (int i = 0; i < 11; ++i) all.Cycle();  // a first round (baselines)
    std::vector<Cost> costs;
    int visits = 0;
    for (int i = 0; i < 10; ++i) {
      costs.push_back(Measure(c, all));
      visits += costs.back().visits;
    }
    Report("60 s cycle incl. its share of visits", costs);
    std::printf("  (%d visits in 10 cycles = one round over %d databases)\n", visits,
                databases + 1);
  }
  BenchExporter(c, cycles);
  std::printf(
      "pgagent queries by total server time (all runs above; calls, mean ms, total ms):\n%s\n",
      Must(c, std::string("SELECT calls, round((mean_exec_time + mean_plan_time)::numeric, 2),"
                          " round((total_exec_time + total_plan_time)::numeric, 1),"
                          " left(regexp_replace(query, '\\s+', ' ', 'g'), 80)"
                          " FROM pg_stat_statements WHERE ") +
                  kOwn + " ORDER BY total_exec_time + total_plan_time DESC LIMIT 12")
          .c_str());
  return 0;
}
