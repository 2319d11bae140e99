#include "collectord/pg/schema_visitor.h"

#include <fnmatch.h>

#include <algorithm>
#include <set>

#include "collectord/pg/cluster_sql.h"
#include "collectord/pg/pg_values.h"

namespace pgagent {
namespace {

using pgagent::v1::DatabaseObjects;
using pgagent::v1::IndexStats;
using pgagent::v1::TableStats;

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

bool AnyMatch(const std::vector<std::string>& patterns, const std::string& name) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
    return fnmatch(p.c_str(), name.c_str(), 0) == 0;
  });
}

std::string OidArray(const std::set<int64_t>& oids) {
  std::string out = "{";
  for (int64_t oid : oids) {
    if (out.size() > 1) out += ',';
    out += std::to_string(oid);
  }
  return out + "}";
}

// Indexes (into `scores`) of the `n` largest positive scores, largest first.
std::vector<size_t> TopN(const std::vector<int64_t>& scores, size_t n) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i] > 0) idx.push_back(i);
  }
  size_t keep = std::min(n, idx.size());
  std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), idx.end(),
                    [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  idx.resize(keep);
  return idx;
}

// Row index of every relid in a details result.
std::map<int64_t, size_t> RowsByRelid(const PgResult& res) {
  std::map<int64_t, size_t> out;
  for (size_t r = 0; r < res.rows.size(); ++r) out[PgInt(res.Get(r, "relid"))] = r;
  return out;
}

}  // namespace

struct SchemaVisitor::TableRow {
  int64_t relid = 0;
  pgagent::v1::TableCounters delta;
  bool has_delta = false;
};

namespace {

void FillTable(const PgResult& details, size_t r, const SchemaVisitor::TableRow& row,
               TableStats& out) {
  FillFromRow(details, r, out);
  auto ts = [&](const char* column, google::protobuf::Timestamp* (TableStats::*mut)()) {
    if (auto t = TimestampFromMicros(details.Get(r, column))) *(out.*mut)() = *t;
  };
  ts("last_vacuum_us", &TableStats::mutable_last_vacuum);
  ts("last_autovacuum_us", &TableStats::mutable_last_autovacuum);
  ts("last_analyze_us", &TableStats::mutable_last_analyze);
  ts("last_autoanalyze_us", &TableStats::mutable_last_autoanalyze);
  if (row.has_delta) *out.mutable_delta() = row.delta;
}

}  // namespace

DatabaseFilter::DatabaseFilter(const std::string& spec) {
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    std::string item = Trim(spec.substr(start, comma - start));
    if (!item.empty() && item[0] == '!') {
      std::string name = Trim(item.substr(1));
      if (!name.empty()) exclude_.push_back(name);
    } else if (!item.empty()) {
      include_.push_back(item);
    }
    start = comma + 1;
  }
}

bool DatabaseFilter::Matches(const std::string& datname) const {
  if (AnyMatch(exclude_, datname)) return false;
  return include_.empty() || AnyMatch(include_, datname);
}

SchemaVisitor::SchemaVisitor(PgConnection& main, const Clock& clock, SchemaVisitOptions options,
                             DatabaseSessionFactory open_database)
    : main_(main),
      clock_(clock),
      options_(std::move(options)),
      filter_(options_.databases),
      open_database_(std::move(open_database)) {}

std::vector<std::string> SchemaVisitor::DueDatabases(
    const std::vector<std::string>& connectable) const {
  const auto now = clock_.Monotonic();
  std::vector<std::string> wanted;
  for (const auto& name : connectable) {
    if (filter_.Matches(name)) wanted.push_back(name);
  }
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> due;
  for (const auto& name : wanted) {
    auto it = states_.find(name);
    if (it == states_.end() || !it->second.visited) {
      due.push_back({std::chrono::steady_clock::time_point::min(), name});
    } else if (now - it->second.last_visit >= options_.schema_interval) {
      due.push_back({it->second.last_visit, name});
    }
  }
  std::sort(due.begin(), due.end());
  const double per_cycle =
      static_cast<double>(wanted.size()) * static_cast<double>(options_.interval.count()) /
      static_cast<double>(std::max<int64_t>(1, options_.schema_interval.count()));
  const size_t quota = std::max<size_t>(1, static_cast<size_t>(std::ceil(per_cycle)));
  std::vector<std::string> out;
  for (size_t i = 0; i < due.size() && i < quota; ++i) out.push_back(due[i].second);
  return out;
}

