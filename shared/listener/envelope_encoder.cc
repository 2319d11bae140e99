#include "shared/listener/envelope_encoder.h"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <string_view>

#include "common/ipc_frame.h"
#include "common/json_util.h"
#include "shared/listener/listener_json.h"

namespace pgagent {
namespace {

using pgagent::v1::ActivitySnapshot;
using pgagent::v1::CorrelationRow;
using pgagent::v1::LogBatch;
using pgagent::v1::LogEntry;
using pgagent::v1::Record;
using pgagent::v1::StatementsSnapshot;

// Room kept in every body for the envelope around `data` and data.agent.
constexpr size_t kEnvelopeOverhead = 1024;
// What each record id adds to data.agent.records ("<uuid>:<seq>", quotes, comma).
constexpr size_t kRecordIdBytes = 64;

// JSON members of a message's object, without the braces.
std::string Members(const google::protobuf::Message& m) {
  std::string json;
  AppendListenerJson(m, &json);
  return json.size() >= 2 ? json.substr(1, json.size() - 2) : std::string();
}

std::string RecordIdText(const pgagent::v1::RecordId& id) {
  return id.boot_id() + ":" + std::to_string(id.seq());
}
std::string RecordIdText(const Record& r) { return RecordIdText(r.id()); }

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


// The JSON array of the record ids, or "" for a single record.
std::string RecordIdsJson(const std::vector<const Record*>& records) {
  if (records.size() <= 1) return "";
  std::string out = "[";
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0) out += ',';
    AppendJsonString(out, RecordIdText(*records[i]));
  }
  return out + ']';
}

// data key of a coalesced snapshot kind.
const char* DataKeyFor(pgagent::v1::RecordKind kind) {
  switch (kind) {
    case pgagent::v1::RECORD_KIND_HEALTH: return "agent_health";
    case pgagent::v1::RECORD_KIND_CLUSTER: return "cluster";
    default: return "snapshots";
  }
}

// The snapshot's own members ("" when the record has no payload of a snapshot kind), split
// into parts by rows when one record alone is larger than max_bytes.
Result<std::vector<std::string>> SnapshotMembers(const Record& record, size_t max_bytes) {
  std::vector<std::string> parts;
  switch (record.payload_case()) {
    case Record::kActivity: {
      const ActivitySnapshot& a = record.activity();
      if (a.sessions_size() == 0) {
        parts.push_back(Members(a));
      } else {
        SplitToFit(
            0, a.sessions_size(), max_bytes,
            [&](int b, int e) { return ActivityMembers(a, b, e); }, &parts);
      }
      break;
    }
    case Record::kStatements: {
      const StatementsSnapshot& s = record.statements();
      if (s.statements_size() == 0) {
        parts.push_back(Members(s));
      } else {
        SplitToFit(
            0, s.statements_size(), max_bytes,
            [&](int b, int e) { return StatementsMembers(s, b, e); }, &parts);
      }
      break;
    }
    case Record::kSystem:
      parts.push_back(Members(record.system()));
      break;
    case Record::kHealth:
      parts.push_back(Members(record.health()));
      break;
    case Record::kCluster:
      parts.push_back(Members(record.cluster()));
      break;
    default:
      return InvalidArgumentError("record " + RecordIdText(record) + " has no snapshot payload");
  }
  return parts;
}

// One snapshot object of a coalesced aggregate, prefixed with what identifies it.
std::string SnapshotObject(const Record& record, const std::string& members, size_t part,
                           size_t parts) {
  std::string out = "{\"collected_at\":";
  AppendJsonString(out,
                   FormatRfc3339(record.collected_at().seconds(), record.collected_at().nanos()));
  out += ",\"record_id\":";
  AppendJsonString(out, RecordIdText(record));
  out += record.burst() ? ",\"burst\":true" : ",\"burst\":false";
  if (parts > 1) out += ",\"part\":" + std::to_string(part) + ",\"parts\":" + std::to_string(parts);
  if (!members.empty()) out += ',' + members;
  return out + '}';
}

struct Piece {
  const Record* record;
  const char* key;  // data key it goes under
  std::string json;
  size_t part = 1, parts = 1;
};

// Consecutive runs of pieces whose JSON fits in max_bytes (a piece larger than that alone is
// a run of its own).
std::vector<std::vector<const Piece*>> PieceRuns(const std::vector<Piece>& pieces,
                                                 size_t max_bytes) {
  std::vector<std::vector<const Piece*>> runs(1);
  size_t used = 0;
  for (const Piece& p : pieces) {
    const size_t add = p.json.size() + 1 + kRecordIdBytes;
    if (!runs.back().empty() && used + add > max_bytes) {
      runs.emplace_back();
      used = 0;
    }
    runs.back().push_back(&p);
    used += add;
  }
  return runs;
}

