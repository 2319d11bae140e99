#include "collectord/pg/statements_collector.h"

#include <cstdio>

#include "collectord/pg/pg_values.h"
#include "common/log.h"

namespace pgagent {
namespace {

constexpr std::string_view kDetectSql =
    "SELECT n.nspname, e.extversion,"
    " current_setting('pg_stat_statements.max', true) AS pgss_max,"
    " (SELECT oid FROM pg_roles WHERE rolname = current_user) AS own_userid"
    " FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
    " WHERE e.extname = 'pg_stat_statements'";

std::string QuoteIdent(std::string_view name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string KeysArray(const std::vector<int64_t>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(ids[i]);
  }
  return out + "}";
}

StatementCounters CountersFromRow(const PgResult& res, size_t r) {
  auto u = [&](std::string_view c) { return PgUint(res.Get(r, c)); };
  auto d = [&](std::string_view c) { return PgDouble(res.Get(r, c)); };
  StatementCounters c;
  c.calls = u("calls");
  c.total_exec_time = d("total_exec_time");
  c.min_exec_time = d("min_exec_time");
  c.max_exec_time = d("max_exec_time");
  c.total_plan_time = d("total_plan_time");
  c.rows = u("rows");
  c.shared_blks_hit = u("shared_blks_hit");
  c.shared_blks_read = u("shared_blks_read");
  c.shared_blks_dirtied = u("shared_blks_dirtied");
  c.shared_blks_written = u("shared_blks_written");
  c.local_blks_hit = u("local_blks_hit");
  c.local_blks_read = u("local_blks_read");
  c.local_blks_dirtied = u("local_blks_dirtied");
  c.local_blks_written = u("local_blks_written");
  c.temp_blks_read = u("temp_blks_read");
  c.temp_blks_written = u("temp_blks_written");
  c.blk_read_time = d("blk_read_time");
  c.blk_write_time = d("blk_write_time");
  return c;
}

}  // namespace

StatementsCollector::StatementsCollector(PgConnection& connection,
                                         const CorrelationExtractor* extractor, const Clock& clock,
                                         StatementsOptions options)
    : connection_(connection), extractor_(extractor), clock_(clock), options_(options) {}

std::string StatementsCollector::Fn(bool showtext) const {
  return QuoteIdent(schema_) + ".pg_stat_statements(" + (showtext ? "true" : "false") + ")";
}

Status StatementsCollector::DetectIfDue() {
  bool due = !detected_ || connection_.generation() != detected_generation_ ||
             ++cycles_since_detect_ >= options_.recheck_every_cycles;
  if (!due) return Status::Ok();
  return Detect();
}

Status StatementsCollector::Detect() {
  auto res = connection_.Query(kDetectSql);
  if (!res.ok()) return res.status().WithContext("pg_stat_statements detection");
  detected_ = true;
  detected_generation_ = connection_.generation();
  cycles_since_detect_ = 0;
  bool loaded = !res->rows.empty() && res->Get(0, "pgss_max").has_value();
  if (!loaded) {
    available_ = false;
    if (!warned_absent_) {
      warned_absent_ = true;
      log::Warn("pg_stat_statements.absent",
                {{"installed", !res->rows.empty()},
                 {"hint",
                  "add pg_stat_statements to shared_preload_libraries and run "
                  "CREATE EXTENSION pg_stat_statements in the monitored database"}});
    }
    return Status::Ok();
  }
  std::string version = PgText(res->Get(0, "extversion"));
  if (version != ext_version_) tracker_.Clear();
  if (!available_ && warned_absent_) log::Info("pg_stat_statements.found", {{"version", version}});
  available_ = true;
  warned_absent_ = false;
  ext_version_ = version;
  schema_ = PgText(res->Get(0, "nspname"));
  pgss_max_ = static_cast<uint32_t>(PgUint(res->Get(0, "pgss_max")));
  own_userid_ = static_cast<uint32_t>(PgUint(res->Get(0, "own_userid")));
  columns_ = MapStatementColumns(connection_.server_version_num(), ext_version_);
  return Status::Ok();
}

Status StatementsCollector::ReadInfo(pgagent::v1::StatementsSnapshot& snapshot) {
  if (!columns_.has_info_view) return Status::Ok();
  auto res = connection_.Query("SELECT dealloc, stats_reset::text AS stats_reset FROM " +
                               QuoteIdent(schema_) + ".pg_stat_statements_info");
  if (!res.ok()) return res.status().WithContext("pg_stat_statements_info");
  if (res->rows.empty()) return Status::Ok();
  snapshot.set_dealloc(PgInt(res->Get(0, "dealloc")));
  std::string reset = PgText(res->Get(0, "stats_reset"));
  if (!last_stats_reset_.empty() && reset != last_stats_reset_) tracker_.MarkReset();
  last_stats_reset_ = reset;
  return Status::Ok();
}

std::string StatementsCollector::DiffSql() const {
  const StatementColumns& c = columns_;
  std::string join = "p.userid = s.userid AND p.dbid = s.dbid AND p.queryid = s.queryid";
  if (c.has_toplevel) join += " AND p.toplevel = s.toplevel";
  // Without pg_stat_statements_info (before 1.9) a reset is not announced: an entry reset
  // and executed as often again would look unchanged by its calls, so its time is compared
  // too (sent with 17 significant digits, it round-trips exactly).
  const std::string time_array = c.has_info_view ? "" : ", $6::float8[]";
  const std::string time_column = c.has_info_view ? "" : ", total_time";
  const std::string time_changed =
      c.has_info_view ? "" : " OR p.total_time IS DISTINCT FROM " + c.total_exec_time;
  return "SELECT s.userid, s.dbid, s.queryid, " + c.toplevel + " AS toplevel, s.calls, " +
         c.total_exec_time + " AS total_exec_time, " + c.min_exec_time + " AS min_exec_time, " +
         c.max_exec_time + " AS max_exec_time, " + c.total_plan_time +
         " AS total_plan_time, s.rows, s.shared_blks_hit, s.shared_blks_read,"
         " s.shared_blks_dirtied, s.shared_blks_written, s.local_blks_hit, s.local_blks_read,"
         " s.local_blks_dirtied, s.local_blks_written, s.temp_blks_read, s.temp_blks_written, " +
         c.blk_read_time + " AS blk_read_time, " + c.blk_write_time +
         " AS blk_write_time, r.rolname, d.datname, p.userid AS gone_userid,"
         " p.dbid AS gone_dbid, p.queryid AS gone_queryid, p.toplevel AS gone_toplevel"
         " FROM " +
         Fn(false) +
         " s FULL JOIN"
         " unnest($1::oid[], $2::oid[], $3::bigint[], $4::bool[], $5::bigint[]" +
         time_array + ") AS p(userid, dbid, queryid, toplevel, calls" + time_column + ") ON " +
         join +
         " LEFT JOIN pg_roles r ON r.oid = s.userid LEFT JOIN pg_database d ON d.oid = s.dbid"
         " WHERE p.calls IS DISTINCT FROM s.calls" +
         time_changed;
}

std::vector<PgValue> StatementsCollector::DiffParams() const {
  std::string userids = "{", dbids = "{", queryids = "{", toplevels = "{", calls = "{";
  std::string times = "{";
  const bool with_times = !columns_.has_info_view;
  bool first = true;
  char buf[32];
  for (const auto& [key, counters] : tracker_.Stored()) {
    const char* sep = first ? "" : ",";
    first = false;
    userids += sep + std::to_string(key.userid);
    dbids += sep + std::to_string(key.dbid);
    queryids += sep + std::to_string(key.queryid);
    toplevels += std::string(sep) + (key.toplevel ? "t" : "f");
    calls += sep + std::to_string(counters.calls);
    if (with_times) {
      std::snprintf(buf, sizeof(buf), "%.17g", counters.total_exec_time);
      times += sep + std::string(buf);
    }
  }
  std::vector<PgValue> params = {userids + "}", dbids + "}", queryids + "}", toplevels + "}",
                                 calls + "}"};
  if (with_times) params.push_back(times + "}");
  return params;
}

Status StatementsCollector::ReadChanged(std::vector<FullRow>& rows,
                                        std::vector<StatementKey>& gone) {
  auto res = connection_.Query(DiffSql(), DiffParams());
  if (!res.ok()) return res.status().WithContext("pg_stat_statements");
  rows.reserve(res->rows.size());
  for (size_t r = 0; r < res->rows.size(); ++r) {
    auto get = [&](std::string_view c) -> const PgValue& { return res->Get(r, c); };
    if (!get("queryid")) {  // in the previous sample, not in pg_stat_statements any more
      gone.push_back({static_cast<uint32_t>(PgUint(get("gone_userid"))),
                      static_cast<uint32_t>(PgUint(get("gone_dbid"))), PgInt(get("gone_queryid")),
                      PgBool(get("gone_toplevel"), true)});
      continue;
    }
    FullRow row;
    row.key = {static_cast<uint32_t>(PgUint(get("userid"))),
               static_cast<uint32_t>(PgUint(get("dbid"))), PgInt(get("queryid")),
               PgBool(get("toplevel"), true)};
    row.counters = CountersFromRow(*res, r);
    row.username = PgText(get("rolname"));
    row.datname = PgText(get("datname"));
    rows.push_back(std::move(row));
  }
  full_rows_read_total_ += rows.size();
  return Status::Ok();
}

Status StatementsCollector::FetchTexts(const std::vector<const FullRow*>& selected,
                                       const std::vector<FullRow>& changed,
                                       pgagent::v1::StatementsSnapshot& snapshot) {
  if (!fetch_texts_) return Status::Ok();  // shedding work: texts wait for a calmer cycle
  std::vector<int64_t> wanted;
  std::unordered_set<int64_t> chosen;
  auto want = [&](const FullRow& row) {
    if (wanted.size() >= options_.max_texts_per_cycle) return;
    if (texts_.count(row.key.queryid) || !chosen.insert(row.key.queryid).second) return;
    wanted.push_back(row.key.queryid);
  };
  for (const FullRow* row : selected) want(*row);
  for (const FullRow& row : changed) {
    if (row.key.userid == own_userid_) want(row);
  }
  if (wanted.empty()) return Status::Ok();
  auto res = connection_.Query("SELECT DISTINCT ON (s.queryid) s.queryid, s.query FROM " +
                                   Fn(true) + " s WHERE s.queryid = ANY($1::bigint[])",
                               {KeysArray(wanted)});
  if (!res.ok()) return res.status().WithContext("pg_stat_statements texts");
  QueryTextOptions text_options{options_.max_query_length, options_.send_raw_query_text};
  for (size_t r = 0; r < res->rows.size(); ++r) {
    std::string raw = PgText(res->Get(r, "query"));
    ProcessedQuery q = ProcessQueryText(extractor_, "", raw, false, text_options);
    if (q.redaction_failed) ++texts_fail_closed_;
    CachedText cached{std::move(q.text), q.truncated, q.correlation_id, IsPgagentQuery(raw)};
    texts_[PgInt(res->Get(r, "queryid"))] = std::move(cached);
  }
  texts_fetched_total_ += res->rows.size();
  snapshot.set_texts_fetched(static_cast<uint32_t>(res->rows.size()));
  return Status::Ok();
}

StatementsCollector::Deltas StatementsCollector::ApplySample(
    const std::vector<FullRow>& rows, const std::vector<StatementKey>& gone) {
  Deltas deltas;
  for (const FullRow& row : rows) {
    auto delta = tracker_.Update(row.key, row.counters);
    if (!delta) continue;  // the baseline
    deltas.values.push_back(*delta);
    deltas.rows.push_back(&row);
  }
  for (const StatementKey& key : gone) tracker_.Forget(key);
  tracker_.FinishSample();
  if (!gone.empty()) ForgetTextsOfGoneEntries();
  return deltas;
}

bool StatementsCollector::IsOwn(int64_t queryid) const {
  auto it = texts_.find(queryid);
  return it != texts_.end() && it->second.own;
}

std::vector<size_t> StatementsCollector::Choose(const Deltas& deltas) const {
  if (options_.include_own_statements) {
    return SelectStatements(deltas.values, options_.top_n, options_.calls_threshold);
  }
  std::vector<StatementCounters> others;
  std::vector<size_t> index;  // where each element of others is in deltas.values
  for (size_t i = 0; i < deltas.values.size(); ++i) {
    if (IsOwn(deltas.rows[i]->key.queryid)) continue;
    others.push_back(deltas.values[i]);
    index.push_back(i);
  }
  std::vector<size_t> chosen = SelectStatements(others, options_.top_n, options_.calls_threshold);
  for (size_t& i : chosen) i = index[i];
  return chosen;
}

void StatementsCollector::Summarize(const Deltas& deltas,
                                    pgagent::v1::StatementsSnapshot& snapshot) const {
  double all_time = 0;
  double own_time = 0;
  uint32_t changed_entries = 0;
  uint32_t own_entries = 0;
  uint64_t own_calls = 0;
  for (size_t i = 0; i < deltas.values.size(); ++i) {
    const StatementCounters& d = deltas.values[i];
    if (d.calls == 0) continue;
    ++changed_entries;
    all_time += d.total_exec_time;
    if (!IsOwn(deltas.rows[i]->key.queryid)) continue;
    own_time += d.total_exec_time;
    ++own_entries;
    own_calls += d.calls;
  }
  snapshot.set_changed_entries(changed_entries);
  snapshot.set_own_time_share(all_time > 0 ? own_time / all_time : 0.0);
  snapshot.set_own_entries(own_entries);
  snapshot.set_own_calls(own_calls);
  snapshot.set_own_exec_time_ms(own_time);
}

void StatementsCollector::ForgetTextsOfGoneEntries() {
  std::unordered_set<int64_t> present;
  for (const auto& entry : tracker_.Entries()) present.insert(entry.first.queryid);
  std::erase_if(texts_, [&](const auto& e) { return present.count(e.first) == 0; });
}

void StatementsCollector::FillDelta(const FullRow& row, const StatementCounters& d,
                                    pgagent::v1::StatementDelta& out) {
  out.set_userid(row.key.userid);
  out.set_dbid(row.key.dbid);
  out.set_queryid(row.key.queryid);
  out.set_toplevel(row.key.toplevel);
  out.set_username(row.username);
  out.set_datname(row.datname);
  out.set_calls(d.calls);
  out.set_total_exec_time_ms(d.total_exec_time);
  out.set_min_exec_time_ms(d.min_exec_time);
  out.set_max_exec_time_ms(d.max_exec_time);
  out.set_mean_exec_time_ms(d.calls > 0 ? d.total_exec_time / static_cast<double>(d.calls) : 0);
  out.set_rows(d.rows);
  out.set_shared_blks_hit(d.shared_blks_hit);
  out.set_shared_blks_read(d.shared_blks_read);
  out.set_shared_blks_dirtied(d.shared_blks_dirtied);
  out.set_shared_blks_written(d.shared_blks_written);
  out.set_local_blks_hit(d.local_blks_hit);
  out.set_local_blks_read(d.local_blks_read);
  out.set_local_blks_dirtied(d.local_blks_dirtied);
  out.set_local_blks_written(d.local_blks_written);
  out.set_temp_blks_read(d.temp_blks_read);
  out.set_temp_blks_written(d.temp_blks_written);
  out.set_blk_read_time_ms(d.blk_read_time);
  out.set_blk_write_time_ms(d.blk_write_time);
  out.set_total_plan_time_ms(d.total_plan_time);
  auto it = texts_.find(row.key.queryid);
  if (it == texts_.end()) return;
  out.set_query(it->second.text);
  out.set_text_known(true);
  if (it->second.correlation_id) out.set_correlation_id(*it->second.correlation_id);
}

}  // namespace pgagent

