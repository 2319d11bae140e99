#include "shipperd/delivery/envelope_encoder.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string_view>

#include "common/ipc_frame.h"
#include "common/json_util.h"
#include "shipperd/delivery/listener_json.h"

namespace pgagent {
namespace {

using pgagent::v1::ActivitySnapshot;
using pgagent::v1::LogBatch;
using pgagent::v1::LogEntry;
using pgagent::v1::Record;
using pgagent::v1::StatementsSnapshot;

// JSON members of a message's object, without the braces.
std::string Members(const google::protobuf::Message& m) {
  std::string json;
  AppendListenerJson(m, &json);
  return json.size() >= 2 ? json.substr(1, json.size() - 2) : std::string();
}

std::string RecordIdText(const Record& r) {
  return r.id().boot_id() + ":" + std::to_string(r.id().seq());
}

// Splits rows [begin, end) in halves until each part's members fit in max_bytes (or
// hold a single row). members(begin, end) builds the members for a range.
void SplitToFit(int begin, int end, size_t max_bytes,
                const std::function<std::string(int, int)>& members,
                std::vector<std::string>* parts) {
  std::string m = members(begin, end);
  if (m.size() <= max_bytes || end - begin <= 1) {
    parts->push_back(std::move(m));
    return;
  }
  const int mid = begin + (end - begin) / 2;
  SplitToFit(begin, mid, max_bytes, members, parts);
  SplitToFit(mid, end, max_bytes, members, parts);
}

std::string ActivityMembers(const ActivitySnapshot& a, int begin, int end) {
  ActivitySnapshot part = a;
  part.clear_sessions();
  uint32_t with_corr = 0;
  for (int i = begin; i < end; ++i) {
    *part.add_sessions() = a.sessions(i);
    if (a.sessions(i).has_correlation_id()) ++with_corr;
  }
  part.set_count(static_cast<uint32_t>(end - begin));
  part.set_with_correlation(with_corr);
  if (begin > 0) part.clear_lock_waits();  // lock waits travel with the first part
  return Members(part);
}

std::string StatementsMembers(const StatementsSnapshot& s, int begin, int end) {
  StatementsSnapshot part = s;
  part.clear_statements();
  for (int i = begin; i < end; ++i) *part.add_statements() = s.statements(i);
  part.set_count(static_cast<uint32_t>(end - begin));
  return Members(part);
}

// Distinct correlation ids in first-appearance order.
template <typename Rows>
std::vector<std::string> DistinctIds(const Rows& rows) {
  std::vector<std::string> ids;
  std::map<std::string, bool> seen;
  for (const auto& row : rows) {
    if (row.has_correlation_id() && !row.correlation_id().empty() &&
        seen.emplace(row.correlation_id(), true).second) {
      ids.push_back(row.correlation_id());
    }
  }
  return ids;
}

std::string ActivityForId(const ActivitySnapshot& a, const std::string& id) {
  ActivitySnapshot part;
  for (const auto& s : a.sessions()) {
    if (s.has_correlation_id() && s.correlation_id() == id) *part.add_sessions() = s;
  }
  for (const auto& w : a.lock_waits()) {
    if ((w.has_blocked_correlation_id() && w.blocked_correlation_id() == id) ||
        (w.has_blocking_correlation_id() && w.blocking_correlation_id() == id)) {
      *part.add_lock_waits() = w;
    }
  }
  part.set_count(static_cast<uint32_t>(part.sessions_size()));
  part.set_with_correlation(part.count());
  std::string out;
  AppendListenerJsonFields(part, {"sessions", "count", "with_correlation", "lock_waits"}, false,
                           &out);
  return out;
}

// The log entries of one or more records, each rendered to JSON once. Parts and
// per-correlation envelopes are cut from these pieces; nothing is copied or rendered twice.
class RenderedLogs {
 public:
  explicit RenderedLogs(const std::vector<const Record*>& records) {
    for (const Record* r : records) {
      const LogBatch& b = r->log();
      if (format_.empty()) format_ = b.format();
      unparsed_ += b.unparsed();
      for (const auto& e : b.entries()) {
        entries_.push_back(&e);
        AppendListenerJson(e, &json_);
        ends_.push_back(json_.size());
      }
    }
  }
  size_t size() const { return entries_.size(); }
  const LogEntry& entry(size_t i) const { return *entries_[i]; }
  size_t JsonSize(size_t i) const { return ends_[i] - (i == 0 ? 0 : ends_[i - 1]); }

