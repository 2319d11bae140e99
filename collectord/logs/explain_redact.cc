#include "collectord/logs/explain_redact.h"

#include <array>
#include <vector>

#include "collectord/logs/json_scanner.h"
#include "collectord/sql/redact.h"
#include "collectord/sql/sql_lexer.h"
#include "common/json_util.h"

namespace pgagent {
namespace {

using sql_internal::IsDigit;
using sql_internal::kNpos;
using sql_internal::SqlLexer;
using sql_internal::TokenKind;

bool StartsAt(std::string_view s, size_t i, std::string_view p) {
  return s.substr(i, p.size()) == p;
}

bool IsPlainNumber(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  const size_t digits = i;
  while (i < s.size() && (IsDigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    while (i < s.size() && IsDigit(static_cast<unsigned char>(s[i]))) ++i;
  }
  return i > digits && i == s.size();
}

// ---- json -------------------------------------------------------------------------------

// Copies structure, keys and scalars; every string value goes through RedactSql.
std::optional<std::string> RedactJsonPlan(std::string_view s, FieldRedactStats* stats) {
  std::string out;
  out.reserve(s.size());
  JsonScanner js(s);
  std::string value;
  size_t copied = 0;
  while (!js.AtEnd()) {
    const char c = js.Peek();
    const size_t at = js.pos();
    if (c == '"') {
      if (!js.String(&value)) return std::nullopt;
      out.append(s.substr(copied, at - copied));
      if (js.Peek() == ':') {  // a key
        out.append(s.substr(at, js.pos() - at));
      } else {
        AppendJsonString(out, RedactLogSql(value, false, stats));
      }
      copied = js.pos();
    } else if (c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',') {
      js.Consume(c);
    } else {
      std::string_view scalar;
      if (!js.Scalar(&scalar)) return std::nullopt;
      const bool word = scalar == "true" || scalar == "false" || scalar == "null";
      if (!word && !IsPlainNumber(scalar)) return std::nullopt;
    }
  }
  out.append(s.substr(copied));
  return out;
}

// ---- yaml -------------------------------------------------------------------------------

// One "<indent>[- ][Key: ]<value>" line. Values: a JSON string (escape_yaml is escape_json),
// a number, true/false/null, or nothing (a mapping or list follows).
bool RedactYamlLine(std::string_view line, FieldRedactStats* stats, std::string* out) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  if (StartsAt(line, i, "- ")) i += 2;
  size_t value = i;
  if (i < line.size() && line[i] != '"') {
    const size_t colon = line.find(':', i);
    if (colon == kNpos) return false;
    if (line.substr(i, colon - i).find_first_of("\"'") != kNpos) return false;
    value = colon + 1;
    while (value < line.size() && line[value] == ' ') ++value;
  }
  out->append(line.substr(0, value));
  std::string_view rest = line.substr(value);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\r')) rest.remove_suffix(1);
  if (rest.empty() || rest == "true" || rest == "false" || rest == "null" || IsPlainNumber(rest)) {
    out->append(line.substr(value));
    return true;
  }
  JsonScanner js(rest);
  std::string decoded;
  if (rest.front() != '"' || !js.String(&decoded) || !js.AtEnd()) return false;
  AppendJsonString(*out, RedactLogSql(decoded, false, stats));
  return true;
}

std::optional<std::string> RedactYamlPlan(std::string_view s, FieldRedactStats* stats) {
  std::string out;
  out.reserve(s.size());
  size_t p = 0;
  while (p <= s.size()) {
    size_t nl = s.find('\n', p);
    if (nl == kNpos) nl = s.size();
    if (!RedactYamlLine(s.substr(p, nl - p), stats, &out)) return std::nullopt;
    if (nl == s.size()) break;
    out.push_back('\n');
    p = nl + 1;
  }
  return out;
}

// ---- xml --------------------------------------------------------------------------------

// Elements whose text (and whose children's text) is an expression or query.
constexpr std::array<std::string_view, 22> kXmlExpressionElements = {"Query-Text",
                                                                     "Filter",
                                                                     "Index-Cond",
                                                                     "Recheck-Cond",
                                                                     "Hash-Cond",
                                                                     "Merge-Cond",
                                                                     "Join-Filter",
                                                                     "One-Time-Filter",
                                                                     "Output",
                                                                     "Sort-Key",
                                                                     "Group-Key",
                                                                     "Presorted-Key",
                                                                     "Hash-Key",
                                                                     "Order-By",
                                                                     "TID-Cond",
                                                                     "Cache-Key",
                                                                     "Run-Condition",
                                                                     "Function-Call",
                                                                     "Table-Function-Call",
                                                                     "Sampling-Parameters",
                                                                     "Repeatable-Seed",
                                                                     "Query-Parameters"};

bool IsExpressionElement(std::string_view name) {
  for (std::string_view e : kXmlExpressionElements) {
    if (name == e) return true;
  }
  return false;
}

bool DecodeXmlText(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out->push_back(s[i]);
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == kNpos) return false;
    const std::string_view entity = s.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out->push_back('&');
    } else if (entity == "lt") {
      out->push_back('<');
    } else if (entity == "gt") {
      out->push_back('>');
    } else if (entity == "quot") {
      out->push_back('"');
    } else if (entity == "apos") {
      out->push_back('\'');
    } else {
      return false;
    }
    i = semi;
  }
  return true;
}

