#include "collectord/logs/stderr_prefix.h"

#include <cstring>

namespace pgagent {
namespace {

// Bounds the backtracking of free-text fields on hostile lines (each attempt is linear).
constexpr int kMatchBudget = 64;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool IsZoneChar(char c) {
  return IsDigit(c) || IsUpper(c) || (c >= 'a' && c <= 'z') || c == '+' || c == '-';
}

bool IsFreeText(PrefixField f) {
  switch (f) {
    case PrefixField::kApplicationName:
    case PrefixField::kUser:
    case PrefixField::kDatabase:
    case PrefixField::kRemoteHostPort:
    case PrefixField::kRemoteHost:
    case PrefixField::kBackendType:
    case PrefixField::kCommandTag:
      return true;
    default:
      return false;
  }
}

bool FieldForEscape(char c, PrefixField* f) {
  switch (c) {
    case 'a':
      *f = PrefixField::kApplicationName;
      return true;
    case 'u':
      *f = PrefixField::kUser;
      return true;
    case 'd':
      *f = PrefixField::kDatabase;
      return true;
    case 'r':
      *f = PrefixField::kRemoteHostPort;
      return true;
    case 'h':
      *f = PrefixField::kRemoteHost;
      return true;
    case 'b':
      *f = PrefixField::kBackendType;
      return true;
    case 'p':
      *f = PrefixField::kPid;
      return true;
    case 'P':
      *f = PrefixField::kLeaderPid;
      return true;
    case 'm':
      *f = PrefixField::kTimestampMs;
      return true;
    case 't':
      *f = PrefixField::kTimestamp;
      return true;
    case 'n':
      *f = PrefixField::kEpoch;
      return true;
    case 'i':
      *f = PrefixField::kCommandTag;
      return true;
    case 'e':
      *f = PrefixField::kSqlstate;
      return true;
    case 'c':
      *f = PrefixField::kSessionId;
      return true;
    case 'l':
      *f = PrefixField::kLineNum;
      return true;
    case 's':
      *f = PrefixField::kSessionStart;
      return true;
    case 'v':
      *f = PrefixField::kVxid;
      return true;
    case 'x':
      *f = PrefixField::kTxid;
      return true;
    case 'Q':
      *f = PrefixField::kQueryId;
      return true;
    default:
      return false;
  }
}

size_t SkipDigits(std::string_view s, size_t pos) {
  while (pos < s.size() && IsDigit(s[pos])) ++pos;
  return pos;
}

// "YYYY-MM-DD HH:MM:SS" at pos; returns the end or npos.
size_t MatchDateTime(std::string_view s, size_t pos) {
  static constexpr char kShape[] = "dddd-dd-dd dd:dd:dd";
  constexpr size_t kLen = sizeof(kShape) - 1;
  if (s.size() - pos < kLen) return std::string_view::npos;
  for (size_t i = 0; i < kLen; ++i) {
    char c = s[pos + i];
    if (kShape[i] == 'd' ? !IsDigit(c) : c != kShape[i]) return std::string_view::npos;
  }
  return pos + kLen;
}

// "YYYY-MM-DD HH:MM:SS[.mmm] ZONE"; the zone is optional (log_timezone may print nothing).
size_t MatchTimestamp(std::string_view s, size_t pos, bool millis) {
  size_t p = MatchDateTime(s, pos);
  if (p == std::string_view::npos) return p;
  if (millis) {
    if (p >= s.size() || s[p] != '.') return std::string_view::npos;
    size_t q = SkipDigits(s, p + 1);
    if (q == p + 1) return std::string_view::npos;
    p = q;
  }
  if (p + 1 < s.size() && s[p] == ' ' && IsZoneChar(s[p + 1])) {
    size_t q = p + 1;
    while (q < s.size() && IsZoneChar(s[q])) ++q;
    p = q;
  }
  return p;
}

// Matches a fixed-grammar field at pos; returns its end or npos.
size_t MatchFixed(PrefixField f, std::string_view s, size_t pos) {
  constexpr size_t npos = std::string_view::npos;
  switch (f) {
    case PrefixField::kPid:
    case PrefixField::kLineNum:
    case PrefixField::kTxid: {
      size_t e = SkipDigits(s, pos);
      return e == pos ? npos : e;
    }
    case PrefixField::kLeaderPid:  // empty unless a parallel worker
      return SkipDigits(s, pos);
    case PrefixField::kQueryId: {
      size_t p = pos < s.size() && s[pos] == '-' ? pos + 1 : pos;
      size_t e = SkipDigits(s, p);
      return e == p ? npos : e;
    }
    case PrefixField::kVxid: {  // "3/12", or empty outside a backend
      size_t e = SkipDigits(s, pos);
      if (e == pos) return pos;
      if (e >= s.size() || s[e] != '/') return npos;
      size_t e2 = SkipDigits(s, e + 1);
      return e2 == e + 1 ? npos : e2;
    }
    case PrefixField::kTimestampMs:
      return MatchTimestamp(s, pos, true);
    case PrefixField::kTimestamp:
    case PrefixField::kSessionStart:
      return MatchTimestamp(s, pos, false);
    case PrefixField::kEpoch: {
      size_t e = SkipDigits(s, pos);
      if (e == pos || e >= s.size() || s[e] != '.') return npos;
      size_t e2 = SkipDigits(s, e + 1);
      return e2 == e + 1 ? npos : e2;
    }
    case PrefixField::kSqlstate: {
      if (s.size() - pos < 5) return npos;
      for (size_t i = pos; i < pos + 5; ++i) {
        if (!IsDigit(s[i]) && !IsUpper(s[i])) return npos;
      }
      return pos + 5;
    }
    case PrefixField::kSessionId: {
      size_t e = pos;
      while (e < s.size() && IsHex(s[e])) ++e;
      if (e == pos || e >= s.size() || s[e] != '.') return npos;
      size_t e2 = e + 1;
      while (e2 < s.size() && IsHex(s[e2])) ++e2;
      return e2 == e + 1 ? npos : e2;
    }
    default:
      return npos;
  }
}

// "LEVEL:  message" at pos.
bool MatchLevel(std::string_view s, size_t pos, StderrLine* out) {
  size_t e = pos;
  while (e < s.size() && e - pos < 9 && (IsUpper(s[e]) || IsDigit(s[e]))) ++e;
  if (e == pos || e >= s.size() || s[e] != ':') return false;
  std::string_view level = s.substr(pos, e - pos);
  if (!IsKnownLogLevel(level)) return false;
  size_t m = e + 1;
  if (m < s.size() && s[m] == ' ') ++m;
  if (m < s.size() && s[m] == ' ') ++m;
  out->level = level;
  out->message = s.substr(m);
  return true;
}

void SetField(StderrLine* out, PrefixField f, std::string_view v, int width) {
  if (width > 0) {
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  } else if (width < 0) {
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  }
  out->fields[static_cast<size_t>(f)] = v;
  out->present[static_cast<size_t>(f)] = true;
}

}  // namespace

bool IsKnownLogLevel(std::string_view l) {
  switch (l.size()) {
    case 3:
      return l == "LOG";
    case 4:
      return l == "INFO" || l == "HINT";
    case 5:
      return l == "ERROR" || l == "FATAL" || l == "PANIC" || l == "QUERY" || l == "DEBUG";
    case 6:
      if (l == "NOTICE" || l == "DETAIL") return true;
      return l.substr(0, 5) == "DEBUG" && l[5] >= '1' && l[5] <= '5';
    case 7:
      return l == "WARNING" || l == "CONTEXT";
    case 8:
      return l == "LOCATION";
    case 9:
      return l == "STATEMENT";
    default:
      return false;
  }
}

bool IsFollowUpLevel(std::string_view l) {
  return l == "DETAIL" || l == "HINT" || l == "CONTEXT" || l == "STATEMENT" || l == "QUERY" ||
         l == "LOCATION";
}

Result<std::unique_ptr<StderrPrefixMatcher>> StderrPrefixMatcher::Compile(std::string_view prefix) {
  std::unique_ptr<StderrPrefixMatcher> m(new StderrPrefixMatcher());
  m->prefix_ = std::string(prefix);
  auto literal = [&](char c) {
    if (m->tokens_.empty() || m->tokens_.back().kind != TokenKind::kLiteral) {
      m->tokens_.push_back(Token{});
    }
    m->tokens_.back().literal.push_back(c);
  };
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (prefix[i] != '%' || i + 1 == prefix.size()) {
      literal(prefix[i]);
      continue;
    }
    ++i;
    int sign = 1;
    if (prefix[i] == '-') {
      sign = -1;
      ++i;
    }
    int width = 0;
    while (i < prefix.size() && IsDigit(prefix[i]) && width < 10000) {
      width = width * 10 + (prefix[i] - '0');
      ++i;
    }
    if (i == prefix.size()) break;
    char c = prefix[i];
    PrefixField f;
    if (c == '%') {
      literal('%');
    } else if (c == 'q') {
      m->tokens_.push_back(Token{TokenKind::kSessionStop, PrefixField::kCount, 0, {}});
    } else if (FieldForEscape(c, &f)) {
      Token t{TokenKind::kField, f, sign * width, {}};
      if (IsFreeText(f) && !m->tokens_.empty() && m->tokens_.back().kind == TokenKind::kField &&
          IsFreeText(m->tokens_.back().field)) {
        return InvalidArgumentError("log_line_prefix '" + std::string(prefix) +
                                    "': two free-text escapes without a separator");
      }
      m->tokens_.push_back(std::move(t));
    }
    // Unknown escapes print nothing in PostgreSQL.
  }
  return m;
}