  // data members for the entries listed in `rows` (ascending): "entries", "count",
  // "levels", "format" and, when with_unparsed, "unparsed" (as the aggregate carries it).
  std::string Members(const std::vector<size_t>& rows, bool with_unparsed,
                      uint32_t unparsed) const {
    std::string out;
    size_t bytes = 64 + format_.size();
    for (size_t i : rows) bytes += JsonSize(i) + 1;
    out.reserve(bytes);
    out += "\"entries\":[";
    for (size_t k = 0; k < rows.size(); ++k) {
      if (k > 0) out += ',';
      const size_t i = rows[k];
      const size_t begin = i == 0 ? 0 : ends_[i - 1];
      out.append(json_, begin, ends_[i] - begin);
    }
    out += "],\"count\":" + std::to_string(rows.size()) + ",\"levels\":" + LevelsJson(rows) +
           ",\"format\":";
    AppendJsonString(out, format_);
    if (with_unparsed) out += ",\"unparsed\":" + std::to_string(unparsed);
    return out;
  }

  // Consecutive runs of rows whose members fit in max_bytes (a row larger than that
  // alone is a run of its own). A run's "levels" is never longer than the whole batch's,
  // so that length is reserved for every run.
  std::vector<std::vector<size_t>> Runs(size_t max_bytes) const {
    std::vector<size_t> all(size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    const size_t fixed = Members({}, true, UINT32_MAX).size() + LevelsJson(all).size() +
                         std::to_string(size()).size();
    std::vector<std::vector<size_t>> runs(1);
    size_t used = fixed;
    for (size_t i = 0; i < size(); ++i) {
      const size_t add = JsonSize(i) + 1;  // and its comma
      if (!runs.back().empty() && used + add > max_bytes) {
        runs.emplace_back();
        used = fixed;
      }
      runs.back().push_back(i);
      used += add;
    }
    return runs;
  }

  uint32_t unparsed() const { return unparsed_; }

 private:
  // {"LOG":12,"ERROR":1}: entries per level, keys sorted.
  std::string LevelsJson(const std::vector<size_t>& rows) const {
    std::map<std::string_view, uint32_t> levels;
    for (size_t i : rows) ++levels[entries_[i]->level()];
    std::string out = "{";
    for (const auto& [level, n] : levels) {
      if (out.size() > 1) out += ',';
      AppendJsonString(out, level);
      out += ':' + std::to_string(n);
    }
    return out + "}";
  }

  std::vector<const LogEntry*> entries_;
  std::string json_;          // every entry's JSON object, back to back
  std::vector<size_t> ends_;  // where entry i's object ends in json_
  std::string format_;
  uint32_t unparsed_ = 0;
};

std::string LogsForId(const RenderedLogs& logs, const std::string& id) {
  std::vector<size_t> rows;
  double duration_ms = 0;
  bool has_duration = false;
  for (size_t i = 0; i < logs.size(); ++i) {
    const LogEntry& e = logs.entry(i);
    if (!e.has_correlation_id() || e.correlation_id() != id) continue;
    rows.push_back(i);
    if (e.has_duration_ms()) {
      duration_ms += e.duration_ms();
      has_duration = true;
    }
  }
  std::string out = logs.Members(rows, false, 0);
  if (has_duration) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), ",\"duration_ms\":%.3f", duration_ms);
    out += buf;
  }
  return out;
}

}  // namespace

const char* EnvelopeEncoder::SourceFor(pgagent::v1::RecordKind kind) {
  switch (kind) {
    case pgagent::v1::RECORD_KIND_ACTIVITY:
      return kSourceActivity;
    case pgagent::v1::RECORD_KIND_STATEMENTS:
      return kSourceStatements;
    case pgagent::v1::RECORD_KIND_SYSTEM:
      return kSourceSystem;
    case pgagent::v1::RECORD_KIND_LOG:
      return kSourceLog;
    case pgagent::v1::RECORD_KIND_HEALTH:
      return kSourceSystem;
    case pgagent::v1::RECORD_KIND_CLUSTER:
      return kSourceSystem;
    default:
      return "";
  }
}

std::string EnvelopeEncoder::Body(const Record& record, const char* source,
                                  const std::optional<std::string>& correlation_id,
                                  const std::string& data_members) const {
  std::string body;
  body.reserve(data_members.size() + 512);
  body += "{\"project\":";
  AppendJsonString(body, options_.project_id);
  char ts[48];
  std::snprintf(ts, sizeof(ts), ",\"timestamp\":%lld.%03d",
                static_cast<long long>(record.collected_at().seconds()),
                static_cast<int>(record.collected_at().nanos() / 1000000));
  body += ts;
  body += ",\"source\":";
  AppendJsonString(body, source);
  if (correlation_id) {
    body += ",\"correlation_id\":";
    AppendJsonString(body, *correlation_id);
  }
  body += ",\"data\":{";
  body += data_members;
  if (!data_members.empty()) body += ',';
  body += "\"agent\":{\"host\":";
  AppendJsonString(body, record.host());
  body += ",\"version\":";
  AppendJsonString(body, options_.agent_version);
  body += ",\"record_id\":";
  AppendJsonString(body, RecordIdText(record));
  body += ",\"boot_id\":";
  AppendJsonString(body, record.id().boot_id());
  body += ",\"seq\":" + std::to_string(record.id().seq());
  body += ",\"collected_at\":";
  AppendJsonString(body,
                   FormatRfc3339(record.collected_at().seconds(), record.collected_at().nanos()));
  body += ",\"kind\":";
  AppendJsonString(body, RecordKindName(record.kind()));
  body += record.burst() ? ",\"burst\":true}}}" : ",\"burst\":false}}}";
  return body;
}

