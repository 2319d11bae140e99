#include "collectord/logs/log_records.h"

#include <charconv>
#include <cstdint>

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

// ---- json --------------------------------------------------------------------------

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view s) : s_(s) {}

  void SkipWs() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\r')) ++p_;
  }
  bool Consume(char c) {
    SkipWs();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipWs();
    return p_ == s_.size();
  }
  char Peek() {
    SkipWs();
    return p_ < s_.size() ? s_[p_] : '\0';
  }

  // A JSON string into *out (escapes decoded).
  bool String(std::string* out) {
    out->clear();
    if (!Consume('"')) return false;
    while (p_ < s_.size()) {
      size_t run = p_;
      while (run < s_.size() && s_[run] != '"' && s_[run] != '\\') ++run;
      out->append(s_.data() + p_, run - p_);
      p_ = run;
      if (p_ >= s_.size()) return false;
      if (s_[p_] == '"') {
        ++p_;
        return true;
      }
      if (!Escape(out)) return false;
    }
    return false;
  }

  // A number, true, false or null, as its text.
  bool Scalar(std::string_view* out) {
    SkipWs();
    size_t start = p_;
    while (p_ < s_.size() && s_[p_] != ',' && s_[p_] != '}' && s_[p_] != ' ' && s_[p_] != '\t' &&
           s_[p_] != '\r') {
      char c = s_[p_];
      bool ok = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
                c == 'E' || (c >= 'a' && c <= 'z');
      if (!ok) return false;
      ++p_;
    }
    if (p_ == start) return false;
    *out = s_.substr(start, p_ - start);
    return true;
  }

 private:
  bool Hex4(uint32_t* v) {
    if (s_.size() - p_ < 4) return false;
    uint32_t r = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[p_++];
      r <<= 4;
      if (c >= '0' && c <= '9')
        r |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        r |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        r |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    *v = r;
    return true;
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  bool Escape(std::string* out) {
    ++p_;  // backslash
    if (p_ >= s_.size()) return false;
    char c = s_[p_++];
    switch (c) {
      case '"':
        out->push_back('"');
        return true;
      case '\\':
        out->push_back('\\');
        return true;
      case '/':
        out->push_back('/');
        return true;
      case 'b':
        out->push_back('\b');
        return true;
      case 'f':
        out->push_back('\f');
        return true;
      case 'n':
        out->push_back('\n');
        return true;
      case 'r':
        out->push_back('\r');
        return true;
      case 't':
        out->push_back('\t');
        return true;
      case 'u':
        break;
      default:
        return false;
    }
    uint32_t cp;
    if (!Hex4(&cp)) return false;
    if (cp >= 0xD800 && cp <= 0xDBFF && s_.size() - p_ >= 6 && s_[p_] == '\\' &&
        s_[p_ + 1] == 'u') {
      size_t save = p_;
      p_ += 2;
      uint32_t lo;
      if (Hex4(&lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      } else {
        p_ = save;
        cp = 0xFFFD;
      }
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;  // lone surrogate
    }
    AppendUtf8(cp, out);
    return true;
  }

  std::string_view s_;
  size_t p_ = 0;
};

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
