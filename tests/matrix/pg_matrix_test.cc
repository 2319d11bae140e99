// The PostgreSQL version matrix: this binary runs once per major version 12..18 (ctest
// pg_matrix_pg<N>, PGAGENT_PG_BINDIR = the version's server binaries from
// scripts/install-deps.sh) against ONE cluster of that version (initdb once). It checks
// that every collector returns the same output shape on each version, with the fields a
// version lacks absent rather than zero, and plays what the cluster collector must see: a
// streaming standby with a paused replay, a long transaction holding the xmin horizon, a
// forced wraparound age, unused and invalid indexes, a running VACUUM, a pending-restart
// setting; finally the log parsers read this version's stderr, csvlog and (15+) jsonlog
// output of everything above plus a full pgbench run.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "collectord/logs/log_entry_assembler.h"
#include "collectord/pg/activity_collector.h"
#include "collectord/pg/cluster_collector.h"
#include "collectord/pg/libpq_session.h"
#include "collectord/pg/statements_collector.h"
#include "collectord/system/proc_fs.h"
#include "collectord/system/system_collector.h"
#include "tests/collectord/pg/pg_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::testing {
namespace {

using namespace std::chrono_literals;
using pgagent::v1::ClusterSnapshot;
using pgagent::v1::DatabaseObjects;

constexpr char kUuid[] = "7d444840-9dc0-11d1-b245-5ffdce74fad2";
constexpr char kApp[] = "pgagent-matrix";  // pgagent's application_name in these tests

PgCluster& Cluster() { return PgCluster::Shared(); }
int Major() { return Cluster().major_version(); }

std::string MustPsql(const std::string& sql, const std::string& db = "postgres") {
  auto out = Cluster().Psql(sql, "postgres", db);
  EXPECT_TRUE(out.ok()) << sql << ": " << out.status().ToString();
  return out.ok() ? *out : "";
}

// Polls psql until `sql` prints `want` (bounded: 20 s).
bool WaitForValue(const PgCluster& c, const std::string& sql, const std::string& want,
                  const std::string& db = "postgres") {
  for (int i = 0; i < 400; ++i) {
    auto out = c.Psql(sql, "postgres", db);
    if (out.ok() && *out == want) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// pgagent's pieces against one server, with a fake clock for the cadence.
struct Agent {
  explicit Agent(const PgCluster& cluster, std::string databases = "!matrix_skip")
      : options(MakeOptions(cluster)),
        session(options),
        connection(session, clock, options, 1),
        cluster_collector(connection, &extractor, clock, MakeClusterOptions(std::move(databases)),
                          [o = options](const std::string& db) -> std::unique_ptr<PgSession> {
                            PgConnectionOptions visit = o;
                            visit.dbname_override = db;
                            return std::make_unique<LibpqSession>(visit);
                          }) {}
  static PgConnectionOptions MakeOptions(const PgCluster& cluster) {
    PgConnectionOptions o;
    o.conninfo = cluster.ConnString();
    o.application_name = kApp;
    o.max_agent_sessions = 0;
    return o;
  }
  static ClusterOptions MakeClusterOptions(std::string databases) {
    ClusterOptions c;
    c.visits.databases = std::move(databases);
    return c;
  }
  // One 60 s cycle of the cluster collector.
  ClusterSnapshot Cycle() {
    clock.Advance(60s);
    pgagent::v1::Record record;
    Status st = cluster_collector.Collect(record);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(record.has_cluster());
    return record.cluster();
  }
  FakeClock clock;
  PgConnectionOptions options;
  LibpqSession session;
  PgConnection connection;
  CorrelationExtractor extractor = CorrelationExtractor::Create({}).value();
  ClusterCollector cluster_collector;
};

const pgagent::v1::DatabaseStats* FindDb(const ClusterSnapshot& s, const std::string& name) {
  for (const auto& d : s.databases()) {
    if (d.datname() == name) return &d;
  }
  return nullptr;
}

// Cycles (at most 4) until `db` is visited; its objects.
std::optional<DatabaseObjects> VisitOf(Agent& agent, const std::string& db) {
  for (int i = 0; i < 4; ++i) {
    ClusterSnapshot s = agent.Cycle();
    EXPECT_EQ(s.warnings_size(), 0) << s.ShortDebugString();
    for (const auto& o : s.objects()) {
      if (o.datname() == db) return o;
    }
  }
  return std::nullopt;
}

template <typename List>
bool HasRelation(const List& list, const std::string& relation) {
  return std::any_of(list.begin(), list.end(),
                     [&](const auto& x) { return x.relation() == relation; });
}

class PgMatrixTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PgCluster& c = Cluster();
    std::printf("pg_matrix: PostgreSQL %d from %s\n", c.major_version(), c.bin_dir().c_str());
    ASSERT_TRUE(c.SetAndReload("max_prepared_transactions", "4").ok());
    ASSERT_TRUE(c.SetAndReload("log_min_duration_statement", "0").ok());
    ASSERT_TRUE(c.Restart().ok());
    MustPsql(
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
        " CREATE DATABASE matrix_a; CREATE DATABASE matrix_skip;");
  }
};

TEST_F(PgMatrixTest, ClusterSnapshotHasThisVersionsShape) {
  Agent agent(Cluster());
  ClusterSnapshot first = agent.Cycle();
  EXPECT_EQ(first.server_version_num() / 10000, Major());
  EXPECT_FALSE(first.has_interval_s());
  EXPECT_FALSE(first.has_checkpoints());  // a baseline: no deltas yet
  ASSERT_NE(FindDb(first, "postgres"), nullptr);
  EXPECT_FALSE(FindDb(first, "postgres")->has_delta());
  ASSERT_TRUE(first.has_settings());
  bool preload = false;
  for (const auto& s : first.settings().settings())
    preload |= s.name() == "shared_preload_libraries";
  EXPECT_TRUE(preload);

  const std::string checkpoints = Major() >= 17 ? "SELECT num_requested FROM pg_stat_checkpointer"
                                                : "SELECT checkpoints_req FROM pg_stat_bgwriter";
  const std::string before = MustPsql(checkpoints);
  MustPsql(
      "CREATE TABLE shape_t (x int); INSERT INTO shape_t SELECT generate_series(1, 1000);"
      " CHECKPOINT;");
  // Up to 14 the statistics collector publishes counters asynchronously (every 500 ms).
  ASSERT_TRUE(WaitForValue(
      Cluster(), "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'shape_t'", "1000"));
  ASSERT_TRUE(WaitForValue(Cluster(), "SELECT (" + checkpoints + ") > " + before, "t"));
  ClusterSnapshot s = agent.Cycle();
  EXPECT_EQ(s.warnings_size(), 0) << s.ShortDebugString();
  EXPECT_DOUBLE_EQ(s.interval_s(), 60.0);
  EXPECT_FALSE(s.has_settings());  // unchanged
  const auto* db = FindDb(s, "postgres");
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(db->has_delta());
  EXPECT_GE(db->delta().tup_inserted(), 1000u);
  EXPECT_GT(db->delta().xact_commit(), 0u);
  EXPECT_TRUE(db->has_cache_hit_ratio());
  // Absent unless data checksums are on (initdb's default from 18 on).
  EXPECT_EQ(db->delta().has_checksum_failures(), MustPsql("SHOW data_checksums") == "on");
  EXPECT_EQ(db->delta().has_session_time(), Major() >= 14);
  EXPECT_EQ(db->delta().has_sessions_killed(), Major() >= 14);
  EXPECT_GT(db->xid_age(), 0);

  ASSERT_TRUE(s.has_checkpoints());
  const auto& cp = s.checkpoints();
  EXPECT_GE(cp.checkpoints_requested(), 1u);
  EXPECT_GT(cp.buffers_checkpoint(), 0u);
  EXPECT_EQ(cp.has_checkpoints_done(), Major() >= 18);
  EXPECT_EQ(cp.has_restartpoints_timed(), Major() >= 17);
  EXPECT_EQ(cp.has_buffers_backend_fsync(), Major() <= 16);

  ASSERT_TRUE(s.has_wal());
  EXPECT_GT(s.wal().lsn(), 0u);
  ASSERT_TRUE(s.wal().has_bytes());
  EXPECT_GT(s.wal().bytes(), 0u);
  EXPECT_GT(s.wal().bytes_per_s(), 0.0);
  EXPECT_EQ(s.wal().has_stat_wal(), Major() >= 14);
  if (s.wal().has_stat_wal()) {
    EXPECT_GT(s.wal().stat_wal().wal_records(), 0u);
    EXPECT_EQ(s.wal().stat_wal().has_wal_write(), Major() <= 17);
  }
  EXPECT_EQ(s.wal().io_size() > 0, Major() >= 16);

  ASSERT_TRUE(s.has_connections());
  EXPECT_EQ(s.connections().max_connections(), 200);
  EXPECT_GE(s.connections().used(), 1);
  EXPECT_EQ(s.connections().has_reserved_connections(), Major() >= 16);
  EXPECT_FALSE(s.connections().by_state().empty());
  EXPECT_FALSE(s.connections().by_role().empty());

  ASSERT_TRUE(s.has_vacuum());
  EXPECT_EQ(s.vacuum().autovacuum_max_workers(), 3u);
  EXPECT_EQ(s.vacuum().autovacuum_freeze_max_age(), 200000000);
  EXPECT_GT(s.vacuum().oldest_xid_age(), 0);
  EXPECT_FALSE(s.in_recovery());
  ASSERT_TRUE(s.has_replication());
  EXPECT_FALSE(s.replication().has_standby());
  EXPECT_GT(s.bytes_read(), 0u);
  MustPsql("DROP TABLE shape_t");
}

TEST_F(PgMatrixTest, EveryOlderCollectorWorksOnThisVersion) {
  Agent agent(Cluster());
  ActivityCollector activity(agent.connection, &agent.extractor, agent.clock, ActivityOptions{});
  StatementsCollector statements(agent.connection, &agent.extractor, agent.clock,
                                 StatementsOptions{});
  system::RealProcFs procfs;
  system::SystemCollector system_collector(system::SystemOptions{}, procfs, agent.clock);
  TestBackend app(Cluster(), "bitville-" + std::string(kUuid));
  ASSERT_TRUE(app.Send("SELECT pg_sleep(2) /* correlation:" + std::string(kUuid) + " */"));
  pgagent::v1::StatementsSnapshot last;
  for (int i = 0; i < 3; ++i) {
    agent.clock.Advance(60s);
    pgagent::v1::Record a, st, sys;
    ASSERT_TRUE(activity.Collect(a).ok());
    Status ss = statements.Collect(st);
    ASSERT_TRUE(ss.ok()) << ss.ToString();
    ASSERT_TRUE(system_collector.Collect(sys).ok());
    if (i == 0) {
      bool seen = false;
      for (const auto& session : a.activity().sessions()) {
        seen |= session.pid() == app.pid() && session.correlation_id() == kUuid;
      }
      EXPECT_TRUE(seen) << a.activity().ShortDebugString();
    }
    last = st.statements();
  }
  app.Drain();
  EXPECT_FALSE(last.baseline());
  // pgagent's own statements are counted, not sent.
  EXPECT_GT(last.own_entries(), 0u);
  EXPECT_GT(last.own_calls(), 0u);
  for (const auto& d : last.statements()) {
    EXPECT_FALSE(IsPgagentQuery(d.query())) << d.query();
  }
}

TEST_F(PgMatrixTest, PendingRestartSettingIsSentOnChange) {
  Agent agent(Cluster());
  agent.Cycle();
  EXPECT_FALSE(agent.Cycle().has_settings());
  ASSERT_TRUE(Cluster().SetAndReload("max_prepared_transactions", "5").ok());
  ASSERT_TRUE(WaitForValue(Cluster(),
                           "SELECT pending_restart FROM pg_settings WHERE name = "
                           "'max_prepared_transactions'",
                           "t"));
  ClusterSnapshot changed = agent.Cycle();
  ASSERT_TRUE(changed.has_settings());
  const auto& pending = changed.settings().pending_restart();
  EXPECT_NE(std::find(pending.begin(), pending.end(), "max_prepared_transactions"), pending.end());
  ASSERT_TRUE(Cluster().SetAndReload("max_prepared_transactions", "4").ok());
}

TEST_F(PgMatrixTest, LongTransactionHoldsTheXminHorizonWithItsCorrelationId) {
  TestBackend holder(Cluster(), "bitville-" + std::string(kUuid));
  ASSERT_TRUE(holder.ok()) << holder.error();
  holder.Exec("BEGIN");
  holder.Exec("SELECT txid_current()");
  TestBackend prepared(Cluster(), "matrix-prepared");
  prepared.Exec("BEGIN");
  prepared.Exec("SELECT txid_current()");
  ASSERT_EQ(prepared.Exec("PREPARE TRANSACTION 'matrix_gid'"), "");
  MustPsql("SELECT txid_current(); SELECT txid_current(); SELECT txid_current();");
  Agent agent(Cluster());
  ClusterSnapshot s = agent.Cycle();
  MustPsql("ROLLBACK PREPARED 'matrix_gid'");
  holder.Exec("ROLLBACK");
  ASSERT_TRUE(s.has_xmin_horizon());
  const auto& h = s.xmin_horizon();
  EXPECT_EQ(h.prepared_transactions(), 1u);
  ASSERT_GE(h.holders_size(), 2) << h.ShortDebugString();
  const auto& oldest = h.holders(0);
  EXPECT_EQ(oldest.kind(), "backend") << h.ShortDebugString();
  EXPECT_EQ(oldest.pid(), holder.pid());
  EXPECT_EQ(oldest.correlation_id(), kUuid);
  EXPECT_GE(oldest.age(), 4);
  EXPECT_TRUE(oldest.has_xact_age_s());
  bool gid = false;
  for (const auto& x : h.holders())
    gid |= x.kind() == "prepared_transaction" && x.name() == "matrix_gid";
  EXPECT_TRUE(gid) << h.ShortDebugString();
}

TEST_F(PgMatrixTest, ForcedWraparoundAgeShowsTheForgottenTable) {
  MustPsql("CREATE TABLE old_t (x int); CREATE TABLE frozen_t (x int);", "matrix_a");
  // 3000 transactions, each with its own xid.
  MustPsql("DO $$BEGIN FOR i IN 1..3000 LOOP PERFORM txid_current(); COMMIT; END LOOP; END$$;",
           "matrix_a");
  MustPsql("VACUUM FREEZE frozen_t;", "matrix_a");
  Agent agent(Cluster(), "matrix_a");
  auto visit = VisitOf(agent, "matrix_a");
  ASSERT_TRUE(visit.has_value());
  ASSERT_FALSE(visit->top_by_xid_age().empty());
  EXPECT_EQ(visit->top_by_xid_age(0).relation(), "public.old_t") << visit->ShortDebugString();
  EXPECT_GE(visit->top_by_xid_age(0).xid_age(), 3000);
  for (const auto& f : visit->top_by_xid_age()) {
    if (f.relation() == "public.frozen_t") {
      EXPECT_LT(f.xid_age(), 100);
    }
  }
  ClusterSnapshot s = agent.Cycle();
  const auto* db = FindDb(s, "matrix_a");
  ASSERT_NE(db, nullptr);
  EXPECT_GE(db->xid_age(), 3000);
  EXPECT_GE(s.vacuum().oldest_xid_age(), 3000);
  EXPECT_NEAR(s.vacuum().freeze_max_age_share(),
              static_cast<double>(s.vacuum().oldest_xid_age()) / 200000000.0, 1e-9);
  EXPECT_GT(s.vacuum().wraparound_share(), 0.0);
}

TEST_F(PgMatrixTest, UnusedAndInvalidIndexesAreReported) {
  MustPsql(
      "CREATE TABLE idx_t (id int PRIMARY KEY, a int, b int);"
      " INSERT INTO idx_t SELECT g, g, g % 10 FROM generate_series(1, 2000) g;"
      " CREATE INDEX idx_used ON idx_t (a); CREATE INDEX idx_unused ON idx_t (b); ANALYZE idx_t;"
      " SET enable_seqscan = off; SELECT count(*) FROM idx_t WHERE a = 5;",
      "matrix_a");
  // Fails on the duplicates and leaves an invalid index behind.
  EXPECT_FALSE(
      Cluster()
          .Psql("CREATE UNIQUE INDEX CONCURRENTLY idx_invalid ON idx_t (b)", "postgres", "matrix_a")
          .ok());
  ASSERT_TRUE(WaitForValue(Cluster(),
                           "SELECT idx_scan > 0 FROM pg_stat_user_indexes WHERE indexrelname = "
                           "'idx_used'",
                           "t", "matrix_a"));
  Agent agent(Cluster(), "matrix_a");
  auto visit = VisitOf(agent, "matrix_a");
  ASSERT_TRUE(visit.has_value());
  EXPECT_TRUE(HasRelation(visit->unused_indexes(), "public.idx_unused"))
      << visit->ShortDebugString();
  EXPECT_FALSE(HasRelation(visit->unused_indexes(), "public.idx_used"));
  EXPECT_FALSE(HasRelation(visit->unused_indexes(), "public.idx_t_pkey"));  // enforces a key
  EXPECT_TRUE(HasRelation(visit->invalid_indexes(), "public.idx_invalid"));
  for (const auto& i : visit->unused_indexes()) {
    if (i.relation() == "public.idx_unused") {
      EXPECT_EQ(i.table(), "public.idx_t");
      EXPECT_GT(i.size_bytes(), 0u);
    }
  }
  EXPECT_GT(visit->size_bytes(), 1000000u);  // catalogs alone are several MB
  EXPECT_GE(visit->tables(), 1u);
  EXPECT_GE(visit->indexes(), 4u);
  EXPECT_TRUE(HasRelation(visit->top_by_size(), "public.idx_t"));
}

TEST_F(PgMatrixTest, DatabasesAreVisitedInTurnOverOneConnection) {
  MustPsql("CREATE TABLE IF NOT EXISTS visit_t (x int); INSERT INTO visit_t VALUES (1);");
  Agent agent(Cluster());  // databases = "!matrix_skip": postgres and matrix_a
  const std::string count_ours =
      std::string("SELECT count(*) FROM pg_stat_activity WHERE application_name = '") + kApp + "'";
  std::vector<std::string> visited;
  for (int i = 0; i < 3; ++i) {
    ClusterSnapshot s = agent.Cycle();
    EXPECT_EQ(s.warnings_size(), 0) << s.ShortDebugString();
    EXPECT_LE(s.objects_size(), 1);  // 2 databases, 60 s cycles, 600 s schema interval
    for (const auto& o : s.objects()) visited.push_back(o.datname());
    EXPECT_LE(std::stoi(MustPsql(count_ours)), 1);
  }
  EXPECT_EQ(visited, (std::vector<std::string>{"matrix_a", "postgres"}));
  agent.clock.Advance(600s);
  ClusterSnapshot again = agent.Cycle();
  ASSERT_EQ(again.objects_size(), 1);
  EXPECT_EQ(again.objects(0).datname(), "matrix_a");
  EXPECT_GE(again.objects(0).interval_s(), 600.0);
  // Tables of the visit read as deltas against the previous visit.
  auto postgres = VisitOf(agent, "postgres");
  ASSERT_TRUE(postgres.has_value());
  MustPsql("DROP TABLE visit_t");
}

TEST_F(PgMatrixTest, RunningVacuumIsSeenInProgress) {
  MustPsql(
      "CREATE TABLE vac_t AS SELECT generate_series(1, 20000) AS x;"
      " DELETE FROM vac_t WHERE x % 2 = 0;");
  TestBackend vacuum(Cluster(), "matrix-vacuum");
  vacuum.Exec("SET vacuum_cost_delay = 100");
  vacuum.Exec("SET vacuum_cost_limit = 1");
  ASSERT_TRUE(vacuum.Send("VACUUM vac_t"));
  Agent agent(Cluster());
  bool seen = false;
  for (int i = 0; i < 100 && !seen; ++i) {
    ClusterSnapshot s = agent.Cycle();
    for (const auto& r : s.vacuum().running()) {
      if (r.command() == "vacuum" && r.relation() == "public.vac_t" && r.pid() == vacuum.pid()) {
        seen = true;
        EXPECT_FALSE(r.phase().empty());
        EXPECT_FALSE(r.autovacuum());
        EXPECT_GT(r.blocks_total(), 0u);
        EXPECT_EQ(r.datname(), "postgres");
      }
    }
    if (!seen) std::this_thread::sleep_for(50ms);
  }
  MustPsql("SELECT pg_cancel_backend(" + std::to_string(vacuum.pid()) + ")");
  vacuum.Drain();
  EXPECT_TRUE(seen);
  MustPsql("DROP TABLE vac_t");
}

TEST_F(PgMatrixTest, PausedStandbyShowsReplayLagInBytesAndSeconds) {
  PgCluster& primary = Cluster();
  MustPsql("CREATE TABLE repl_t (x int); INSERT INTO repl_t VALUES (1);");
  auto standby_or = PgCluster::StartStandbyOf(primary, "matrix_standby");
  ASSERT_TRUE(standby_or.ok()) << standby_or.status().ToString();
  std::unique_ptr<PgCluster> standby = std::move(*standby_or);
  ASSERT_TRUE(WaitForValue(primary, "SELECT state FROM pg_stat_replication", "streaming"))
      << standby->ServerLogTail();
  // A commit replayed by the standby, so that it has a last replay time.
  MustPsql("INSERT INTO repl_t VALUES (2);");
  ASSERT_TRUE(WaitForValue(*standby, "SELECT count(*) FROM repl_t", "2"));
  ASSERT_TRUE(standby->Psql("SELECT pg_wal_replay_pause()").ok());
  ASSERT_TRUE(WaitForValue(*standby, "SELECT pg_is_wal_replay_paused()", "t"));
  MustPsql("INSERT INTO repl_t SELECT generate_series(1, 20000);");
  ASSERT_TRUE(
      WaitForValue(*standby, "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()", "t"));
  std::this_thread::sleep_for(1100ms);  // the lag in seconds grows while replay waits
  Agent on_standby(*standby);
  on_standby.Cycle();
  ClusterSnapshot s = on_standby.Cycle();
  EXPECT_TRUE(s.in_recovery());
  ASSERT_TRUE(s.replication().has_standby()) << s.ShortDebugString();
  const auto& st = s.replication().standby();
  EXPECT_TRUE(st.replay_paused());
  EXPECT_EQ(st.receiver_status(), "streaming");
  EXPECT_EQ(st.slot_name(), "matrix_standby");
  EXPECT_GT(st.replay_lag_bytes(), 0u);
  EXPECT_GT(st.replay_lag_s(), 1.0);
  EXPECT_TRUE(st.has_last_replay_time());
  EXPECT_TRUE(s.wal().has_bytes());  // received WAL

  MustPsql(
      "SELECT pg_create_physical_replication_slot('matrix_idle', true);"
      " INSERT INTO repl_t SELECT generate_series(1, 1000);");
  Agent on_primary(primary);
  ClusterSnapshot p = on_primary.Cycle();
  ASSERT_EQ(p.replication().standbys_size(), 1) << p.ShortDebugString();
  const auto& sb = p.replication().standbys(0);
  EXPECT_EQ(sb.state(), "streaming");
  EXPECT_GT(sb.replay_lag_bytes(), 0u);
  EXPECT_TRUE(sb.has_reply_age_s());
  // The walsender interpolates the lag of the WAL the paused standby has not replayed, as of
  // the standby's last reply (sent on receipt and every wal_receiver_status_interval).
  ASSERT_TRUE(sb.has_replay_lag_s());
  EXPECT_GT(sb.replay_lag_s(), 0.0);
  std::printf("pg_matrix: primary sees replay_lag_bytes=%llu replay_lag_s=%s\n",
              static_cast<unsigned long long>(sb.replay_lag_bytes()),
              sb.has_replay_lag_s() ? std::to_string(sb.replay_lag_s()).c_str() : "absent");
  bool standby_slot = false, idle_slot = false;
  for (const auto& slot : p.replication().slots()) {
    EXPECT_EQ(slot.has_wal_status(), Major() >= 13);
    if (slot.slot_name() == "matrix_standby") {
      standby_slot = slot.active() && !slot.inactive_retaining_wal() && slot.has_retained_bytes();
    }
    if (slot.slot_name() == "matrix_idle") {
      idle_slot = !slot.active() && slot.inactive_retaining_wal() && slot.retained_bytes() > 0;
    }
  }
  EXPECT_TRUE(standby_slot) << p.replication().ShortDebugString();
  EXPECT_TRUE(idle_slot) << p.replication().ShortDebugString();
  ASSERT_TRUE(standby->Psql("SELECT pg_wal_replay_resume()").ok());
  standby.reset();
  MustPsql(
      "SELECT pg_drop_replication_slot('matrix_idle');"
      " SELECT pg_drop_replication_slot('matrix_standby'); DROP TABLE repl_t;");
}

// --- logs: last, so that they hold everything above ------------------------------------

std::string ReadAll(const PgCluster& c, const std::string& suffix) {
  std::string all;
  for (const std::string& f : c.LogFiles(suffix)) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str();
  }
  return all;
}