Result<EncodeResult> EnvelopeEncoder::Encode(const Record& record,
                                             size_t correlation_budget) const {
  if (record.kind() == pgagent::v1::RECORD_KIND_LOG && record.has_log()) {
    return EncodeLogs({&record}, correlation_budget);
  }
  const char* source = SourceFor(record.kind());
  EncodeResult result;
  std::vector<std::string> parts;
  // Room for the envelope around the data members.
  const size_t budget = options_.max_envelope_bytes > 1024 ? options_.max_envelope_bytes - 1024 : 1;
  switch (record.payload_case()) {
    case Record::kActivity: {
      const ActivitySnapshot& a = record.activity();
      if (a.sessions_size() == 0) {
        parts.push_back(Members(a));
      } else {
        SplitToFit(
            0, a.sessions_size(), budget, [&](int b, int e) { return ActivityMembers(a, b, e); },
            &parts);
      }
      break;
    }
    case Record::kStatements: {
      const StatementsSnapshot& s = record.statements();
      if (s.statements_size() == 0) {
        parts.push_back(Members(s));
      } else {
        SplitToFit(
            0, s.statements_size(), budget,
            [&](int b, int e) { return StatementsMembers(s, b, e); }, &parts);
      }
      break;
    }
    case Record::kSystem:
      parts.push_back(Members(record.system()));
      break;
    case Record::kHealth: {
      std::string m = "\"agent_health\":";
      AppendListenerJson(record.health(), &m);
      parts.push_back(std::move(m));
      break;
    }
    case Record::kCluster: {
      std::string m = "\"cluster\":";
      AppendListenerJson(record.cluster(), &m);
      parts.push_back(std::move(m));
      break;
    }
    default:
      return InvalidArgumentError("record " + RecordIdText(record) + " has no payload");
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string members = std::move(parts[i]);
    if (parts.size() > 1) {
      members +=
          ",\"part\":" + std::to_string(i + 1) + ",\"parts\":" + std::to_string(parts.size());
    }
    result.envelopes.push_back({source, std::nullopt, Body(record, source, std::nullopt, members)});
  }
  if (record.has_activity()) {
    const auto ids = DistinctIds(record.activity().sessions());
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i >= correlation_budget) {
        result.unlinked_correlation_ids = ids.size() - i;
        break;
      }
      result.envelopes.push_back(
          {source, ids[i], Body(record, source, ids[i], ActivityForId(record.activity(), ids[i]))});
      ++result.correlation_envelopes;
    }
  }
  return result;
}

Result<EncodeResult> EnvelopeEncoder::EncodeLogs(const std::vector<const Record*>& records,
                                                 size_t correlation_budget) const {
  if (records.empty()) return InvalidArgumentError("no log records to encode");
  for (const Record* r : records) {
    if (!r->has_log())
      return InvalidArgumentError("record " + RecordIdText(*r) + " is not a log batch");
  }
  const Record& first = *records.front();
  const RenderedLogs logs(records);
  std::string record_ids;
  if (records.size() > 1) {
    record_ids = ",\"records\":[";
    for (size_t i = 0; i < records.size(); ++i) {
      if (i > 0) record_ids += ',';
      AppendJsonString(record_ids, RecordIdText(*records[i]));
    }
    record_ids += ']';
  }
  const size_t budget = options_.max_envelope_bytes > 1024 ? options_.max_envelope_bytes - 1024 : 1;
  // The first part carries the batch's unparsed count, the others 0.
  const std::vector<std::vector<size_t>> runs =
      logs.Runs(budget > record_ids.size() ? budget - record_ids.size() : 1);
  EncodeResult result;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::string members = logs.Members(runs[i], true, i == 0 ? logs.unparsed() : 0) + record_ids;
    if (runs.size() > 1) {
      members += ",\"part\":" + std::to_string(i + 1) + ",\"parts\":" + std::to_string(runs.size());
    }
    result.envelopes.push_back(
        {kSourceLog, std::nullopt, Body(first, kSourceLog, std::nullopt, members)});
  }
  std::vector<std::string> ids;
  {
    std::set<std::string_view> seen;
    for (size_t i = 0; i < logs.size(); ++i) {
      const LogEntry& e = logs.entry(i);
      if (e.has_correlation_id() && !e.correlation_id().empty() &&
          seen.insert(e.correlation_id()).second) {
        ids.push_back(e.correlation_id());
      }
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i >= correlation_budget) {
      result.unlinked_correlation_ids = ids.size() - i;
      break;
    }
    result.envelopes.push_back(
        {kSourceLog, ids[i], Body(first, kSourceLog, ids[i], LogsForId(logs, ids[i]))});
    ++result.correlation_envelopes;
  }
  return result;
}

}  // namespace pgagent