void AppendXmlEscaped(std::string_view s, std::string* out) {
  for (char c : s) {
    if (c == '&') {
      out->append("&amp;");
    } else if (c == '<') {
      out->append("&lt;");
    } else if (c == '>') {
      out->append("&gt;");
    } else {
      out->push_back(c);
    }
  }
}

// "<Name>", "</Name>", "<Name/>" or PostgreSQL's root "<explain xmlns=...>". Sets *name and
// *closing; false for anything else.
bool ParseXmlTag(std::string_view tag, std::string_view* name, bool* closing, bool* empty) {
  if (tag == "<explain xmlns=\"http://www.postgresql.org/2009/explain\">") {
    *name = "explain";
    *closing = *empty = false;
    return true;
  }
  size_t b = 1;
  *closing = StartsAt(tag, 1, "/");
  if (*closing) ++b;
  size_t e = tag.size() - 1;
  *empty = !*closing && e > b && tag[e - 1] == '/';
  if (*empty) --e;
  if (e <= b) return false;
  for (size_t i = b; i < e; ++i) {
    const char c = tag[i];
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  *name = tag.substr(b, e - b);
  return true;
}

std::optional<std::string> RedactXmlPlan(std::string_view s, FieldRedactStats* stats) {
  std::string out;
  out.reserve(s.size());
  std::vector<std::string_view> stack;
  size_t in_expression = 0;  // open expression elements
  std::string text;
  size_t p = 0;
  while (p < s.size()) {
    if (s[p] == '<') {
      const size_t close = s.find('>', p);
      if (close == kNpos) return std::nullopt;
      const std::string_view tag = s.substr(p, close + 1 - p);
      std::string_view name;
      bool closing = false;
      bool empty = false;
      if (!ParseXmlTag(tag, &name, &closing, &empty)) return std::nullopt;
      if (closing) {
        if (stack.empty() || stack.back() != name) return std::nullopt;
        if (IsExpressionElement(name)) --in_expression;
        stack.pop_back();
      } else if (!empty) {
        stack.push_back(name);
        if (IsExpressionElement(name)) ++in_expression;
      }
      out.append(tag);
      p = close + 1;
      continue;
    }
    size_t end = s.find('<', p);
    if (end == kNpos) end = s.size();
    const std::string_view raw = s.substr(p, end - p);
    if (raw.find_first_not_of(" \t\r\n") == kNpos || (in_expression == 0 && IsPlainNumber(raw))) {
      out.append(raw);
    } else {
      if (!DecodeXmlText(raw, &text)) return std::nullopt;
      AppendXmlEscaped(RedactLogSql(text, false, stats), &out);
    }
    p = end;
  }
  return out;
}

// ---- text -------------------------------------------------------------------------------

// Property lines whose values are numbers or plan vocabulary, never data.
constexpr std::array<std::string_view, 40> kNumericLabels = {"Rows Removed by Filter",
                                                             "Rows Removed by Join Filter",
                                                             "Rows Removed by Index Recheck",
                                                             "Heap Fetches",
                                                             "Heap Blocks",
                                                             "Buffers",
                                                             "I/O Timings",
                                                             "Planning Time",
                                                             "Execution Time",
                                                             "Planning",
                                                             "Execution",
                                                             "Sort Method",
                                                             "Sort Space Used",
                                                             "Workers Planned",
                                                             "Workers Launched",
                                                             "Batches",
                                                             "Buckets",
                                                             "Hits",
                                                             "Misses",
                                                             "Evictions",
                                                             "Overflows",
                                                             "Memory Usage",
                                                             "Peak Memory Usage",
                                                             "JIT",
                                                             "Functions",
                                                             "Options",
                                                             "Timing",
                                                             "Query Identifier",
                                                             "Full-sort Groups",
                                                             "Pre-sorted Groups",
                                                             "Index Searches",
                                                             "Storage",
                                                             "Disk Usage",
                                                             "WAL",
                                                             "Tuples Inserted",
                                                             "Conflicting Tuples",
                                                             "Subplans Removed",
                                                             "Partial Mode",
                                                             "Memory",
                                                             "Worker"};

bool IsNumericLine(std::string_view rest) {
  if (rest.find("(cost=") != kNpos || rest.find("(actual ") != kNpos ||
      rest.find("(never executed)") != kNpos) {
    return true;  // a plan node
  }
  for (std::string_view prefix : {"InitPlan ", "SubPlan ", "Worker ", "Trigger "}) {
    if (rest.starts_with(prefix)) return true;
  }
  const size_t colon = rest.find(':');
  if (colon == kNpos) return false;
  const std::string_view label = rest.substr(0, colon);
  for (std::string_view known : kNumericLabels) {
    if (label == known) return true;
  }
  return false;
}

// The first line of the plan proper after the query text.
bool IsPlanStartLine(std::string_view s, size_t pos) {
  const size_t nl = s.find('\n', pos);
  std::string_view line = s.substr(pos, nl == kNpos ? kNpos : nl - pos);
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  return line.starts_with("Query Parameters: ") || line.starts_with("Query Identifier: ") ||
         IsNumericLine(line);
}

// End of a logical line starting at `pos`: the first '\n' outside any token (a string literal
// may span lines). kNpos when the text does not lex. `query_text`: the line is the Query Text,
// which ends only before a line that starts the plan.
size_t LogicalLineEnd(std::string_view s, size_t pos, bool query_text) {
  const SqlLexer lexer(s);
  while (pos < s.size()) {
    const auto t = lexer.Next(pos);
    if (t.kind == TokenKind::kError) return kNpos;
    if (t.kind == TokenKind::kSpace) {
      for (size_t nl = s.find('\n', pos); nl != kNpos && nl < t.end; nl = s.find('\n', nl + 1)) {
        if (!query_text || IsPlanStartLine(s, nl + 1)) return nl;
      }
    }
    pos = t.end;
  }
  return s.size();
}

// Node and numeric lines: strings and comments masked, numbers and words kept.
std::string KeepNumbers(std::string_view line) {
  const SqlLexer lexer(line);
  std::string out;
  size_t pos = 0;
  while (pos < line.size()) {
    const auto t = lexer.Next(pos);
    const unsigned char c = static_cast<unsigned char>(line[pos]);
    const bool number = IsDigit(c) || c == '.';
    if ((t.kind == TokenKind::kLiteral && !number) || t.kind == TokenKind::kError) {
      out.push_back('?');
    } else if (t.kind == TokenKind::kComment) {
      out.append("/* ? */");
    } else {
      out.append(line.substr(pos, t.end - pos));
    }
    pos = t.end;
  }
  return out;
}

std::string RedactTextPlan(std::string_view s, FieldRedactStats* stats) {
  std::string out;
  out.reserve(s.size());
  size_t p = 0;
  while (p < s.size()) {
    if (s[p] == '\n' || s[p] == ' ') {
      out.push_back(s[p++]);
      continue;
    }
    const bool query_text = StartsAt(s, p, "Query Text: ");
    const size_t end = LogicalLineEnd(s, p, query_text);
    if (end == kNpos) {  // does not lex: nothing after this point is trusted
      out.append(MaskFailClosed(s.substr(p)));
      ++stats->fail_closed;
      return out;
    }
    const std::string_view line = s.substr(p, end - p);
    std::string_view rest = line;
    if (rest.starts_with("->  ")) rest.remove_prefix(4);
    out.append(IsNumericLine(rest) ? KeepNumbers(line) : RedactLogSql(line, false, stats));
    p = end;
  }
  return out;
}

}  // namespace

std::optional<std::string> RedactExplainPlan(std::string_view plan, FieldRedactStats* stats) {
  const size_t first = plan.find_first_not_of(" \t\r\n");
  if (first == kNpos) return std::string(plan);
  const std::string_view head = plan.substr(0, first);
  const std::string_view body = plan.substr(first);
  std::optional<std::string> redacted;
  if (body.front() == '{') {
    redacted = RedactJsonPlan(body, stats);
  } else if (body.front() == '<') {
    redacted = RedactXmlPlan(body, stats);
  } else if (body.starts_with("Query Text: \"") || body.starts_with("Plan:")) {
    redacted = RedactYamlPlan(body, stats);
  } else {
    redacted = RedactTextPlan(body, stats);
  }
  if (!redacted) return std::nullopt;
  return std::string(head) + *redacted;
}

}  // namespace pgagent