bool StderrPrefixMatcher::Match(std::string_view line, StderrLine* out) const {
  *out = StderrLine{};
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  int budget = kMatchBudget;
  return MatchFrom(line, 0, 0, out, &budget);
}

bool StderrPrefixMatcher::MatchFrom(std::string_view line, size_t tok, size_t pos, StderrLine* out,
                                    int* budget) const {
  for (; tok < tokens_.size(); ++tok) {
    const Token& t = tokens_[tok];
    switch (t.kind) {
      case TokenKind::kLiteral:
        if (line.size() - pos < t.literal.size() ||
            std::memcmp(line.data() + pos, t.literal.data(), t.literal.size()) != 0) {
          return false;
        }
        pos += t.literal.size();
        break;
      case TokenKind::kSessionStop:
        // Non-session processes stop the prefix here.
        if (MatchLevel(line, pos, out)) {
          for (size_t k = tok + 1; k < tokens_.size(); ++k) {
            if (tokens_[k].kind != TokenKind::kField) continue;
            out->fields[static_cast<size_t>(tokens_[k].field)] = {};
            out->present[static_cast<size_t>(tokens_[k].field)] = false;
          }
          return true;
        }
        break;
      case TokenKind::kField: {
        if (IsFreeText(t.field)) return MatchFreeText(line, tok, pos, out, budget);
        size_t start = pos;
        if (t.width > 0) {
          while (pos < line.size() && line[pos] == ' ') ++pos;
        }
        size_t end = MatchFixed(t.field, line, pos);
        if (end == std::string_view::npos) return false;
        SetField(out, t.field, line.substr(pos, end - pos), 0);
        pos = end;
        if (t.width < 0) {
          while (pos < line.size() && pos - start < static_cast<size_t>(-t.width) &&
                 line[pos] == ' ') {
            ++pos;
          }
        }
        break;
      }
    }
  }
  return MatchLevel(line, pos, out);
}

