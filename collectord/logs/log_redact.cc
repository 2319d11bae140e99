#include "collectord/logs/log_redact.h"

#include <array>

#include "collectord/sql/redact.h"
#include "collectord/sql/sql_lexer.h"

namespace pgagent {
namespace {

using sql_internal::IsDigit;
using sql_internal::IsIdentCont;
using sql_internal::kNpos;
using sql_internal::SqlLexer;
using sql_internal::TokenKind;

bool StartsAt(std::string_view s, size_t i, std::string_view p) {
  return s.substr(i, p.size()) == p;
}

// Nouns after which PostgreSQL's messages print an object name in double quotes. Not
// "statement" / "expression": SQL statement "..." quotes SQL, not a name.
constexpr std::array<std::string_view, 50> kObjectNouns = {
    "relation",     "table",   "column",    "constraint", "index",      "function",
    "procedure",    "routine", "aggregate", "schema",     "database",   "role",
    "user",         "type",    "sequence",  "view",       "operator",   "extension",
    "trigger",      "cursor",  "portal",    "savepoint",  "tablespace", "publication",
    "subscription", "server",  "collation", "conversion", "domain",     "language",
    "policy",       "rule",    "attribute", "parameter",  "encoding",   "slot",
    "wrapper",      "channel", "family",    "class",      "method",     "field",
    "record",       "file",    "directory", "template",   "object",     "variable",
    "label",        "path"};

bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The quote at `quote` follows "<noun> " (e.g. relation "t").
bool FollowsObjectNoun(std::string_view s, size_t quote) {
  if (quote < 2 || s[quote - 1] != ' ') return false;
  const size_t end = quote - 1;
  size_t begin = end;
  while (begin > 0 && IsAsciiAlpha(s[begin - 1])) --begin;
  if (begin == end || end - begin > 16) return false;
  std::string word(s.substr(begin, end - begin));
  for (char& c : word) c = static_cast<char>(c | 0x20);
  for (std::string_view noun : kObjectNouns) {
    if (word == noun) return true;
  }
  return false;
}

class TextRedactor {
 public:
  TextRedactor(std::string_view s, FieldRedactStats* stats)
      : s_(s), lexer_(s), last_dquote_(s.rfind('"')), last_paren_(s.rfind(')')), stats_(stats) {
    // A value masked up to the last '"' or ')' may swallow a "JSON data" opener whose data
    // (unquoted) runs past it: such a value is masked to the end of that data's line.
    const size_t json = s.rfind("JSON data, line ");
    if (json != kNpos) {
      last_json_data_ = json;
      const size_t nl = s.find('\n', json);
      json_data_end_ = nl == kNpos ? s.size() : nl;
    }
  }

  std::string Run() {
    out_.reserve(s_.size());
    while (i_ < s_.size()) Step();
    return std::move(out_);
  }

 private:
  void Step() {
    const char c = s_[i_];
    if (c == ')' && StartsAt(s_, i_, ")=(")) return ParenValue(3);
    if (c == 'c' && StartsAt(s_, i_, "contains (")) return ParenValue(10);
    if (c == 'a' && StartsAt(s_, i_, "at or near \"")) {
      out_.append("at or near ");
      i_ += 11;
      return IsWordToken(i_) ? ObjectName() : QuotedValue();
    }
    if (c == 'J' && StartsAt(s_, i_, "JSON data, line ")) return JsonData();
    if (c == '\'') return SingleQuoted();
    if (c == '"') return FollowsObjectNoun(s_, i_) ? ObjectName() : QuotedValue();
    if (c == '$' && (i_ == 0 || !IsIdentCont(static_cast<unsigned char>(s_[i_ - 1])))) {
      if (DollarBody()) return;
    }
    out_.push_back(c);
    ++i_;
  }

  void MaskRest() {
    out_.push_back('?');
    ++stats_->fail_closed;
    i_ = s_.size();
  }