// The data members of one run: each data key's array, then count (and part/parts when one
// record's parts are spread over several runs).
std::string RunMembers(const std::vector<const Piece*>& run) {
  std::map<std::string_view, std::string> arrays;
  std::vector<std::string_view> order;
  for (const Piece* p : run) {
    std::string& array = arrays[p->key];
    if (array.empty()) order.push_back(p->key);
    array += array.empty() ? "[" : ",";
    array += p->json;
  }
  std::string out;
  for (std::string_view key : order) {
    if (!out.empty()) out += ',';
    AppendJsonString(out, key);
    out += ':' + arrays[key] + ']';
  }
  out += ",\"count\":" + std::to_string(run.size());
  return out;
}

}  // namespace

struct EnvelopeEncoder::Head {
  const char* source = "";
  const std::string* correlation_id = nullptr;
  std::string host;
  const pgagent::v1::RecordId* record_id = nullptr;
  google::protobuf::Timestamp collected_at;  // of the first record
  google::protobuf::Timestamp timestamp;     // the top-level one: the newest
  std::string kind;
  bool burst = false;
  std::string record_ids_json;  // data.agent.records, "" when there is one
  const std::string* check = nullptr;  // data.agent.check (EncodeCheck only)
};

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

std::string EnvelopeEncoder::Body(const Head& head, const std::string& data_members) const {
  std::string body;
  body.reserve(data_members.size() + 512);
  body += "{\"project\":";
  AppendJsonString(body, options_.project_id);
  char ts[48];
  std::snprintf(ts, sizeof(ts), ",\"timestamp\":%lld.%03d",
                static_cast<long long>(head.timestamp.seconds()),
                static_cast<int>(head.timestamp.nanos() / 1000000));
  body += ts;
  body += ",\"source\":";
  AppendJsonString(body, head.source);
  if (head.correlation_id != nullptr) {
    body += ",\"correlation_id\":";
    AppendJsonString(body, *head.correlation_id);
  }
  body += ",\"data\":{";
  body += data_members;
  if (!data_members.empty()) body += ',';
  body += "\"agent\":{\"host\":";
  AppendJsonString(body, head.host);
  body += ",\"version\":";
  AppendJsonString(body, options_.agent_version);
  if (head.record_id != nullptr) {
    body += ",\"record_id\":";
    AppendJsonString(body, RecordIdText(*head.record_id));
    body += ",\"boot_id\":";
    AppendJsonString(body, head.record_id->boot_id());
    body += ",\"seq\":" + std::to_string(head.record_id->seq());
  }
  body += ",\"collected_at\":";
  AppendJsonString(body, FormatRfc3339(head.collected_at.seconds(), head.collected_at.nanos()));
  body += ",\"kind\":";
  AppendJsonString(body, head.kind);
  body += head.burst ? ",\"burst\":true" : ",\"burst\":false";
  if (!head.record_ids_json.empty()) body += ",\"records\":" + head.record_ids_json;
  if (head.check != nullptr) {
    body += ",\"check\":";
    AppendJsonString(body, *head.check);
  }
  body += "}}}";
  return body;
}

namespace {

int64_t Nanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000000 + t.nanos();
}

const google::protobuf::Timestamp& Newest(const std::vector<const Record*>& records) {
  const Record* newest = records.front();
  for (const Record* r : records) {
    if (Nanos(r->collected_at()) > Nanos(newest->collected_at())) newest = r;
  }
  return newest->collected_at();
}

}  // namespace

Result<std::vector<Envelope>> EnvelopeEncoder::EncodeAggregate(
    const std::vector<const Record*>& records) const {
  if (records.empty()) return InvalidArgumentError("no records to encode");
  const char* source = SourceFor(records.front()->kind());
  for (const Record* r : records) {
    if (std::string_view(SourceFor(r->kind())) != source || *source == '\0') {
      return InvalidArgumentError("record " + RecordIdText(*r) + " cannot be coalesced with " +
                                  RecordIdText(*records.front()));
    }
  }
  if (std::string_view(source) == kSourceLog) return EncodeLogs(records);
  return EncodeSnapshots(records);
}

