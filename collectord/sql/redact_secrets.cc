// RedactSecrets: a linear scan for the three places a secret appears in PostgreSQL log text.
//  1. SQL: PASSWORD '...' (also E'...' and $tag$...$tag$), as in CREATE/ALTER ROLE/USER
//     [ENCRYPTED] PASSWORD. The quoted value becomes a bare *** (not '***': a quote right
//     after the value, as in "PASSWORD 'a'''", must not pair with ours on a second pass).
//  2. Connection strings: <anything>password = value, quoted ('..' with \ escapes) or up to
//     the next whitespace. Matches password=, sslpassword=, PGPASSWORD=. Value -> *** .
//  3. URIs: postgres[ql]://user:secret@host -> postgres[ql]://user:***@host .
// An unterminated quoted value replaces the rest of the text with *** (fail closed).
#include "collectord/sql/redact.h"
#include "collectord/sql/sql_lexer.h"

namespace pgagent {
namespace {

using sql_internal::kNpos;
using sql_internal::SqlLexer;

constexpr std::string_view kMask = "***";

bool MatchesLower(std::string_view text, size_t pos, std::string_view lower) {
  if (pos + lower.size() > text.size()) return false;
  for (size_t k = 0; k < lower.size(); ++k) {
    char c = text[pos + k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[k]) return false;
  }
  return true;
}

struct Replacement {
  size_t begin = kNpos;  // kNpos: nothing to replace
  size_t end = kNpos;    // kNpos with begin set: unterminated, replace the rest
  bool quoted = false;   // emit '***' instead of ***
};

class SecretScanner {
 public:
  explicit SecretScanner(std::string_view text) : text_(text), lexer_(text) {}

  std::string Run();

 private:
  // pos is at "password" (any case). Returns where its value is, if it has one.
  Replacement PasswordValue(size_t pos) const;
  Replacement ConninfoValue(size_t pos) const;  // pos after '='
  Replacement SqlValue(size_t pos) const;       // pos at the quote / E / $
  // pos is at "postgres" (any case). Returns the URI's password span, if any, and sets
  // *resume to where scanning continues.
  Replacement UriPassword(size_t pos, size_t* resume) const;

  std::string_view text_;
  SqlLexer lexer_;
};

std::string SecretScanner::Run() {
  std::string out;
  out.reserve(text_.size());
  size_t copied = 0;
  size_t i = 0;
  while (i < text_.size()) {
    const char c = text_[i];
    Replacement r;
    size_t resume = i + 1;
    if ((c == 'p' || c == 'P') && MatchesLower(text_, i, "password")) {
      r = PasswordValue(i);
      resume = i + 8;
    } else if ((c == 'p' || c == 'P') && MatchesLower(text_, i, "postgres")) {
      r = UriPassword(i, &resume);
    }
    if (r.begin == kNpos) {
      i = resume;
      continue;
    }
    out.append(text_.substr(copied, r.begin - copied));
    if (r.end == kNpos) {  // unterminated: nothing after this point is trusted
      out.append(kMask);
      return out;
    }
    if (r.quoted) out.push_back('\'');
    out.append(kMask);
    if (r.quoted) out.push_back('\'');
    copied = i = r.end;
  }
  out.append(text_.substr(copied));
  return out;
}

Replacement SecretScanner::PasswordValue(size_t pos) const {
  const size_t after = pos + 8;
  size_t j = lexer_.SkipSpaces(after);
  if (j < text_.size() && text_[j] == '=') return ConninfoValue(lexer_.SkipSpaces(j + 1));
  const bool word_start = pos == 0 || !sql_internal::IsIdentCont(text_[pos - 1]);
  if (!word_start || j == after || j >= text_.size()) return {};
  return SqlValue(j);
}

Replacement SecretScanner::ConninfoValue(size_t pos) const {
  const size_t n = text_.size();
  if (pos >= n) return {};
  if (text_[pos] == '\'') {
    for (size_t i = pos + 1; i < n; ++i) {
      if (text_[i] == '\\') {
        ++i;
      } else if (text_[i] == '\'') {
        return {pos, i + 1, true};
      }
    }
    return {pos, kNpos, true};
  }
  size_t i = pos;
  while (i < n && !sql_internal::IsSpace(text_[i])) ++i;
  if (i == pos) return {};
  return {pos, i, false};
}

Replacement SecretScanner::SqlValue(size_t pos) const {
  const char c = text_[pos];
  size_t end = kNpos;
  if (c == '\'') {
    end = lexer_.ScanStandardString(pos);
  } else if ((c == 'e' || c == 'E') && pos + 1 < text_.size() && text_[pos + 1] == '\'') {
    end = lexer_.ScanEscapeString(pos + 1);
  } else if (c == '$') {
    size_t tag_end = lexer_.ScanDollarTag(pos);
    if (tag_end == kNpos) return {};
    end = lexer_.ScanDollarBody(pos, tag_end);
  } else {
    return {};  // PASSWORD NULL, or prose such as "password authentication failed"
  }
  return {pos, end, false};
}

Replacement SecretScanner::UriPassword(size_t pos, size_t* resume) const {
  const size_t n = text_.size();
  size_t i = pos + 8;
  if (MatchesLower(text_, i, "ql")) i += 2;
  *resume = i;
  if (!MatchesLower(text_, i, "://")) return {};
  const size_t authority = i + 3;
  size_t end = authority;
  while (end < n && text_[end] != '/' && text_[end] != '?' && text_[end] != '#' &&
         !sql_internal::IsSpace(text_[end])) {
    ++end;
  }
  *resume = end;
  const size_t at = text_.substr(authority, end - authority).rfind('@');
  if (at == std::string_view::npos) return {};
  const size_t colon = text_.substr(authority, at).find(':');
  if (colon == std::string_view::npos) return {};
  return {authority + colon + 1, authority + at, false};
}

}  // namespace

std::string RedactSecrets(std::string_view text) { return SecretScanner(text).Run(); }

}  // namespace pgagent