  // i_ at ")=(" or "contains (": the value runs to the last ')' of the text.
  void ParenValue(size_t opener) {
    out_.append(s_.substr(i_, opener));
    i_ += opener;
    if (last_paren_ == kNpos || last_paren_ < i_) return MaskRest();
    out_.push_back('?');
    i_ = PastSwallowedJsonData(last_paren_);
  }

  // The resume position after masking [i_, target): past any JSON data it swallowed.
  size_t PastSwallowedJsonData(size_t target) const {
    if (last_json_data_ != kNpos && last_json_data_ >= i_ && last_json_data_ < target &&
        json_data_end_ > target) {
      return json_data_end_;
    }
    return target;
  }

  // i_ at a '"' that opens a value: masked to the text's last '"'.
  void QuotedValue() {
    if (last_dquote_ == kNpos || last_dquote_ <= i_) {
      out_.push_back('"');
      return MaskRest();
    }
    out_.append("\"?\"");
    i_ = PastSwallowedJsonData(last_dquote_ + 1);
  }

  // The '"' at `quote` encloses one keyword or identifier (syntax error at or near "FROM"):
  // SQL vocabulary, not a literal.
  bool IsWordToken(size_t quote) const {
    const size_t close = s_.find('"', quote + 1);
    if (close == kNpos || close == quote + 1) return false;
    if (IsDigit(static_cast<unsigned char>(s_[quote + 1]))) return false;
    for (size_t k = quote + 1; k < close; ++k) {
      const unsigned char ch = static_cast<unsigned char>(s_[k]);
      if (!IsIdentCont(ch) || ch == '$') return false;
    }
    return true;
  }

  void ObjectName() {
    const size_t close = s_.find('"', i_ + 1);
    if (close == kNpos) return QuotedValue();
    out_.append(s_.substr(i_, close + 1 - i_));
    i_ = close + 1;
  }

  void SingleQuoted() {
    const size_t end = lexer_.ScanStandardString(i_);
    out_.push_back('\'');
    if (end == kNpos) return MaskRest();
    out_.append("?'");
    i_ = end;
  }

  void JsonData() {
    const size_t nl = s_.find('\n', i_);
    const size_t line_end = nl == kNpos ? s_.size() : nl;
    const size_t colon = s_.substr(0, line_end).find(": ", i_);
    if (colon == kNpos) {
      out_.push_back(s_[i_++]);
      return;
    }
    out_.append(s_.substr(i_, colon + 2 - i_));
    out_.push_back('?');
    i_ = line_end;
  }

  bool DollarBody() {
    const size_t tag_end = lexer_.ScanDollarTag(i_);
    if (tag_end == kNpos) return false;
    const size_t end = lexer_.ScanDollarBody(i_, tag_end);
    if (end == kNpos) {
      MaskRest();
      return true;
    }
    out_.push_back('?');
    i_ = end;
    return true;
  }

