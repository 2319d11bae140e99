#include "collectord/pg/cluster_sql.h"

namespace pgagent::cluster_sql {
namespace {

// The current WAL position: written on a primary, received (else replayed) on a standby.
std::string CurrentLsn(bool in_recovery) {
  return in_recovery ? "coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())"
                     : "pg_current_wal_lsn()";
}

// Settings pgagent reports: everything not at its built-in default, except what describes
// pgagent's own session (client/session sources) or is computed (override).
constexpr const char* kSettingsFilter =
    " FROM pg_settings WHERE source NOT IN ('default', 'override', 'client', 'session')";

// A timestamptz column as microseconds since the epoch, aliased `<name>_us`.
std::string Micros(const std::string& column, const std::string& name) {
  return "(extract(epoch FROM " + column + ") * 1000000)::int8 AS " + name + "_us";
}

// age() of a relation's relfrozenxid/relminmxid, NULL where it has none (partitioned
// tables, views), since age() of an invalid xid is INT_MAX.
std::string RelAge(const std::string& fn, const std::string& column, const std::string& name) {
  return "CASE WHEN c.relkind IN ('r', 'm', 't') THEN " + fn + "(c." + column + ")::int8 END AS " +
         name;
}

}  // namespace

std::string Status(int version) {
  std::string sql =
      "WITH l AS (SELECT pg_is_in_recovery() AS r, CASE WHEN pg_is_in_recovery() THEN " +
      CurrentLsn(true) + " ELSE " + CurrentLsn(false) +
      " END AS lsn)"
      " SELECT l.r AS in_recovery, pg_wal_lsn_diff(l.lsn, '0/0')::int8 AS lsn,"
      " l.lsn::text AS lsn_text, current_database() AS current_database,"
      " (SELECT md5(string_agg(name || '=' || coalesce(setting, '') || ':' ||"
      " pending_restart::text, ',' ORDER BY name))" +
      std::string(kSettingsFilter) +
      ") AS settings_hash,"
      " current_setting('max_connections')::int AS max_connections,"
      " current_setting('superuser_reserved_connections')::int AS"
      " superuser_reserved_connections,";
  if (version >= 160000) {
    sql += " current_setting('reserved_connections')::int AS reserved_connections,";
  }
  sql +=
      " current_setting('autovacuum_max_workers')::int AS autovacuum_max_workers,"
      " current_setting('autovacuum_freeze_max_age')::int8 AS autovacuum_freeze_max_age,"
      " current_setting('autovacuum_multixact_freeze_max_age')::int8 AS"
      " autovacuum_multixact_freeze_max_age,"
      " (SELECT count(*) FROM pg_prepared_xacts) AS prepared_transactions"
      " FROM l";
  return sql;
}

std::string Databases(int version) {
  std::string sql =
      "SELECT d.datid::int8 AS datid, d.datname, d.numbackends,"
      " age(b.datfrozenxid)::int8 AS xid_age, mxid_age(b.datminmxid)::int8 AS mxid_age,"
      " b.datallowconn AS allow_connections, b.datistemplate AS is_template,"
      " has_database_privilege(b.oid, 'CONNECT') AS can_connect,"
      " d.xact_commit, d.xact_rollback, d.blks_read, d.blks_hit, d.tup_returned,"
      " d.tup_fetched, d.tup_inserted, d.tup_updated, d.tup_deleted, d.conflicts,"
      " d.temp_files, d.temp_bytes, d.deadlocks, d.checksum_failures, d.blk_read_time,"
      " d.blk_write_time";
  if (version >= 140000) {
    sql +=
        ", d.session_time, d.active_time, d.idle_in_transaction_time, d.sessions,"
        " d.sessions_abandoned, d.sessions_fatal, d.sessions_killed";
  }
  return sql + " FROM pg_stat_database d JOIN pg_database b ON b.oid = d.datid ORDER BY d.datname";
}

std::string Checkpoints(int version) {
  if (version < 170000) {
    return "SELECT checkpoints_timed, checkpoints_req AS checkpoints_requested,"
           " checkpoint_write_time AS write_time, checkpoint_sync_time AS sync_time,"
           " buffers_checkpoint, buffers_clean, buffers_backend, buffers_backend_fsync,"
           " maxwritten_clean, buffers_alloc FROM pg_stat_bgwriter";
  }
  std::string sql =
      "SELECT c.num_timed AS checkpoints_timed, c.num_requested AS checkpoints_requested,";
  if (version >= 180000) sql += " c.num_done AS checkpoints_done,";
  return sql +
         " c.restartpoints_timed, c.restartpoints_req AS restartpoints_requested,"
         " c.restartpoints_done, c.write_time, c.sync_time, c.buffers_written AS"
         " buffers_checkpoint, b.buffers_clean, b.maxwritten_clean, b.buffers_alloc,"
         " (SELECT coalesce(sum(writes), 0) FROM pg_stat_io WHERE object = 'relation' AND"
         " backend_type NOT IN ('checkpointer', 'background writer'))::int8 AS buffers_backend"
         " FROM pg_stat_checkpointer c, pg_stat_bgwriter b";
}

std::string StatWal(int version) {
  if (version < 140000) return "";
  std::string sql = "SELECT wal_records, wal_fpi, wal_bytes::int8 AS wal_bytes, wal_buffers_full";
  if (version < 180000) sql += ", wal_write, wal_sync, wal_write_time, wal_sync_time";
  return sql + " FROM pg_stat_wal";
}

std::string StatIo(int version) {
  if (version < 160000) return "";
  const bool bytes_columns = version >= 180000;  // 18 replaced op_bytes by *_bytes
  std::string read_bytes = bytes_columns ? "sum(read_bytes)" : "sum(reads * op_bytes)";
  std::string write_bytes = bytes_columns ? "sum(write_bytes)" : "sum(writes * op_bytes)";
  return "SELECT backend_type, sum(reads)::int8 AS reads, " + read_bytes +
         "::int8 AS read_bytes, sum(writes)::int8 AS writes, " + write_bytes +
         "::int8 AS write_bytes, sum(extends)::int8 AS extends, sum(hits)::int8 AS hits,"
         " sum(evictions)::int8 AS evictions, sum(reuses)::int8 AS reuses,"
         " sum(fsyncs)::int8 AS fsyncs, sum(read_time)::float8 AS read_time,"
         " sum(write_time)::float8 AS write_time, sum(fsync_time)::float8 AS fsync_time"
         " FROM pg_stat_io GROUP BY backend_type ORDER BY backend_type";
}

std::string Standbys(int /*version*/, bool in_recovery) {
  const std::string lsn = CurrentLsn(in_recovery);
  auto lag = [&](const std::string& column, const std::string& name) {
    return " pg_wal_lsn_diff(" + lsn + ", " + column + ")::int8 AS " + name + ",";
  };
  return "SELECT pid, coalesce(application_name, '') AS application_name,"
         " coalesce(client_addr::text, '') AS client_addr, coalesce(state, '') AS state,"
         " coalesce(sync_state, '') AS sync_state," +
         lag("sent_lsn", "sent_lag_bytes") + lag("write_lsn", "write_lag_bytes") +
         lag("flush_lsn", "flush_lag_bytes") + lag("replay_lsn", "replay_lag_bytes") +
         " extract(epoch FROM write_lag)::float8 AS write_lag_s,"
         " extract(epoch FROM flush_lag)::float8 AS flush_lag_s,"
         " extract(epoch FROM replay_lag)::float8 AS replay_lag_s,"
         " extract(epoch FROM now() - reply_time)::float8 AS reply_age_s,"
         " age(backend_xmin)::int8 AS xmin_age"
         " FROM pg_stat_replication ORDER BY application_name, pid";
}

std::string Slots(int version, bool in_recovery) {
  std::string sql =
      "SELECT slot_name::text AS slot_name, slot_type, coalesce(database::text, '') AS database,"
      " active, pg_wal_lsn_diff(" +
      CurrentLsn(in_recovery) + ", restart_lsn)::int8 AS retained_bytes,";
  if (version >= 130000) sql += " wal_status, safe_wal_size,";
  return sql +
         " age(xmin)::int8 AS xmin_age, age(catalog_xmin)::int8 AS catalog_xmin_age"
         " FROM pg_replication_slots ORDER BY slot_name";
}

std::string WalReceiver(int /*version*/) {
  return "SELECT coalesce(r.status, '') AS receiver_status,"
         " coalesce(r.sender_host, '') AS sender_host, coalesce(r.sender_port, 0) AS sender_port,"
         " coalesce(r.slot_name, '') AS slot_name,"
         " pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::int8 AS"
         " replay_lag_bytes,"
         " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
         " ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END::float8 AS"
         " replay_lag_s, " +
         Micros("pg_last_xact_replay_timestamp()", "last_replay") +
         ", extract(epoch FROM now() - r.last_msg_receipt_time)::float8 AS last_msg_age_s,"
         " pg_is_wal_replay_paused() AS replay_paused"
         " FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver r ON true";
}

std::string Progress(int version) {
  // Relations of the connected database are named from pg_class; those of other databases
  // only when an autovacuum worker's query text names them.
  auto relation = [](const std::string& relid) {
    return " coalesce(CASE WHEN p.datid = (SELECT oid FROM pg_database WHERE datname ="
           " current_database()) THEN (SELECT n.nspname || '.' || c.relname FROM pg_class c"
           " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = " +
           relid +
           ") ELSE substring(a.query FROM"
           " '^autovacuum: (?:VACUUM ANALYZE|VACUUM|ANALYZE) (\\S+)') END, '') AS relation,";
  };
  auto branch = [&](const std::string& command, const std::string& view, const std::string& total,
                    const std::string& done) {
    return "SELECT '" + command +
           "'::text AS command, p.pid, coalesce(p.datname::text, '') AS datname," +
           relation("p.relid") +
           " coalesce(p.phase, '') AS phase,"
           " coalesce(a.backend_type = 'autovacuum worker', false) AS autovacuum, p." +
           total + "::int8 AS blocks_total, p." + done +
           "::int8 AS blocks_done,"
           " extract(epoch FROM now() - coalesce(a.xact_start, a.query_start))::float8 AS running_s"
           " FROM " +
           view + " p LEFT JOIN pg_stat_activity a ON a.pid = p.pid";
  };
  std::string sql =
      branch("vacuum", "pg_stat_progress_vacuum", "heap_blks_total", "heap_blks_scanned");
  if (version >= 130000) {
    sql += " UNION ALL " + branch("analyze", "pg_stat_progress_analyze", "sample_blks_total",
                                  "sample_blks_scanned");
  }
  sql += " UNION ALL " +
         branch("create_index", "pg_stat_progress_create_index", "blocks_total", "blocks_done");
  sql += " UNION ALL " +
         branch("cluster", "pg_stat_progress_cluster", "heap_blks_total", "heap_blks_scanned");
  return sql + " ORDER BY running_s DESC NULLS LAST";
}

std::string AutovacuumWorkers(int /*version*/) {
  return "SELECT count(*) AS autovacuum_workers FROM pg_stat_activity"
         " WHERE backend_type = 'autovacuum worker'";
}

std::string XminHolders(int /*version*/) {
  return "WITH b AS (SELECT CASE WHEN backend_type = 'walsender' THEN 'standby' ELSE 'backend'"
         " END AS kind, greatest(age(backend_xmin), age(backend_xid))::int8 AS age, pid,"
         " coalesce(datname::text, '') AS datname, coalesce(usename::text, '') AS usename,"
         " coalesce(application_name, '') AS application_name,"
         " coalesce(backend_type, '') AS backend_type, coalesce(state, '') AS state,"
         " extract(epoch FROM now() - xact_start)::float8 AS xact_age_s, ''::text AS name,"
         " query FROM pg_stat_activity"
         " WHERE (backend_xmin IS NOT NULL OR backend_xid IS NOT NULL) AND pid <> pg_backend_pid())"
         " (SELECT * FROM b WHERE kind = 'backend' ORDER BY age DESC LIMIT 1) UNION ALL"
         " (SELECT * FROM b WHERE kind = 'standby' ORDER BY age DESC LIMIT 1) UNION ALL"
         " (SELECT 'prepared_transaction', age(transaction)::int8, 0, coalesce(database::text, ''),"
         " coalesce(owner::text, ''), '', '', '', extract(epoch FROM now() - prepared)::float8, "
         "gid,"
         " NULL FROM pg_prepared_xacts ORDER BY 2 DESC LIMIT 1) UNION ALL"
         " (SELECT 'replication_slot', greatest(age(xmin), age(catalog_xmin))::int8,"
         " coalesce(active_pid, 0), coalesce(database::text, ''), '', '', '', '', NULL,"
         " slot_name::text, NULL FROM pg_replication_slots"
         " WHERE xmin IS NOT NULL OR catalog_xmin IS NOT NULL ORDER BY 2 DESC LIMIT 1)";
}

std::string Connections(int /*version*/) {
  return "SELECT CASE WHEN grouping(state) = 0 THEN 'state' WHEN grouping(datname) = 0"
         " THEN 'database' ELSE 'role' END AS dim, coalesce(CASE WHEN grouping(state) = 0"
         " THEN state WHEN grouping(datname) = 0 THEN datname::text ELSE usename::text END, '')"
         " AS name, count(*) AS count FROM pg_stat_activity"
         " WHERE backend_type = 'client backend'"
         " GROUP BY GROUPING SETS ((state), (datname), (usename)) ORDER BY 1, 3 DESC, 2";
}

std::string Settings(int /*version*/) {
  return "SELECT name, coalesce(setting, '') AS setting, coalesce(unit, '') AS unit, source,"
         " pending_restart" +
         std::string(kSettingsFilter) + " ORDER BY name";
}

namespace {

// User relations of the connected database (pg_catalog, information_schema, TOAST left out).
constexpr const char* kUserNamespace =
    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog',"
    " 'information_schema') AND n.nspname !~ '^pg_toast'";

// pg_stat_get_<fn>(<oid>) AS <name>, for each pair.
std::string StatFunctions(const std::string& oid,
                          std::initializer_list<std::pair<const char*, const char*>> fns) {
  std::string out;
  for (const auto& [fn, name] : fns) {
    out += ", pg_stat_get_" + std::string(fn) + "(" + oid + ") AS " + name;
  }
  return out;
}

}  // namespace

std::string TableCounters(int /*version*/) {
  // The statistics functions directly (not the pg_stat_user_tables view, whose per-table
  // aggregate over pg_index costs several times more), evaluated once per table in the
  // CTE. Rows: every table with activity of its own, the top N by pages and by xid age,
  // and the count.
  return "WITH t AS MATERIALIZED (SELECT c.oid::int8 AS relid, c.relpages::int8 AS relpages, " +
         RelAge("age", "relfrozenxid", "xid_age") +
         StatFunctions("c.oid", {{"live_tuples", "n_live_tup"},
                                 {"dead_tuples", "n_dead_tup"},
                                 {"numscans", "seq_scan"},
                                 {"tuples_returned", "seq_tup_read"},
                                 {"tuples_fetched", "tup_fetched"},
                                 {"tuples_inserted", "n_tup_ins"},
                                 {"tuples_updated", "n_tup_upd"},
                                 {"tuples_deleted", "n_tup_del"},
                                 {"tuples_hot_updated", "n_tup_hot_upd"},
                                 {"vacuum_count", "vacuum_count"},
                                 {"autovacuum_count", "autovacuum_count"},
                                 {"analyze_count", "analyze_count"},
                                 {"autoanalyze_count", "autoanalyze_count"}}) +
         " FROM pg_class c" + kUserNamespace +
         " AND c.relkind IN ('r', 'm', 'p'))"
         " (SELECT 'active' AS list, * FROM t WHERE seq_scan + seq_tup_read + tup_fetched +"
         " n_tup_ins + n_tup_upd + n_tup_del + vacuum_count + autovacuum_count + analyze_count +"
         " autoanalyze_count > 0)"
         " UNION ALL (SELECT 'size', * FROM t ORDER BY relpages DESC LIMIT $1)"
         " UNION ALL (SELECT 'xid', * FROM t ORDER BY xid_age DESC NULLS LAST LIMIT $1)"
         " UNION ALL (SELECT 'count', count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
         " NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM t)";
}

std::string IndexCounters(int /*version*/) {
  // Rows: every index with activity, the largest N unused ones (no scan, not enforcing a
  // constraint), the largest N invalid ones, and the count.
  return "WITH i AS MATERIALIZED (SELECT i.indexrelid::int8 AS relid, i.indrelid::int8 AS"
         " table_relid, c.relpages::int8 AS relpages, i.indisunique AS is_unique,"
         " NOT i.indisvalid AS invalid,"
         " (i.indisunique OR i.indisprimary OR i.indisexclusion) AS enforces" +
         StatFunctions("i.indexrelid", {{"numscans", "idx_scan"},
                                        {"tuples_returned", "idx_tup_read"},
                                        {"tuples_fetched", "idx_tup_fetch"}}) +
         " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid" + kUserNamespace +
         ") (SELECT 'active' AS list, * FROM i WHERE idx_scan + idx_tup_read + idx_tup_fetch > 0)"
         " UNION ALL (SELECT 'unused', * FROM i WHERE idx_scan = 0 AND NOT enforces"
         " ORDER BY relpages DESC LIMIT $1)"
         " UNION ALL (SELECT 'invalid', * FROM i WHERE invalid ORDER BY relpages DESC LIMIT $1)"
         " UNION ALL (SELECT 'count', count(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"
         " FROM i)";
}

std::string TableDetails(int /*version*/) {
  return "SELECT c.oid::int8 AS relid, n.nspname || '.' || c.relname AS relation" +
         StatFunctions("c.oid", {{"live_tuples", "n_live_tup"},
                                 {"dead_tuples", "n_dead_tup"},
                                 {"mod_since_analyze", "n_mod_since_analyze"}}) +
         ", " + Micros("pg_stat_get_last_vacuum_time(c.oid)", "last_vacuum") + ", " +
         Micros("pg_stat_get_last_autovacuum_time(c.oid)", "last_autovacuum") + ", " +
         Micros("pg_stat_get_last_analyze_time(c.oid)", "last_analyze") + ", " +
         Micros("pg_stat_get_last_autoanalyze_time(c.oid)", "last_autoanalyze") +
         ", pg_total_relation_size(c.oid) AS total_bytes, pg_relation_size(c.oid) AS "
         "table_bytes, " +
         RelAge("age", "relfrozenxid", "xid_age") + ", " +
         RelAge("mxid_age", "relminmxid", "mxid_age") +
         " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
         " WHERE c.oid = ANY($1::oid[])";
}

std::string DatabaseSize(int /*version*/) {
  return "SELECT sum(relpages)::int8 * current_setting('block_size')::int8 AS size_bytes"
         " FROM pg_class";
}

std::string IndexDetails(int /*version*/) {
  return "SELECT c.oid::int8 AS relid, n.nspname || '.' || c.relname AS relation,"
         " tn.nspname || '.' || t.relname AS \"table\", pg_relation_size(c.oid) AS size_bytes"
         " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
         " JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class t ON t.oid = i.indrelid"
         " JOIN pg_namespace tn ON tn.oid = t.relnamespace WHERE c.oid = ANY($1::oid[])";
}

}  // namespace pgagent::cluster_sql
