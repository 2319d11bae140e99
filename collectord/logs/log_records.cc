#include "collectord/logs/log_records.h"

#include <charconv>
#include <cstdint>

#include "collectord/logs/json_scanner.h"
#include "collectord/logs/log_text.h"

namespace pgagent {
namespace {

using pgagent::v1::LogEntry;

template <typename T>
T ToInt(std::string_view s) {
  T v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// Sets a string field; an empty value leaves the field unset (no allocation).
void Assign(LogEntry* e, std::string* (LogEntry::*field)(), std::string_view v) {
  if (!v.empty()) (e->*field)()->assign(v.data(), v.size());
}

void SetTimestamp(std::string_view text, LogEntry* e, bool* unknown_zone) {
  if (text.empty()) return;
  ParsePgTimestamp(text, e->mutable_timestamp(), unknown_zone);
}

// ---- csv ---------------------------------------------------------------------------

enum CsvColumn {
  kLogTime,
  kUserName,
  kDatabaseName,
  kProcessId,
  kConnectionFrom,
  kSessionId,
  kSessionLineNum,
  kCommandTag,
  kSessionStartTime,
  kVirtualTransactionId,
  kTransactionId,
  kErrorSeverity,
  kSqlStateCode,
  kMessage,
  kDetail,
  kHint,
  kInternalQuery,
  kInternalQueryPos,
  kContext,
  kQuery,
  kQueryPos,
  kLocation,
  kApplicationName,
  kBackendType,
  kLeaderPid,
  kQueryId,
};

// ---- json ----------------------------------------------------------------------------

void ApplyJsonString(std::string_view key, std::string* v, LogEntry* e, std::string* func,
                     std::string* file, bool* unknown_zone) {
  if (key == "timestamp")
    SetTimestamp(*v, e, unknown_zone);
  else if (key == "user")
    e->set_user(std::move(*v));
  else if (key == "dbname")
    e->set_database(std::move(*v));
  else if (key == "remote_host")
    e->set_remote_host(std::move(*v));
  else if (key == "session_id")
    e->set_session_id(std::move(*v));
  else if (key == "ps")
    e->set_command_tag(std::move(*v));
  else if (key == "vxid")
    e->set_virtual_transaction_id(std::move(*v));
  else if (key == "error_severity")
    e->set_level(std::move(*v));
  else if (key == "state_code")
    e->set_sqlstate(std::move(*v));
  else if (key == "message")
    e->set_message(std::move(*v));
  else if (key == "detail")
    e->set_detail(std::move(*v));
  else if (key == "hint")
    e->set_hint(std::move(*v));
  else if (key == "internal_query")
    e->set_internal_query(std::move(*v));
  else if (key == "context")
    e->set_context(std::move(*v));
  else if (key == "statement")
    e->set_statement(std::move(*v));
  else if (key == "func_name")
    *func = std::move(*v);
  else if (key == "file_name")
    *file = std::move(*v);
  else if (key == "application_name")
    e->set_application_name(std::move(*v));
  else if (key == "backend_type")
    e->set_backend_type(std::move(*v));
  // txid and query_id are numbers in PG 15, but tolerate strings.
  else if (key == "txid")
    e->set_transaction_id(ToInt<uint64_t>(*v));
  else if (key == "query_id")
    e->set_query_id(ToInt<int64_t>(*v));
}

void ApplyJsonNumber(std::string_view key, std::string_view v, LogEntry* e, int64_t* file_line) {
  if (key == "pid")
    e->set_pid(ToInt<int32_t>(v));
  else if (key == "line_num")
    e->set_session_line_num(ToInt<uint64_t>(v));
  else if (key == "txid")
    e->set_transaction_id(ToInt<uint64_t>(v));
  else if (key == "leader_pid")
    e->set_leader_pid(ToInt<int32_t>(v));
  else if (key == "query_id")
    e->set_query_id(ToInt<int64_t>(v));
  else if (key == "file_line_num")
    *file_line = ToInt<int64_t>(v);
}

std::string Location(const std::string& func, const std::string& file, int64_t line) {
  if (func.empty() && file.empty()) return {};
  std::string out = func;
  if (!file.empty()) {
    if (!out.empty()) out += ", ";
    out += file;
    out += ':';
    out += std::to_string(line);
  }
  return out;
}

}  // namespace

bool CsvQuoteStateAfter(std::string_view text, bool in_quotes) {
  for (char c : text) {
    if (c == '"') in_quotes = !in_quotes;  // "" inside quotes toggles twice
  }
  return in_quotes;
}

bool SplitCsvRecord(std::string_view r, std::vector<std::string>* fields) {
  size_t n = 0;
  size_t p = 0;
  if (!r.empty() && r.back() == '\r') r.remove_suffix(1);
  while (true) {
    if (fields->size() <= n) fields->emplace_back();
    std::string& f = (*fields)[n++];
    f.clear();
    if (p < r.size() && r[p] == '"') {
      ++p;
      while (true) {
        size_t q = r.find('"', p);
        if (q == std::string_view::npos) return false;
        f.append(r.data() + p, q - p);
        p = q + 1;
        if (p < r.size() && r[p] == '"') {
          f.push_back('"');
          ++p;
          continue;
        }
        break;
      }
      if (p < r.size() && r[p] != ',') return false;
    } else {
      size_t q = r.find(',', p);
      if (q == std::string_view::npos) q = r.size();
      std::string_view v = r.substr(p, q - p);
      if (v.find('"') != std::string_view::npos) return false;
      f.assign(v);
      p = q;
    }
    if (p >= r.size()) break;
    ++p;  // ','
    if (n > 64) return false;
  }
  fields->resize(n);
  return true;
}

bool CsvlogRecordToEntry(std::string_view record, std::vector<std::string>* f, LogEntry* e,
                         bool* unknown_zone) {
  if (!SplitCsvRecord(record, f)) return false;
  size_t n = f->size();
  if (n != 23 && n != 24 && n != 26) return false;
  std::vector<std::string>& c = *f;
  if (!c[kLogTime].empty() &&
      !ParsePgTimestamp(c[kLogTime], e->mutable_timestamp(), unknown_zone)) {
    return false;
  }
  if (!IsKnownLogLevel(c[kErrorSeverity])) return false;
  e->set_user(std::move(c[kUserName]));
  e->set_database(std::move(c[kDatabaseName]));
  e->set_pid(ToInt<int32_t>(c[kProcessId]));
  e->set_remote_host(std::string(HostWithoutPort(c[kConnectionFrom])));
  e->set_session_id(std::move(c[kSessionId]));
  e->set_session_line_num(ToInt<uint64_t>(c[kSessionLineNum]));
  e->set_command_tag(std::move(c[kCommandTag]));
  e->set_virtual_transaction_id(std::move(c[kVirtualTransactionId]));
  e->set_transaction_id(ToInt<uint64_t>(c[kTransactionId]));
  e->set_level(std::move(c[kErrorSeverity]));
  e->set_sqlstate(std::move(c[kSqlStateCode]));
  e->set_message(std::move(c[kMessage]));
  e->set_detail(std::move(c[kDetail]));
  e->set_hint(std::move(c[kHint]));
  e->set_internal_query(std::move(c[kInternalQuery]));
  e->set_context(std::move(c[kContext]));
  e->set_statement(std::move(c[kQuery]));
  e->set_location(std::move(c[kLocation]));
  e->set_application_name(std::move(c[kApplicationName]));
  if (n >= 24) e->set_backend_type(std::move(c[kBackendType]));
  if (n >= 26) {
    e->set_leader_pid(ToInt<int32_t>(c[kLeaderPid]));
    e->set_query_id(ToInt<int64_t>(c[kQueryId]));
  }
  return true;
}

bool JsonlogLineToEntry(std::string_view line, LogEntry* e, bool* unknown_zone) {
  JsonScanner js(line);
  if (!js.Consume('{')) return false;
  std::string key, value, func, file;
  int64_t file_line = 0;
  if (!js.Consume('}')) {
    do {
      if (!js.String(&key) || !js.Consume(':')) return false;
      if (js.Peek() == '"') {
        if (!js.String(&value)) return false;
        ApplyJsonString(key, &value, e, &func, &file, unknown_zone);
      } else {
        std::string_view scalar;
        if (!js.Scalar(&scalar)) return false;
        ApplyJsonNumber(key, scalar, e, &file_line);
      }
    } while (js.Consume(','));
    if (!js.Consume('}')) return false;
  }
  if (!js.AtEnd()) return false;
  if (e->level().empty() || !IsKnownLogLevel(e->level())) return false;
  e->set_location(Location(func, file, file_line));
  return true;
}

std::string_view HostWithoutPort(std::string_view h) {
  if (!h.empty() && h.back() == ')') {  // %r: host(port)
    size_t open = h.rfind('(');
    if (open != std::string_view::npos) return h.substr(0, open);
  }
  size_t colon = h.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == h.size()) return h;
  for (size_t i = colon + 1; i < h.size(); ++i) {
    if (h[i] < '0' || h[i] > '9') return h;
  }
  std::string_view host = h.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

void StderrLineToEntry(const StderrLine& l, LogEntry* e, bool* unknown_zone) {
  using F = PrefixField;
  if (l.Has(F::kTimestampMs)) {
    SetTimestamp(l.Get(F::kTimestampMs), e, unknown_zone);
  } else if (l.Has(F::kTimestamp)) {
    SetTimestamp(l.Get(F::kTimestamp), e, unknown_zone);
  } else if (l.Has(F::kEpoch)) {
    ParseEpochTimestamp(l.Get(F::kEpoch), e->mutable_timestamp());
  }
  if (l.Has(F::kPid)) e->set_pid(ToInt<int32_t>(l.Get(F::kPid)));
  if (l.Has(F::kLeaderPid)) e->set_leader_pid(ToInt<int32_t>(l.Get(F::kLeaderPid)));
  Assign(e, &LogEntry::mutable_user, l.Get(F::kUser));
  Assign(e, &LogEntry::mutable_database, l.Get(F::kDatabase));
  Assign(e, &LogEntry::mutable_application_name, l.Get(F::kApplicationName));
  if (l.Has(F::kRemoteHost)) {
    Assign(e, &LogEntry::mutable_remote_host, l.Get(F::kRemoteHost));
  } else if (l.Has(F::kRemoteHostPort)) {
    Assign(e, &LogEntry::mutable_remote_host, HostWithoutPort(l.Get(F::kRemoteHostPort)));
  }
  Assign(e, &LogEntry::mutable_backend_type, l.Get(F::kBackendType));
  Assign(e, &LogEntry::mutable_command_tag, l.Get(F::kCommandTag));
  Assign(e, &LogEntry::mutable_session_id, l.Get(F::kSessionId));
  Assign(e, &LogEntry::mutable_virtual_transaction_id, l.Get(F::kVxid));
  if (l.Has(F::kLineNum)) e->set_session_line_num(ToInt<uint64_t>(l.Get(F::kLineNum)));
  if (l.Has(F::kTxid)) e->set_transaction_id(ToInt<uint64_t>(l.Get(F::kTxid)));
  if (l.Has(F::kQueryId)) e->set_query_id(ToInt<int64_t>(l.Get(F::kQueryId)));
  Assign(e, &LogEntry::mutable_level, l.level);
  std::string_view msg = l.message;
  // log_error_verbosity = verbose puts the SQLSTATE in front: "ERROR:  42601: syntax ...".
  if (msg.size() >= 7 && msg[5] == ':' && msg[6] == ' ') {
    bool code = true;
    for (size_t i = 0; i < 5; ++i) {
      char c = msg[i];
      code = code && ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'));
    }
    if (code) {
      if (!l.Has(F::kSqlstate)) Assign(e, &LogEntry::mutable_sqlstate, msg.substr(0, 5));
      msg.remove_prefix(7);
    }
  }
  if (l.Has(F::kSqlstate)) Assign(e, &LogEntry::mutable_sqlstate, l.Get(F::kSqlstate));
  // stderr alone appends the cursor position ("... at character 8"); csvlog and jsonlog keep
  // it in a column. Drop it so that the formats agree.
  size_t at = msg.rfind(" at character ");
  if (l.level != "LOG" && at != std::string_view::npos && at + 14 < msg.size() &&
      msg.find_first_not_of("0123456789", at + 14) == std::string_view::npos) {
    msg = msg.substr(0, at);
  }
  Assign(e, &LogEntry::mutable_message, msg);
}

}  // namespace pgagent