  std::string_view s_;
  SqlLexer lexer_;
  size_t last_dquote_;
  size_t last_paren_;
  size_t last_json_data_ = kNpos;
  size_t json_data_end_ = 0;
  FieldRedactStats* stats_;
  std::string out_;
  size_t i_ = 0;
};

// "Process 123: " at pos (a deadlock report's query line).
size_t ProcessQueryStart(std::string_view s, size_t pos) {
  if (!StartsAt(s, pos, "Process ")) return kNpos;
  size_t i = pos + 8;
  const size_t digits = i;
  while (i < s.size() && IsDigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == digits || !StartsAt(s, i, ": ")) return kNpos;
  return i + 2;
}

bool HasProcessQueryLine(std::string_view s) {
  for (size_t p = 0; p < s.size();) {
    if (ProcessQueryStart(s, p) != kNpos) return true;
    const size_t nl = s.find('\n', p);
    if (nl == kNpos) break;
    p = nl + 1;
  }
  return false;
}

// Deadlock report: "Process N waits for ..." lines (text) and "Process N: <query>" (SQL that
// may continue on lines not starting with "Process ").
std::string RedactDeadlockDetail(std::string_view s, FieldRedactStats* stats) {
  std::string out;
  size_t p = 0;
  while (p < s.size()) {
    const size_t query = ProcessQueryStart(s, p);
    size_t end = s.find('\n', p);
    if (query != kNpos) {
      while (end != kNpos && !StartsAt(s, end + 1, "Process ")) end = s.find('\n', end + 1);
    }
    const size_t stop = end == kNpos ? s.size() : end;
    if (query != kNpos) {
      out.append(s.substr(p, query - p));
      out.append(RedactLogSql(s.substr(query, stop - query), false, stats));
    } else {
      out.append(RedactLogText(s.substr(p, stop - p), stats));
    }
    if (end == kNpos) break;
    out.push_back('\n');
    p = end + 1;
  }
  return out;
}

// The '"' that closes a CONTEXT SQL frame opened before `begin`: the first '"' at a token
// boundary that ends a line. kNpos when the SQL does not lex or never ends so.
size_t SqlFrameEnd(std::string_view s, size_t begin) {
  const SqlLexer lexer(s);
  size_t pos = begin;
  while (pos < s.size()) {
    if (s[pos] == '"' && (pos + 1 == s.size() || s[pos + 1] == '\n')) return pos;
    const auto t = lexer.Next(pos);
    if (t.kind == TokenKind::kError) return kNpos;
    pos = t.end;
  }
  return kNpos;
}

constexpr std::array<std::string_view, 3> kSqlFrameOpeners = {
    "SQL statement \"", "SQL expression \"", "PL/pgSQL expression \""};

std::string_view SqlFrameOpenerAt(std::string_view s, size_t pos) {
  for (std::string_view opener : kSqlFrameOpeners) {
    if (StartsAt(s, pos, opener)) return opener;
  }
  return {};
}

}  // namespace

std::string RedactLogText(std::string_view text, FieldRedactStats* stats) {
  const std::string s = RedactSecrets(text);
  return TextRedactor(s, stats).Run();
}

std::string RedactLogSql(std::string_view sql, bool truncated, FieldRedactStats* stats) {
  RedactOptions options;
  options.truncated_input = truncated;
  RedactStats rs;
  std::string out = RedactSql(sql, options, &rs);
  if (rs.failed) ++stats->fail_closed;
  return out;
}

std::string RedactLogDetail(std::string_view detail, FieldRedactStats* stats) {
  constexpr std::string_view kPrepare = "prepare: ";
  if (detail.starts_with(kPrepare)) {
    return std::string(kPrepare) + RedactLogSql(detail.substr(kPrepare.size()), false, stats);
  }
  if (HasProcessQueryLine(detail)) return RedactDeadlockDetail(detail, stats);
  return RedactLogText(detail, stats);
}

std::string RedactLogContext(std::string_view s, FieldRedactStats* stats) {
  std::string out;
  size_t run = 0;  // start of the text not yet emitted (between SQL frames)
  size_t line = 0;
  while (line < s.size()) {
    const std::string_view opener = SqlFrameOpenerAt(s, line);
    if (!opener.empty()) {
      const int before = stats->fail_closed;
      out.append(RedactLogText(s.substr(run, line - run), stats));
      const size_t begin = line + opener.size();
      const size_t end = before == stats->fail_closed ? SqlFrameEnd(s, begin) : kNpos;
      out.append(opener);
      if (end == kNpos) {  // the frames cannot be told apart any more
        out.append(MaskFailClosed(s.substr(begin)));
        ++stats->fail_closed;
        return out;
      }
      out.append(RedactLogSql(s.substr(begin, end - begin), false, stats));
      out.push_back('"');
      run = line = end + 1;
      continue;
    }
    const size_t nl = s.find('\n', line);
    if (nl == kNpos) break;
    line = nl + 1;
  }
  out.append(RedactLogText(s.substr(run), stats));
  return out;
}

}  // namespace pgagent
