#include "collectord/sql/correlation.h"

#include <algorithm>

namespace pgagent {
namespace {

// Longest run of literal characters that every match of an ECMAScript pattern contains.
// Conservative: only top-level (depth 0) atoms count, a quantified atom ends the run, and a
// pattern with '|' anywhere yields "" (no pre-check). "" means "always run the regex".
class RequiredLiteral {
 public:
  explicit RequiredLiteral(std::string_view pattern) : p_(pattern) {}

  std::string Derive() {
    if (p_.find('|') != std::string_view::npos) return "";
    size_t i = 0;
    while (i < p_.size()) i = Step(i);
    Flush();
    return best_;
  }

 private:
  size_t Step(size_t i) {
    const char c = p_[i];
    switch (c) {
      case '\\':
        return Escape(i);
      case '[':
        Flush();
        return SkipClass(i);
      case '(':
        Flush();
        ++depth_;
        return i + 1;
      case ')':
        Flush();
        if (depth_ > 0) --depth_;
        return i + 1;
      case '*':
      case '?':
        DropLastAndFlush();
        return i + 1;
      case '{':
        DropLastAndFlush();
        return SkipTo(i, '}');
      case '+':
      case '.':
      case '^':
      case '$':
        Flush();
        return i + 1;
      default:
        Literal(c);
        return i + 1;
    }
  }

  size_t Escape(size_t i) {
    if (i + 1 >= p_.size()) {
      Flush();
      return p_.size();
    }
    const char d = p_[i + 1];
    const bool alnum = (d >= '0' && d <= '9') || (d >= 'a' && d <= 'z') || (d >= 'A' && d <= 'Z');
    if (!alnum) {
      Literal(d);
      return i + 2;
    }
    Flush();  // \d \s \w \b \xHH \uHHHH \cX \1 ...: a class or an escape we don't evaluate
    size_t next = i + 2;
    if (d == 'x') next += 2;
    if (d == 'u') next += 4;
    if (d == 'c') next += 1;
    if (d >= '0' && d <= '9') {
      while (next < p_.size() && p_[next] >= '0' && p_[next] <= '9') ++next;
    }
    return std::min(next, p_.size());
  }

  size_t SkipClass(size_t i) {
    size_t j = i + 1;
    if (j < p_.size() && p_[j] == '^') ++j;
    if (j < p_.size() && p_[j] == ']') ++j;
    while (j < p_.size() && p_[j] != ']') j += p_[j] == '\\' ? 2 : 1;
    return std::min(j + 1, p_.size());
  }

  size_t SkipTo(size_t i, char close) {
    size_t j = p_.find(close, i);
    return j == std::string_view::npos ? p_.size() : j + 1;
  }

  void Literal(char c) {
    if (depth_ == 0) run_.push_back(c);
  }
  void DropLastAndFlush() {
    if (!run_.empty()) run_.pop_back();
    Flush();
  }
  void Flush() {
    if (run_.size() > best_.size()) best_ = run_;
    run_.clear();
  }

