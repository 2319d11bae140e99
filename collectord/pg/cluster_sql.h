// The SQL of the cluster-health collectors, by server version (120000..189999 tested live;
// newer versions get the newest shape). Every column is aliased after the protobuf field it
// fills (collectord/pg/row_fill.h); a column a version lacks is simply not selected, so its
// field stays absent. Each function returns one statement; none takes locks beyond
// AccessShareLock on catalogs, and none reads table data.
// Pure functions; thread-safe.
#pragma once

#include <string>

namespace pgagent::cluster_sql {

// One row: in_recovery, lsn, lsn_text, current_database, settings_hash and the settings the
// other sections need (max_connections, ..., autovacuum_freeze_max_age).
std::string Status(int version);
// pg_stat_database + pg_database, one row per database.
std::string Databases(int version);
// One row, CheckpointCounters columns (pg_stat_bgwriter, or 17+ pg_stat_checkpointer).
std::string Checkpoints(int version);
// One row, WalCounters columns (14+; empty string before).
std::string StatWal(int version);
// IoCounters columns per backend_type (16+; empty string before).
std::string StatIo(int version);
// StandbyStats columns; `in_recovery` picks the current-LSN expression (cascading standby).
std::string Standbys(int version, bool in_recovery);
// SlotStats columns.
std::string Slots(int version, bool in_recovery);
// StandbyStatus columns plus last_replay_us (one row; call only in recovery).
std::string WalReceiver(int version);
// MaintenanceProgress columns of every running vacuum/analyze/create index/cluster.
std::string Progress(int version);
// autovacuum_workers (running now).
std::string AutovacuumWorkers(int version);
// XminHolder columns plus `query` (for the correlation id) and prepared_transactions: the
// oldest holder of each kind.
std::string XminHolders(int version);
// dim (state|database|role), name, count: client backends grouped three ways.
std::string Connections(int version);
// Non-default settings (Setting columns), ordered by name.
std::string Settings(int version);

// Per-database visit (run in the visited database). $1: top N.
// Tables, column `list`: 'active' (every table with a non-zero counter of its own: relid,
// relpages, xid_age, n_live_tup, n_dead_tup, tup_fetched and the TableCounters columns but
// idx_scan/idx_tup_fetch, which the caller sums from the indexes), 'size' and 'xid' (top N
// by pages and by xid age, same columns), 'count' (relid = the number of tables).
std::string TableCounters(int version);
// Indexes, column `list`: 'active' (relid, table_relid, relpages, is_unique, invalid,
// enforces and the IndexCounters columns), 'unused' and 'invalid' (the largest N), 'count'.
std::string IndexCounters(int version);
// TableStats details for the relids in $1 (oid[]): relation, sizes, last_* as *_us.
std::string TableDetails(int version);
// size_bytes: the connected database's size estimated from pg_class.relpages.
std::string DatabaseSize(int version);
// Names and sizes for the index relids in $1 (oid[]).
std::string IndexDetails(int version);

}  // namespace pgagent::cluster_sql