std::vector<AssembledEntry> Parse(LogFormat format, const std::string& text, LogParseStats* stats) {
  LogParserOptions o;
  o.format = format;
  o.log_line_prefix = "%m [%p] %q%u@%d %a ";
  auto parser = LogParser::Create(o);
  EXPECT_TRUE(parser.ok()) << parser.status().ToString();
  LogEntryAssembler assembler(**parser);
  std::vector<AssembledEntry> out;
  size_t p = 0;
  while (p < text.size()) {
    size_t nl = text.find('\n', p);
    if (nl == std::string::npos) break;
    assembler.Push(LogLine{std::string_view(text).substr(p, nl - p), false, nl + 1},
                   std::chrono::steady_clock::now(), &out);
    p = nl + 1;
  }
  assembler.Flush(&out);
  *stats = assembler.stats();
  return out;
}

TEST_F(PgMatrixTest, LogParsersReadThisVersionsLogsOfAFullPgbenchRun) {
  PgCluster& c = Cluster();
  const std::string pgbench = c.Tool("pgbench");
  RunOptions run;
  run.timeout = 120s;
  const std::vector<std::string> conn = {"-h", c.host(),  "-p", std::to_string(c.port()),
                                         "-U", "postgres"};
  std::vector<std::string> init = {pgbench, "-i", "-s", "1", "-q"};
  init.insert(init.end(), conn.begin(), conn.end());
  init.push_back("matrix_a");
  auto i = RunChecked(init, run);
  ASSERT_TRUE(i.ok()) << i.status().ToString();
  std::vector<std::string> bench = {pgbench, "-c", "2", "-j", "1", "-t", "200", "-n"};
  bench.insert(bench.end(), conn.begin(), conn.end());
  bench.push_back("matrix_a");
  auto b = RunChecked(bench, run);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  MustPsql("SELECT 'matrix-log-done'");
  std::vector<std::pair<LogFormat, std::string>> formats = {{LogFormat::kStderr, ".log"},
                                                            {LogFormat::kCsvlog, ".csv"}};
  if (Major() >= 15) formats.push_back({LogFormat::kJsonlog, ".json"});
  for (const auto& [f, suffix] : formats) {
    bool done = false;
    for (int n = 0; n < 200 && !done; ++n) {
      done = ReadAll(c, suffix).find("matrix-log-done") != std::string::npos;
      if (!done) std::this_thread::sleep_for(50ms);
    }
    ASSERT_TRUE(done) << suffix;
  }
  std::vector<size_t> pgbench_entries;
  for (const auto& [f, suffix] : formats) {
    LogParseStats stats;
    auto entries = Parse(f, ReadAll(c, suffix), &stats);
    EXPECT_EQ(stats.unparsed, 0u) << LogFormatName(f);
    EXPECT_EQ(stats.unknown_timezone, 0u) << LogFormatName(f);
    size_t from_pgbench = 0, updates = 0;
    for (const auto& a : entries) {
      const auto& e = a.entry;
      if (e.application_name() != "pgbench") continue;
      ++from_pgbench;
      if (e.has_duration_ms() &&
          e.DebugString().find("UPDATE pgbench_accounts") != std::string::npos) {
        ++updates;
        EXPECT_EQ(e.database(), "matrix_a");
        EXPECT_EQ(e.user(), "postgres");
      }
    }
    EXPECT_GE(updates, 400u) << LogFormatName(f);  // 2 clients x 200 transactions
    pgbench_entries.push_back(from_pgbench);
    std::printf("pg_matrix: %s: %llu lines, %llu entries, %zu from pgbench, 0 unparsed\n",
                std::string(LogFormatName(f)).c_str(), static_cast<unsigned long long>(stats.lines),
                static_cast<unsigned long long>(stats.entries), from_pgbench);
  }
  for (size_t n : pgbench_entries) EXPECT_EQ(n, pgbench_entries.front());
}

}  // namespace
}  // namespace pgagent::testing

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new pgagent::testing::PgClusterEnvironment);
  return RUN_ALL_TESTS();
}