Status SchemaVisitor::VisitDue(const std::vector<std::string>& connectable,
                               const std::string& main_db, pgagent::v1::ClusterSnapshot& out) {
  std::erase_if(states_, [&](const auto& e) {
    return std::find(connectable.begin(), connectable.end(), e.first) == connectable.end();
  });
  for (const std::string& datname : DueDatabases(connectable)) {
    const auto start = clock_.Monotonic();
    DatabaseObjects objects;
    objects.set_datname(datname);
    Status st = VisitOne(datname, main_db, objects);
    DatabaseState& state = states_[datname];
    const auto end = clock_.Monotonic();
    objects.set_visit_ms(std::chrono::duration<double, std::milli>(end - start).count());
    if (st.ok()) {
      if (state.visited) {
        objects.set_interval_s(std::chrono::duration<double>(end - state.last_visit).count());
      }
      *out.add_objects() = std::move(objects);
      ++visits_total_;
    } else {
      ++visit_failures_total_;
      auto* w = out.add_warnings();
      w->set_section("objects");
      w->set_error("database " + datname + ": " + st.ToString());
    }
    state.last_visit = end;  // a failed visit is retried next round, not every cycle
    state.visited = true;
    if (!st.ok() && st.code() == StatusCode::kUnavailable && datname == main_db) return st;
  }
  // Back on the configured database, so that the connection state in the health record is
  // the real one (a failure here starts the usual reconnect backoff).
  if (main_.state() == PgConnection::State::kDisconnected) main_.EnsureConnected().IgnoreError();
  return Status::Ok();
}

Status SchemaVisitor::VisitOne(const std::string& datname, const std::string& main_db,
                               DatabaseObjects& objects) {
  DatabaseState& state = states_[datname];
  if (datname == main_db) {
    return Visit([this](std::string_view sql,
                        const std::vector<PgValue>& params) { return main_.Query(sql, params); },
                 state, objects);
  }
  main_.Disconnect();  // one pgagent connection at a time
  std::unique_ptr<PgSession> session = open_database_(datname);
  PGAGENT_RETURN_IF_ERROR(session->Connect());
  const uint64_t before = session->BytesReceived();
  Status st = Visit([&](std::string_view sql,
                        const std::vector<PgValue>& params) { return session->Query(sql, params); },
                    state, objects);
  visit_bytes_total_ += session->BytesReceived() - before;
  session->Close();
  return st;
}

Status SchemaVisitor::Visit(const QueryFn& query, DatabaseState& state, DatabaseObjects& objects) {
  IndexSums sums;
  PGAGENT_RETURN_IF_ERROR(ReadIndexes(query, state, objects, sums));
  PGAGENT_RETURN_IF_ERROR(ReadTables(query, state, objects, sums));
  auto size = query(cluster_sql::DatabaseSize(main_.server_version_num()), {});
  if (!size.ok()) return size.status().WithContext("database size");
  if (!size->rows.empty()) objects.set_size_bytes(PgUint(size->Get(0, "size_bytes")));
  return Status::Ok();
}

// A table's idx_scan / idx_tup_fetch as pg_stat_user_tables defines them: the sums over its
// indexes (only indexes with activity are read; the others add 0), plus the table's own
// tuples fetched for idx_tup_fetch.
void SchemaVisitor::AddIndexColumns(PgResult& res, const IndexSums& sums) {
  res.columns.push_back("idx_scan");
  res.columns.push_back("idx_tup_fetch");
  for (size_t r = 0; r < res.rows.size(); ++r) {
    auto it = sums.find(PgInt(res.Get(r, "relid")));
    const uint64_t scans = it == sums.end() ? 0 : it->second.first;
    const uint64_t fetched =
        (it == sums.end() ? 0 : it->second.second) + PgUint(res.Get(r, "tup_fetched"));
    res.rows[r].push_back(std::to_string(scans));
    res.rows[r].push_back(std::to_string(fetched));
  }
}

// The rows of one TableCounters result, sorted into its lists.
struct SchemaVisitor::TableLists {
  std::vector<TableRow> active;
  std::vector<int64_t> activity;         // per active row: delta scans + rows written
  std::vector<int64_t> by_size, by_age;  // relids, in the server's order
};

Status SchemaVisitor::ReadTables(const QueryFn& query, DatabaseState& state,
                                 DatabaseObjects& objects, const IndexSums& sums) {
  auto res = query(cluster_sql::TableCounters(main_.server_version_num()),
                   {std::to_string(options_.top_n)});
  if (!res.ok()) return res.status().WithContext("tables");
  AddIndexColumns(*res, sums);
  TableLists lists;
  for (size_t r = 0; r < res->rows.size(); ++r) {
    const std::string list = PgText(res->Get(r, "list"));
    const int64_t relid = PgInt(res->Get(r, "relid"));
    if (list == "count") objects.set_tables(static_cast<uint32_t>(relid));
    if (list == "size") lists.by_size.push_back(relid);
    if (list == "xid" && res->Get(r, "xid_age")) lists.by_age.push_back(relid);
    if (list != "active") continue;
    TableRow row;
    row.relid = relid;
    row.has_delta = state.tables.Update(std::to_string(relid), *res, r, row.delta);
    const auto& d = row.delta;
    lists.activity.push_back(row.has_delta ? static_cast<int64_t>(d.seq_scan() + d.idx_scan() +
                                                                  d.n_tup_ins() + d.n_tup_upd() +
                                                                  d.n_tup_del())
                                           : 0);
    lists.active.push_back(std::move(row));
  }
  state.tables.Sweep();
  return AddTableDetails(query, lists, objects);
}

