// RedactSql: one pass over the text with SqlLexer; literals become '?', everything else is
// copied byte for byte. Decisions (documented in redact.h):
//  - every literal kind becomes a bare ? (a string is not kept as '?', so the output never
//    holds a quote that could be mistaken for an unterminated string);
//  - a sign before a number is kept: "x = -5" -> "x = -?";
//  - IN (...) of literals collapses to IN (?) when at least one element is a literal; a list
//    of only $n / ? placeholders (pg_stat_statements' form) is left unchanged;
//  - comments are masked, except the correlation tag;
//  - text the lexer rejects goes through MaskFailClosed (never a marker that hides what
//    kind of statement it was, never the raw text).
#include "collectord/sql/redact.h"

#include "collectord/sql/correlation.h"
#include "collectord/sql/sql_lexer.h"

namespace pgagent {
namespace {

using sql_internal::kNpos;
using sql_internal::SqlLexer;
using sql_internal::Token;
using sql_internal::TokenKind;

constexpr std::string_view kMaskedBlockComment = "/* ? */";
constexpr std::string_view kMaskedLineComment = "-- ?";

bool IsInKeyword(std::string_view word) {
  return word.size() == 2 && (word[0] | 0x20) == 'i' && (word[1] | 0x20) == 'n';
}

class Redactor {
 public:
  Redactor(std::string_view sql, const RedactOptions& options)
      : sql_(sql), lexer_(sql), options_(options) {}

  // Returns false when the text is malformed (fail closed).
  bool Run(std::string* out, RedactStats* stats);
  // Start of the unterminated token that made Run() fail (kNpos before).
  size_t error_pos() const { return error_pos_; }

 private:
  // After the word IN ending at pos: when "(" literal, literal, ... ")" follows, appends the
  // spaces and "(?)" and returns one past ")". Returns kNpos (nothing appended) otherwise.
  size_t CollapseInList(size_t pos, std::string* out, size_t* literals) const;
  // One list element starting at pos (spaces skipped): literal, $n or ?, an optional sign
  // before a number and an optional ::type cast. Returns its end or kNpos.
  size_t ScanListElement(size_t pos, bool* is_literal) const;
  size_t SkipCast(size_t pos) const;
  // RedactOptions::truncated_input: the unterminated token at pos runs to the end.
  void AppendTruncatedTail(size_t pos, std::string* out, RedactStats* stats) const;
  static void AppendComment(std::string_view comment, std::string* out, RedactStats* stats);

  std::string_view sql_;
  SqlLexer lexer_;
  RedactOptions options_;
  size_t error_pos_ = kNpos;
};

bool Redactor::Run(std::string* out, RedactStats* stats) {
  const size_t n = sql_.size();
  size_t* literals = &stats->literals;
  size_t pos = 0;
  while (pos < n) {
    const Token t = lexer_.Next(pos);
    switch (t.kind) {
      case TokenKind::kError:
        error_pos_ = pos;
        if (!options_.truncated_input) return false;
        AppendTruncatedTail(pos, out, stats);
        return true;
      case TokenKind::kLiteral:
        out->push_back('?');
        ++*literals;
        break;
      case TokenKind::kComment:
        AppendComment(sql_.substr(pos, t.end - pos), out, stats);
        break;
      case TokenKind::kWord: {
        std::string_view word = sql_.substr(pos, t.end - pos);
        out->append(word);
        if (IsInKeyword(word)) {
          size_t after = CollapseInList(t.end, out, literals);
          if (after != kNpos) {
            pos = after;
            continue;
          }
        }
        break;
      }
      default:
        out->append(sql_.substr(pos, t.end - pos));
        break;
    }
    pos = t.end;
  }
  return true;
}

size_t Redactor::CollapseInList(size_t pos, std::string* out, size_t* literals) const {
  const size_t open = lexer_.SkipSpaces(pos);
  if (open >= sql_.size() || sql_[open] != '(') return kNpos;
  size_t i = open + 1;
  size_t literal_count = 0;
  while (true) {
    bool is_literal = false;
    i = ScanListElement(i, &is_literal);
    if (i == kNpos) return kNpos;
    if (is_literal) ++literal_count;
    i = lexer_.SkipSpaces(i);
    if (i >= sql_.size()) return kNpos;
    if (sql_[i] == ')') break;
    if (sql_[i] != ',') return kNpos;
    ++i;
  }
  if (literal_count == 0) return kNpos;
  out->append(sql_.substr(pos, open - pos));
  out->append("(?)");
  *literals += literal_count;
  return i + 1;
}

size_t Redactor::ScanListElement(size_t pos, bool* is_literal) const {
  const size_t n = sql_.size();
  size_t i = lexer_.SkipSpaces(pos);
  if (i < n && (sql_[i] == '-' || sql_[i] == '+')) {
    ++i;
    if (i >= n || !(sql_internal::IsDigit(sql_[i]) || sql_[i] == '.')) return kNpos;
  }
  if (i >= n) return kNpos;
  if (sql_[i] == '?') {
    return SkipCast(i + 1);
  }
  const Token t = lexer_.Next(i);
  if (t.kind == TokenKind::kLiteral) {
    *is_literal = true;
  } else if (t.kind != TokenKind::kParam) {
    return kNpos;
  }
  return SkipCast(t.end);
}

// "::word" or "::word[]" after an element; returns pos unchanged when there is no cast and
// kNpos for a cast this simple list form does not cover (the list is then left to the
// token-by-token path, which still redacts every literal).
size_t Redactor::SkipCast(size_t pos) const {
  const size_t n = sql_.size();
  size_t i = lexer_.SkipSpaces(pos);
  if (i + 1 >= n || sql_[i] != ':' || sql_[i + 1] != ':') return pos;
  i = lexer_.SkipSpaces(i + 2);
  if (i >= n || !sql_internal::IsIdentStart(sql_[i])) return kNpos;
  i = lexer_.ScanWord(i);
  if (i + 1 < n && sql_[i] == '[' && sql_[i + 1] == ']') i += 2;
  return i;
}

void Redactor::AppendTruncatedTail(size_t pos, std::string* out, RedactStats* stats) const {
  std::string_view tail = sql_.substr(pos);
  const bool quoted_ident =
      tail.starts_with('"') || tail.starts_with("U&\"") || tail.starts_with("u&\"");
  if (quoted_ident) {
    out->append(tail);
  } else if (tail.starts_with("/*")) {
    out->append("/* ?");  // the cut comment stays open, as it was
    ++stats->comments;
  } else {
    out->push_back('?');
    ++stats->literals;
  }
  stats->truncated_tail = true;
}

void Redactor::AppendComment(std::string_view comment, std::string* out, RedactStats* stats) {
  if (comment.starts_with("--")) {
    out->append(kMaskedLineComment);
  } else if (comment == kPgagentTagComment || IsCorrelationTagComment(comment)) {
    out->append(comment);
    return;
  } else {
    out->append(kMaskedBlockComment);
  }
  ++stats->comments;
}

}  // namespace

std::string RedactSql(std::string_view sql, const RedactOptions& options, RedactStats* stats) {
  std::string out;
  out.reserve(sql.size());
  RedactStats local;
  Redactor redactor(sql, options);
  if (!redactor.Run(&out, &local)) {
    local = RedactStats{.failed = true};
    out = sql_internal::MaskFailClosedOpenAt(sql, redactor.error_pos(), &local.literals);
  }
  if (stats != nullptr) *stats = local;
  return out;
}

std::string RedactSql(std::string_view sql, RedactStats* stats) {
  return RedactSql(sql, RedactOptions{}, stats);
}

}  // namespace pgagent
