// SchemaVisitor: per-database tables and indexes (pg_stat_user_tables/_indexes), which only
// the connected database shows. pgagent keeps its promise of ONE connection by visiting the
// databases in turn: for a visit of another database the main connection is closed, a
// session to that database is opened (same options: timeouts, application_name,
// /* pgagent */ tag), queried and closed; the main connection reconnects at its next query.
// The main connection's own database is visited over the main connection.
//
// Cadence: each database at most every `schema_interval`; per cycle at most
// ceil(databases * interval / schema_interval) visits (at least one), so a round over all
// databases spreads over the cycles of one schema_interval.
// A visit costs four queries: counters of every index and every table with activity
// (numbers only; the largest, oldest, unused and invalid ones picked on the server), then
// names and sizes of the few selected (top N by delta activity, by size, by xid age; unused
// and invalid indexes). Deltas are against the previous visit of the same database; a table
// read without activity of its own starts a new baseline.
// Thread-safety: not thread-safe; called from the collector thread. The connection, clock
// and factory must outlive the visitor.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collectord/pg/pg_connection.h"
#include "collectord/pg/row_fill.h"
#include "common/clock.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

// The `databases` option: comma-separated names or globs (*, ?); a leading '!' excludes.
// Empty, or only exclusions: every database not excluded. Exclusions win.
class DatabaseFilter {
 public:
  explicit DatabaseFilter(const std::string& spec);
  bool Matches(const std::string& datname) const;

 private:
  std::vector<std::string> include_;
  std::vector<std::string> exclude_;
};

struct SchemaVisitOptions {
  std::chrono::seconds interval{60};
  std::chrono::seconds schema_interval{600};
  std::string databases;  // DatabaseFilter spec
  size_t top_n = 10;
};

// Opens (unconnected) a session to `dbname` with the main connection's options.
using DatabaseSessionFactory = std::function<std::unique_ptr<PgSession>(const std::string& dbname)>;

class SchemaVisitor {
 public:
  SchemaVisitor(PgConnection& main, const Clock& clock, SchemaVisitOptions options,
                DatabaseSessionFactory open_database);
  SchemaVisitor(const SchemaVisitor&) = delete;
  SchemaVisitor& operator=(const SchemaVisitor&) = delete;

  // Visits the due databases among `connectable` (those passing the filter), adding one
  // DatabaseObjects per visit to `out` and a warning per failed visit. `main_db` is the
  // main connection's database. Returns kUnavailable only when the main connection was
  // lost during a visit of its own database. After visits of other databases the main
  // connection is reopened before returning.
  Status VisitDue(const std::vector<std::string>& connectable, const std::string& main_db,
                  pgagent::v1::ClusterSnapshot& out);

  uint64_t visits_total() const { return visits_total_; }
  uint64_t visit_failures_total() const { return visit_failures_total_; }
  // Result bytes read by the visit sessions (the main session counts its own).
  uint64_t visit_bytes_total() const { return visit_bytes_total_; }

  struct TableRow;  // a table with activity: its relid and delta

 private:
  struct TableLists;
  using QueryFn = std::function<Result<PgResult>(std::string_view, const std::vector<PgValue>&)>;
  struct DatabaseState {
    CounterDeltas tables;
    CounterDeltas indexes;
    std::chrono::steady_clock::time_point last_visit{};
    bool visited = false;
  };
  std::vector<std::string> DueDatabases(const std::vector<std::string>& connectable) const;
  Status VisitOne(const std::string& datname, const std::string& main_db,
                  pgagent::v1::DatabaseObjects& objects);
  // table relid -> (sum of its indexes' idx_scan, of their idx_tup_fetch), cumulative.
  using IndexSums = std::map<int64_t, std::pair<uint64_t, uint64_t>>;
  Status Visit(const QueryFn& query, DatabaseState& state, pgagent::v1::DatabaseObjects& objects);
  Status ReadTables(const QueryFn& query, DatabaseState& state,
                    pgagent::v1::DatabaseObjects& objects, const IndexSums& sums);
  Status AddTableDetails(const QueryFn& query, const TableLists& lists,
                         pgagent::v1::DatabaseObjects& objects);
  Status ReadIndexes(const QueryFn& query, DatabaseState& state,
                     pgagent::v1::DatabaseObjects& objects, IndexSums& sums);
  static void AddIndexColumns(PgResult& res, const IndexSums& sums);

  PgConnection& main_;
  const Clock& clock_;
  SchemaVisitOptions options_;
  DatabaseFilter filter_;
  DatabaseSessionFactory open_database_;
  std::map<std::string, DatabaseState> states_;
  uint64_t visits_total_ = 0;
  uint64_t visit_failures_total_ = 0;
  uint64_t visit_bytes_total_ = 0;
};

}  // namespace pgagent