// A free-text field ends where the rest of the prefix (and the level) matches. Candidates:
// occurrences of the next literal, or of ':' when the level follows directly.
bool StderrPrefixMatcher::MatchFreeText(std::string_view line, size_t tok, size_t pos,
                                        StderrLine* out, int* budget) const {
  const Token& t = tokens_[tok];
  size_t min_len = t.width < 0 ? static_cast<size_t>(-t.width) : 0;
  const Token* next = tok + 1 < tokens_.size() ? &tokens_[tok + 1] : nullptr;
  std::string_view anchor;
  if (next != nullptr && next->kind == TokenKind::kLiteral) anchor = next->literal;
  size_t search = pos + min_len;
  while (search <= line.size() && (*budget)-- > 0) {
    size_t end;
    if (!anchor.empty()) {
      end = line.find(anchor, search);
    } else if (next == nullptr) {
      // The level follows: "...app LOG:  ". Find a ':' and walk back over the level.
      size_t colon = line.find(':', search);
      if (colon == std::string_view::npos) return false;
      end = colon;
      while (end > search && (IsUpper(line[end - 1]) || IsDigit(line[end - 1]))) --end;
      if (end == colon) {
        search = colon + 1;
        continue;
      }
    } else {
      end = search;  // a fixed field or %q follows: try every position
    }
    if (end == std::string_view::npos) return false;
    SetField(out, t.field, line.substr(pos, end - pos), t.width);
    if (MatchFrom(line, tok + 1, end, out, budget)) return true;
    search = (next == nullptr && anchor.empty()) ? line.find(':', end) + 1 : end + 1;
    if (search == 0) return false;  // find() returned npos
  }
  return false;
}

}  // namespace pgagent