namespace pgagent {

Status StatementsCollector::Collect(pgagent::v1::Record& record) {
  auto start = clock_.Monotonic();
  PGAGENT_RETURN_IF_ERROR(connection_.EnsureConnected());
  PGAGENT_RETURN_IF_ERROR(DetectIfDue());
  if (!available_) {
    return FailedPreconditionError(
        "pg_stat_statements is not available in the monitored database: add it to "
        "shared_preload_libraries and run CREATE EXTENSION pg_stat_statements");
  }
  pgagent::v1::StatementsSnapshot snapshot;
  snapshot.set_pgss_version(ext_version_);
  snapshot.set_pgss_max(pgss_max_);
  std::vector<FullRow> rows;
  std::vector<StatementKey> gone;
  Status st = ReadInfo(snapshot);
  if (st.ok()) st = ReadChanged(rows, gone);
  if (!st.ok()) {
    if (st.code() == StatusCode::kFailedPrecondition) detected_ = false;  // dropped?
    return st;
  }
  bool baseline = !tracker_.has_baseline();
  Deltas deltas = ApplySample(rows, gone);
  std::vector<size_t> chosen = Choose(deltas);
  std::vector<const FullRow*> selected;
  for (size_t i : chosen) selected.push_back(deltas.rows[i]);
  Status texts = FetchTexts(selected, rows, snapshot);
  if (!texts.ok() && texts.code() == StatusCode::kUnavailable) return texts;
  // Other text errors (a timeout) leave text_known = false for the missing texts.
  // Texts fetched just now may have shown pgagent's own statements among the chosen.
  if (!options_.include_own_statements && snapshot.texts_fetched() > 0) chosen = Choose(deltas);
  for (size_t i : chosen) {
    FillDelta(*deltas.rows[i], deltas.values[i], *snapshot.add_statements());
  }
  Summarize(deltas, snapshot);
  auto now = clock_.Monotonic();
  if (last_sample_) {
    snapshot.set_interval_s(std::chrono::duration<double>(now - *last_sample_).count());
  }
  last_sample_ = now;
  snapshot.set_count(static_cast<uint32_t>(snapshot.statements_size()));
  snapshot.set_total_entries(static_cast<uint32_t>(tracker_.size()));
  snapshot.set_baseline(baseline);
  snapshot.set_query_time_ms(std::chrono::duration<double, std::milli>(now - start).count());
  *record.mutable_statements() = std::move(snapshot);
  return Status::Ok();
}

}  // namespace pgagent