Result<std::vector<Envelope>> EnvelopeEncoder::EncodeSnapshots(
    const std::vector<const Record*>& records) const {
  const size_t budget = options_.max_envelope_bytes > kEnvelopeOverhead
                            ? options_.max_envelope_bytes - kEnvelopeOverhead
                            : 1;
  std::vector<Piece> pieces;
  for (const Record* r : records) {
    PGAGENT_ASSIGN_OR_RETURN(std::vector<std::string> parts, SnapshotMembers(*r, budget));
    for (size_t i = 0; i < parts.size(); ++i) {
      pieces.push_back(Piece{r, DataKeyFor(r->kind()), "", i + 1, parts.size()});
      pieces.back().json = SnapshotObject(*r, parts[i], i + 1, parts.size());
    }
  }
  std::vector<Envelope> envelopes;
  for (const auto& run : PieceRuns(pieces, budget)) {
    std::vector<const Record*> in_run;
    for (const Piece* p : run) {
      if (in_run.empty() || in_run.back() != p->record) in_run.push_back(p->record);
    }
    const Record& first = *in_run.front();
    Head head;
    head.source = SourceFor(first.kind());
    head.host = first.host();
    head.record_id = &first.id();
    head.collected_at = first.collected_at();
    head.timestamp = Newest(in_run);
    head.kind = RecordKindName(first.kind());
    head.burst = first.burst();
    head.record_ids_json = RecordIdsJson(in_run);
    envelopes.push_back({head.source, std::nullopt, Body(head, RunMembers(run))});
  }
  return envelopes;
}

Result<std::vector<Envelope>> EnvelopeEncoder::EncodeLogs(
    const std::vector<const Record*>& records) const {
  for (const Record* r : records) {
    if (!r->has_log())
      return InvalidArgumentError("record " + RecordIdText(*r) + " is not a log batch");
  }
  const Record& first = *records.front();
  const RenderedLogs logs(records);
  Head head;
  head.source = kSourceLog;
  head.host = first.host();
  head.record_id = &first.id();
  head.collected_at = first.collected_at();
  head.timestamp = Newest(records);
  head.kind = RecordKindName(first.kind());
  head.burst = first.burst();
  head.record_ids_json = RecordIdsJson(records);
  const size_t budget = options_.max_envelope_bytes > kEnvelopeOverhead
                            ? options_.max_envelope_bytes - kEnvelopeOverhead
                            : 1;
  // The first part carries the batch's unparsed count, the others 0.
  const std::vector<std::vector<size_t>> runs = logs.Runs(
      budget > head.record_ids_json.size() ? budget - head.record_ids_json.size() : 1);
  std::vector<Envelope> envelopes;
  for (size_t i = 0; i < runs.size(); ++i) {
    std::string members = logs.Members(runs[i], true, i == 0 ? logs.unparsed() : 0);
    if (runs.size() > 1) {
      members += ",\"part\":" + std::to_string(i + 1) + ",\"parts\":" + std::to_string(runs.size());
    }
    envelopes.push_back({kSourceLog, std::nullopt, Body(head, members)});
  }
  return envelopes;
}

Result<Envelope> EnvelopeEncoder::EncodeCorrelation(const CorrelationRow& row) const {
  if (row.correlation_id().empty()) return InvalidArgumentError("correlation row without id");
  std::string members = "\"query\":";
  AppendJsonString(members, row.query());
  if (row.has_duration_ms()) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), ",\"duration_ms\":%.3f", row.duration_ms());
    members += buf;
  }
  AppendListenerJsonFields(row,
                           {"reasons", "score", "follow_up", "first_seen", "last_seen",
                            "sessions", "lock_waits", "entries", "sessions_dropped",
                            "entries_dropped"},
                           /*leading_comma=*/true, &members);
  members += ",\"count\":" + std::to_string(row.sessions_size() + row.entries_size());
  Head head;
  head.source = row.entries_size() > 0 ? kSourceLog : kSourceActivity;
  head.correlation_id = &row.correlation_id();
  head.host = row.host();
  if (row.records_size() > 0) head.record_id = &row.records(0);
  head.collected_at = row.first_seen();
  head.timestamp = row.last_seen();
  head.kind = "correlation";
  if (row.records_size() > 1) {
    head.record_ids_json = "[";
    for (int i = 0; i < row.records_size(); ++i) {
      if (i > 0) head.record_ids_json += ',';
      AppendJsonString(head.record_ids_json, RecordIdText(row.records(i)));
    }
    head.record_ids_json += ']';
  }
  return Envelope{head.source, row.correlation_id(), Body(head, members)};
}

EncoderOptions EncoderOptionsFor(const ListenerConfig& listener) {
  EncoderOptions options;
  options.project_id = listener.project_id;
  options.max_envelope_bytes = static_cast<size_t>(listener.max_envelope_bytes);
  return options;
}

Envelope EnvelopeEncoder::EncodeCheck(const std::string& check, const std::string& host,
                                      const google::protobuf::Timestamp& at) const {
  Head head;
  head.source = kSourceSystem;
  head.host = host;
  head.collected_at = at;
  head.timestamp = at;
  head.kind = "check";
  head.check = &check;
  return Envelope{head.source, std::nullopt, Body(head, "")};
}

}  // namespace pgagent
