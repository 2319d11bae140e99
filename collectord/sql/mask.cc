// MaskFailClosed: masking that does not depend on knowing the text's quoting rules. Instead
// of tokenizing (which needs to know whether a backslash escapes a quote, where a dollar body
// ends, ...), it masks ONE span from the first opening quote/tag/value to the last closing
// one. Any quoted byte under any reading lies inside that span, so nothing quoted survives
// even when the text was cut, mixed standard_conforming_strings styles or is binary junk.
#include <algorithm>
#include <string>
#include <string_view>
#include <unordered_map>

#include "collectord/sql/redact.h"
#include "collectord/sql/sql_lexer.h"

namespace pgagent {
namespace {

using sql_internal::IsDigit;
using sql_internal::IsIdentCont;
using sql_internal::kNpos;
using sql_internal::SqlLexer;

// [begin, end) of the text to mask as one piece; begin == kNpos: nothing quoted.
struct Span {
  size_t begin = kNpos;
  size_t end = 0;

  void Cover(size_t b, size_t e) {
    begin = std::min(begin, b);
    end = std::max(end, e);
  }
};

void CoverQuotes(std::string_view s, char quote, Span* span) {
  const size_t first = s.find(quote);
  if (first == std::string_view::npos) return;
  const size_t count = static_cast<size_t>(std::count(s.begin(), s.end(), quote));
  span->Cover(first, count % 2 == 0 ? s.rfind(quote) + 1 : s.size());
}

// Every $tag$ (also one right after a word: a closing tag follows the body's last byte, and a
// word such as a$b$ only costs some over-masking). The span runs from the first to the last;
// a tag seen an odd number of times leaves a body open: to the end.
void CoverDollarBodies(std::string_view s, Span* span) {
  const SqlLexer lexer(s);
  std::unordered_map<std::string_view, size_t> seen;
  size_t first = kNpos;
  size_t last_end = 0;
  for (size_t i = s.find('$'); i != std::string_view::npos; i = s.find('$', i + 1)) {
    const size_t tag_end = lexer.ScanDollarTag(i);
    if (tag_end == kNpos) continue;
    ++seen[s.substr(i, tag_end - i)];
    first = std::min(first, i);
    last_end = tag_end;
    i = tag_end - 1;  // the closing '$' of this tag may not start the next one
  }
  if (first == kNpos) return;
  bool open = false;
  for (const auto& [tag, count] : seen) open = open || count % 2 != 0;
  span->Cover(first, open ? s.size() : last_end);
}

// The unquoted values of "Key (k)=(v)" and "Failing row contains (v)" (log DETAILs) run to
// the last ')' of the text.
void CoverParenValue(std::string_view s, std::string_view opener, Span* span) {
  const size_t pos = s.find(opener);
  if (pos == std::string_view::npos) return;
  const size_t value = pos + opener.size();
  const size_t close = s.rfind(')');
  span->Cover(value, close != std::string_view::npos && close >= value ? close : s.size());
}

// "JSON data, line N: <data>" (a json input error's CONTEXT): the data to the end of its line.
void CoverJsonData(std::string_view s, Span* span) {
  for (size_t pos = s.find("JSON data, line "); pos != std::string_view::npos;
       pos = s.find("JSON data, line ", pos + 1)) {
    const size_t colon = s.find(": ", pos);
    if (colon == std::string_view::npos) return;
    const size_t nl = s.find('\n', colon);
    span->Cover(colon + 2, nl == std::string_view::npos ? s.size() : nl);
  }
}

// Text outside the quoted span: numbers and comments are masked, the rest is copied.
void AppendPlain(std::string_view s, std::string* out, size_t* masked) {
  const SqlLexer lexer(s);
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const bool word_before = i > 0 && IsIdentCont(static_cast<unsigned char>(s[i - 1]));
    if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      const size_t close = s.rfind("*/");
      out->append("/* ? */");
      ++*masked;
      i = close != std::string_view::npos && close > i ? close + 2 : s.size();
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      const size_t nl = s.find('\n', i);
      out->append("-- ?");
      ++*masked;
      i = nl == std::string_view::npos ? s.size() : nl;
    } else if (!word_before && (IsDigit(c) || (c == '.' && i + 1 < s.size() &&
                                               IsDigit(static_cast<unsigned char>(s[i + 1]))))) {
      out->push_back('?');
      ++*masked;
      i = lexer.ScanNumber(i);
    } else {
      out->push_back(static_cast<char>(c));
      ++i;
    }
  }
}

// Where the SQL lexer finds an unterminated token (kNpos: none). Quote counts alone miss an
// open literal after an escaped quote ('a\'b' 'open): the lexer's reading is added.
size_t FirstUnterminatedToken(std::string_view s) {
  const SqlLexer lexer(s);
  for (size_t pos = 0; pos < s.size();) {
    const auto t = lexer.Next(pos);
    if (t.kind == sql_internal::TokenKind::kError) return pos;
    pos = t.end;
  }
  return kNpos;
}

void AppendPlainPart(std::string_view part, std::string* out, size_t* masked) {
  const std::string unsecret = RedactSecrets(part);
  AppendPlain(unsecret, out, masked);
}

}  // namespace

namespace sql_internal {

std::string MaskFailClosedOpenAt(std::string_view s, size_t open_at, size_t* masked) {
  Span span;
  CoverQuotes(s, '\'', &span);
  CoverQuotes(s, '"', &span);
  CoverDollarBodies(s, &span);
  CoverParenValue(s, ")=(", &span);
  CoverParenValue(s, "contains (", &span);
  CoverJsonData(s, &span);
  if (open_at == kNpos) open_at = FirstUnterminatedToken(s);
  if (open_at != kNpos) span.Cover(open_at, s.size());
  std::string out;
  out.reserve(s.size());
  size_t count = 0;
  if (span.begin == kNpos) {
    AppendPlainPart(s, &out, &count);
  } else {
    // Secrets are masked in the parts outside the span (inside it everything is).
    AppendPlainPart(s.substr(0, span.begin), &out, &count);
    out.push_back('?');
    ++count;
    AppendPlainPart(s.substr(span.end), &out, &count);
  }
  if (masked != nullptr) *masked = count;
  return out;
}

}  // namespace sql_internal

std::string MaskFailClosed(std::string_view text, size_t* masked) {
  return sql_internal::MaskFailClosedOpenAt(text, kNpos, masked);
}

}  // namespace pgagent