Status SchemaVisitor::AddTableDetails(const QueryFn& query, const TableLists& lists,
                                      DatabaseObjects& objects) {
  std::map<int64_t, const TableRow*> known;
  for (const TableRow& row : lists.active) known[row.relid] = &row;
  const auto top = TopN(lists.activity, options_.top_n);
  std::set<int64_t> wanted(lists.by_size.begin(), lists.by_size.end());
  wanted.insert(lists.by_age.begin(), lists.by_age.end());
  for (size_t i : top) wanted.insert(lists.active[i].relid);
  if (wanted.empty()) return Status::Ok();
  auto details = query(cluster_sql::TableDetails(main_.server_version_num()), {OidArray(wanted)});
  if (!details.ok()) return details.status().WithContext("table details");
  const auto where = RowsByRelid(*details);
  const TableRow none;
  auto add = [&](int64_t relid, auto* repeated) {
    auto it = where.find(relid);
    if (it == where.end()) return;  // dropped since the first query
    auto k = known.find(relid);
    FillTable(*details, it->second, k == known.end() ? none : *k->second, *repeated->Add());
  };
  for (size_t i : top) add(lists.active[i].relid, objects.mutable_top_by_activity());
  for (int64_t relid : lists.by_size) add(relid, objects.mutable_top_by_size());
  std::sort(
      objects.mutable_top_by_size()->begin(), objects.mutable_top_by_size()->end(),
      [](const TableStats& a, const TableStats& b) { return a.total_bytes() > b.total_bytes(); });
  for (int64_t relid : lists.by_age) {
    auto it = where.find(relid);
    if (it != where.end()) FillFromRow(*details, it->second, *objects.add_top_by_xid_age());
  }
  return Status::Ok();
}

Status SchemaVisitor::ReadIndexes(const QueryFn& query, DatabaseState& state,
                                  DatabaseObjects& objects, IndexSums& sums) {
  const int version = main_.server_version_num();
  auto res = query(cluster_sql::IndexCounters(version), {std::to_string(options_.top_n)});
  if (!res.ok()) return res.status().WithContext("indexes");
  std::map<int64_t, IndexStats> stats;  // every index read, by relid
  std::vector<int64_t> active, activity, unused, invalid;
  for (size_t r = 0; r < res->rows.size(); ++r) {
    const std::string list = PgText(res->Get(r, "list"));
    const int64_t relid = PgInt(res->Get(r, "relid"));
    if (list == "count") {
      objects.set_indexes(static_cast<uint32_t>(relid));
      continue;
    }
    IndexStats& s = stats[relid];
    s.set_idx_scan_total(PgUint(res->Get(r, "idx_scan")));
    s.set_is_unique(PgBool(res->Get(r, "is_unique")));
    s.set_invalid(PgBool(res->Get(r, "invalid")));
    s.set_unused(s.idx_scan_total() == 0 && !PgBool(res->Get(r, "enforces")));
    if (list == "unused") unused.push_back(relid);
    if (list == "invalid") invalid.push_back(relid);
    if (list != "active") continue;
    auto& sum = sums[PgInt(res->Get(r, "table_relid"))];
    sum.first += s.idx_scan_total();
    sum.second += PgUint(res->Get(r, "idx_tup_fetch"));
    pgagent::v1::IndexCounters delta;
    const bool has_delta = state.indexes.Update(std::to_string(relid), *res, r, delta);
    if (has_delta) *s.mutable_delta() = delta;
    active.push_back(relid);
    activity.push_back(has_delta ? static_cast<int64_t>(delta.idx_scan()) : 0);
  }
  state.indexes.Sweep();
  std::vector<int64_t> top;
  for (size_t i : TopN(activity, options_.top_n)) top.push_back(active[i]);
  std::set<int64_t> wanted(top.begin(), top.end());
  wanted.insert(unused.begin(), unused.end());
  wanted.insert(invalid.begin(), invalid.end());
  if (wanted.empty()) return Status::Ok();
  auto details = query(cluster_sql::IndexDetails(version), {OidArray(wanted)});
  if (!details.ok()) return details.status().WithContext("index details");
  const auto where = RowsByRelid(*details);
  auto add = [&](const std::vector<int64_t>& list, auto* repeated) {
    for (int64_t relid : list) {
      auto it = where.find(relid);
      if (it == where.end()) continue;
      IndexStats* s = repeated->Add();
      *s = stats[relid];
      FillFromRow(*details, it->second, *s);
    }
  };
  add(top, objects.mutable_top_indexes());
  add(unused, objects.mutable_unused_indexes());
  add(invalid, objects.mutable_invalid_indexes());
  return Status::Ok();
}

}  // namespace pgagent