  std::string_view p_;
  size_t depth_ = 0;
  std::string run_;
  std::string best_;
};

Result<std::regex> Compile(const std::string& pattern, std::string_view what) {
  if (pattern.size() > CorrelationExtractor::kMaxPatternLength) {
    return InvalidArgumentError(std::string(what) + " is longer than " +
                                std::to_string(CorrelationExtractor::kMaxPatternLength));
  }
  try {
    std::regex re(pattern, std::regex::ECMAScript);
    if (re.mark_count() < 1) {
      return InvalidArgumentError(std::string(what) + " has no capture group for the id");
    }
    return re;
  } catch (const std::regex_error& e) {
    return InvalidArgumentError(std::string(what) + " does not compile: " + e.what());
  }
}

std::optional<std::string> FirstGroup(const std::regex& re, std::string_view text,
                                      std::regex_constants::match_flag_type flags) {
  std::match_results<std::string_view::const_iterator> m;
  try {
    if (!std::regex_search(text.begin(), text.end(), m, re, flags)) return std::nullopt;
  } catch (const std::regex_error&) {
    return std::nullopt;  // error_complexity / error_stack: treat as no match
  }
  if (!m[1].matched || m[1].length() == 0) return std::nullopt;
  return m[1].str();
}

// See the class comment: substring pre-check, then the regex on a bounded window per
// occurrence of the literal, with anchors honoured at the window's cut edges.
std::optional<std::string> Search(const std::regex& re, const std::string& literal,
                                  std::string_view text) {
  using std::regex_constants::match_default;
  using std::regex_constants::match_not_bol;
  using std::regex_constants::match_not_eol;
  using std::regex_constants::match_prev_avail;
  if (literal.empty()) {
    const size_t len = std::min(text.size(), CorrelationExtractor::kMaxRegexInput);
    return FirstGroup(re, text.substr(0, len), len < text.size() ? match_not_eol : match_default);
  }
  size_t pos = text.find(literal);
  for (size_t k = 0; pos != std::string_view::npos && k < CorrelationExtractor::kMaxOccurrences;
       ++k) {
    const size_t begin =
        pos > CorrelationExtractor::kWindowBefore ? pos - CorrelationExtractor::kWindowBefore : 0;
    const size_t end =
        std::min(text.size(), pos + literal.size() + CorrelationExtractor::kWindowAfter);
    auto flags = match_default;
    if (begin > 0) flags |= match_not_bol | match_prev_avail;
    if (end < text.size()) flags |= match_not_eol;
    // match_prev_avail lets ^ and \b look at text[begin - 1], which is inside `text`.
    std::optional<std::string> id = FirstGroup(re, text.substr(begin, end - begin), flags);
    if (id) return id;
    pos = text.find(literal, pos + 1);
  }
  return std::nullopt;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX decoding (sqlcommenter URL-encodes values). nullopt on a malformed escape.
std::optional<std::string> UrlDecode(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] != '%') {
      out.push_back(value[i]);
      continue;
    }
    if (i + 2 >= value.size()) return std::nullopt;
    const int hi = HexValue(value[i + 1]);
    const int lo = HexValue(value[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// True when pos lies inside a /* */ comment: the nearest "/*" before it is not closed.
bool InsideBlockComment(std::string_view text, size_t pos) {
  const size_t open = text.rfind("/*", pos);
  if (open == std::string_view::npos) return false;
  const size_t close = text.find("*/", open + 2);
  return close == std::string_view::npos || close > pos;
}

bool AllZero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

// The raw value of traceparent='...' at key position pos, or nullopt.
std::optional<std::string_view> TraceparentRawValue(std::string_view query, size_t pos) {
  constexpr std::string_view kKey = "traceparent";
  constexpr size_t kMaxEncodedValue = 256;
  size_t i = pos + kKey.size();
  while (i < query.size() && query[i] == ' ') ++i;
  if (i >= query.size() || query[i] != '=') return std::nullopt;
  ++i;
  while (i < query.size() && query[i] == ' ') ++i;
  if (i >= query.size() || query[i] != '\'') return std::nullopt;
  const size_t close = query.find('\'', i + 1);
  if (close == std::string_view::npos || close - i - 1 > kMaxEncodedValue) return std::nullopt;
  return query.substr(i + 1, close - i - 1);
}

bool IsRegexSpace(char c) {  // ECMAScript \s over ASCII
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsIdChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
}

constexpr std::string_view kTag = "correlation:";
constexpr size_t kIdLen = 36;

// The default comment pattern matched around the "correlation:" at `pos`: sets [*begin,
// *end) to the whole "/* ... */" match and returns true, or returns false.
bool MatchTagAt(std::string_view text, size_t pos, size_t* begin, size_t* end) {
  size_t b = pos;
  while (b > 0 && IsRegexSpace(text[b - 1])) --b;
  if (b < 2 || text[b - 2] != '/' || text[b - 1] != '*') return false;
  size_t id = pos + kTag.size();
  if (text.size() - id < kIdLen) return false;
  size_t e = id;
  while (e < id + kIdLen && IsIdChar(text[e])) ++e;
  if (e != id + kIdLen) return false;
  while (e < text.size() && IsRegexSpace(text[e])) ++e;
  if (text.size() - e < 2 || text[e] != '*' || text[e + 1] != '/') return false;
  *begin = b - 2;
  *end = e + 2;
  return true;
}

// The id matched by CorrelationOptions' default comment_pattern
// (/\*\s*correlation:([0-9a-fA-F-]{36})\s*\*/), by hand; tested against the regex.
std::optional<std::string> DefaultCommentCorrelation(std::string_view text) {
  for (size_t pos = text.find(kTag); pos != std::string_view::npos;
       pos = text.find(kTag, pos + 1)) {
    size_t begin = 0;
    size_t end = 0;
    if (MatchTagAt(text, pos, &begin, &end)) {
      return std::string(text.substr(pos + kTag.size(), kIdLen));
    }
  }
  return std::nullopt;
}

}  // namespace

Result<CorrelationExtractor> CorrelationExtractor::Create(const CorrelationOptions& options) {
  CorrelationExtractor x;
  PGAGENT_ASSIGN_OR_RETURN(x.app_re_,
                           Compile(options.application_name_pattern, "application_name_pattern"));
  PGAGENT_ASSIGN_OR_RETURN(x.comment_re_, Compile(options.comment_pattern, "comment_pattern"));
  x.traceparent_re_ = std::regex("^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$");
  x.extract_traceparent_ = options.extract_traceparent;
  x.app_literal_ = RequiredLiteral(options.application_name_pattern).Derive();
  x.comment_literal_ = RequiredLiteral(options.comment_pattern).Derive();
  x.default_comment_ = options.comment_pattern == CorrelationOptions{}.comment_pattern;
  return x;
}

std::optional<std::string> CorrelationExtractor::FromApplicationName(
    std::string_view application_name) const {
  return Search(app_re_, app_literal_, application_name);
}

std::optional<std::string> CorrelationExtractor::FromQuery(std::string_view query) const {
  if (default_comment_) return DefaultCommentCorrelation(query);
  return Search(comment_re_, comment_literal_, query);
}

std::optional<std::string> CorrelationExtractor::FromQueryByRegexForTest(
    std::string_view query) const {
  return Search(comment_re_, comment_literal_, query);
}

std::optional<std::string> CorrelationExtractor::Extract(std::string_view application_name,
                                                         std::string_view query) const {
  std::optional<std::string> id = FromApplicationName(application_name);
  if (id) return id;
  return FromQuery(query);
}

std::optional<std::string> CorrelationExtractor::TraceparentFromQuery(
    std::string_view query) const {
  if (!extract_traceparent_) return std::nullopt;
  constexpr std::string_view kKey = "traceparent";
  size_t pos = query.find(kKey);
  for (size_t k = 0; pos != std::string_view::npos && k < kMaxOccurrences; ++k) {
    std::optional<std::string_view> raw = TraceparentRawValue(query, pos);
    if (raw && InsideBlockComment(query, pos)) {
      std::optional<std::string> value = UrlDecode(*raw);
      std::smatch m;
      if (value && std::regex_match(*value, m, traceparent_re_) &&
          value->compare(0, 2, "ff") != 0 && !AllZero(m[1].str()) && !AllZero(m[2].str())) {
        return value;
      }
    }
    pos = query.find(kKey, pos + 1);
  }
  return std::nullopt;
}

bool IsCorrelationTagComment(std::string_view comment) {
  const size_t pos = comment.find(kTag);
  if (pos == std::string_view::npos) return false;
  size_t begin = 0;
  size_t end = 0;
  return MatchTagAt(comment, pos, &begin, &end) && begin == 0 && end == comment.size();
}

}  // namespace pgagent
