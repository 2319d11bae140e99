#include "collectord/sql/sql_lexer.h"

#include <array>
#include <cstring>

namespace pgagent::sql_internal {
namespace {

enum : uint8_t { kSpaceBit = 1, kIdentStartBit = 2, kIdentContBit = 4, kDigitBit = 8 };

constexpr std::array<uint8_t, 256> MakeClassTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    // PostgreSQL's scanner: space, \t, \n, \r, \f (and \v since PG 16).
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') v |= kSpaceBit;
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
    if (letter) v |= kIdentStartBit | kIdentContBit;
    if (c >= '0' && c <= '9') v |= kDigitBit | kIdentContBit;
    if (c == '$') v |= kIdentContBit;
    t[c] = v;
  }
  return t;
}

constexpr std::array<uint8_t, 256> kClass = MakeClassTable();

bool IsLower(unsigned char c, char lower) {
  return (c | 0x20) == static_cast<unsigned char>(lower);
}

}  // namespace

bool IsSpace(unsigned char c) { return kClass[c] & kSpaceBit; }
bool IsIdentStart(unsigned char c) { return kClass[c] & kIdentStartBit; }
bool IsIdentCont(unsigned char c) { return kClass[c] & kIdentContBit; }
bool IsDigit(unsigned char c) { return kClass[c] & kDigitBit; }

Token SqlLexer::Next(size_t pos) const {
  const unsigned char c = At(pos);
  const size_t n = s_.size();
  if (IsSpace(c)) return {TokenKind::kSpace, SkipSpaces(pos)};
  if (c == '-' && HasAt(pos + 1, '-')) {
    const void* nl = std::memchr(s_.data() + pos, '\n', n - pos);
    size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - s_.data()) : n;
    return {TokenKind::kComment, end};
  }
  if (c == '/' && HasAt(pos + 1, '*')) {
    size_t end = ScanBlockComment(pos);
    return end == kNpos ? Token{TokenKind::kError, n} : Token{TokenKind::kComment, end};
  }
  if (c == '\'') {
    size_t end = ScanStandardString(pos);
    return end == kNpos ? Token{TokenKind::kError, n} : Token{TokenKind::kLiteral, end};
  }
  if (c == '"') {
    size_t end = ScanQuotedIdent(pos);
    return end == kNpos ? Token{TokenKind::kError, n} : Token{TokenKind::kQuotedIdent, end};
  }
  if (c == '$') return Dollar(pos);
  if (c == '.' && HasAt(pos + 1, '.')) return {TokenKind::kOther, pos + 2};  // 1..10 range
  if (IsDigit(c) || (c == '.' && IsDigit(At(pos + 1)) && pos + 1 < n)) {
    return {TokenKind::kLiteral, ScanNumber(pos)};
  }
  if (IsIdentStart(c)) return PrefixedOrWord(pos);
  return {TokenKind::kOther, pos + 1};
}

// E'..', B'..', X'..', N'..', U&'..' and U&"..". Reached only at a token start, so "note'x'"
// is the word note followed by a string, as in PostgreSQL.
Token SqlLexer::PrefixedOrWord(size_t pos) const {
  const unsigned char c = At(pos);
  const size_t n = s_.size();
  size_t end = kNpos;
  TokenKind kind = TokenKind::kLiteral;
  if (HasAt(pos + 1, '\'')) {
    if (IsLower(c, 'e')) {
      end = ScanEscapeString(pos + 1);
    } else if (IsLower(c, 'b') || IsLower(c, 'x') || IsLower(c, 'n')) {
      end = ScanStandardString(pos + 1);
    } else {
      return {TokenKind::kWord, ScanWord(pos)};
    }
  } else if (IsLower(c, 'u') && HasAt(pos + 1, '&') && HasAt(pos + 2, '\'')) {
    end = ScanStandardString(pos + 2);
  } else if (IsLower(c, 'u') && HasAt(pos + 1, '&') && HasAt(pos + 2, '"')) {
    end = ScanQuotedIdent(pos + 2);
    kind = TokenKind::kQuotedIdent;
  } else {
    return {TokenKind::kWord, ScanWord(pos)};
  }
  return end == kNpos ? Token{TokenKind::kError, n} : Token{kind, end};
}

// $1 parameter, $tag$ body $tag$, or a lone '$' (an operator character at worst).
Token SqlLexer::Dollar(size_t pos) const {
  const size_t n = s_.size();
  if (IsDigit(At(pos + 1)) && pos + 1 < n) {
    size_t i = pos + 1;
    while (i < n && IsDigit(At(i))) ++i;
    return {TokenKind::kParam, i};
  }
  size_t tag_end = ScanDollarTag(pos);
  if (tag_end == kNpos) return {TokenKind::kOther, pos + 1};
  size_t end = ScanDollarBody(pos, tag_end);
  return end == kNpos ? Token{TokenKind::kError, n} : Token{TokenKind::kLiteral, end};
}

size_t SqlLexer::ScanStandardString(size_t pos) const {
  const size_t n = s_.size();
  size_t i = pos + 1;
  while (i < n) {
    const void* q = std::memchr(s_.data() + i, '\'', n - i);
    if (q == nullptr) return kNpos;
    i = static_cast<size_t>(static_cast<const char*>(q) - s_.data()) + 1;
    if (!HasAt(i, '\'')) return i;
    ++i;  // '' is an escaped quote
  }
  return kNpos;
}

size_t SqlLexer::ScanEscapeString(size_t pos) const {
  const size_t n = s_.size();
  for (size_t i = pos + 1; i < n; ++i) {
    const unsigned char c = At(i);
    if (c == '\\') {
      ++i;  // skips the escaped byte; a trailing backslash leaves i == n: unterminated
    } else if (c == '\'') {
      if (!HasAt(i + 1, '\'')) return i + 1;
      ++i;
    }
  }
  return kNpos;
}

size_t SqlLexer::ScanQuotedIdent(size_t pos) const {
  const size_t n = s_.size();
  size_t i = pos + 1;
  while (i < n) {
    const void* q = std::memchr(s_.data() + i, '"', n - i);
    if (q == nullptr) return kNpos;
    i = static_cast<size_t>(static_cast<const char*>(q) - s_.data()) + 1;
    if (!HasAt(i, '"')) return i;
    ++i;
  }
  return kNpos;
}

size_t SqlLexer::ScanBlockComment(size_t pos) const {
  const size_t n = s_.size();
  size_t depth = 1;
  size_t i = pos + 2;
  while (i < n) {
    if (At(i) == '/' && HasAt(i + 1, '*')) {
      ++depth;
      i += 2;
    } else if (At(i) == '*' && HasAt(i + 1, '/')) {
      i += 2;
      if (--depth == 0) return i;
    } else {
      ++i;
    }
  }
  return kNpos;
}

size_t SqlLexer::ScanDollarTag(size_t pos) const {
  const size_t n = s_.size();
  size_t i = pos + 1;
  if (i < n && IsIdentStart(At(i))) {
    ++i;
    while (i < n && IsIdentCont(At(i)) && At(i) != '$') ++i;
  }
  return HasAt(i, '$') ? i + 1 : kNpos;
}

size_t SqlLexer::ScanDollarBody(size_t pos, size_t tag_end) const {
  std::string_view tag = s_.substr(pos, tag_end - pos);
  size_t close = s_.find(tag, tag_end);
  return close == std::string_view::npos ? kNpos : close + tag.size();
}

// Decimal, decimal with fraction and exponent, 0x / 0o / 0b (PG 16) and '_' separators.
// "1..10" stops before "..". Trailing letters (PG 15+ "trailing junk") are a separate word.
size_t SqlLexer::ScanNumber(size_t pos) const {
  const size_t n = s_.size();
  size_t i = pos;
  if (At(i) == '0' &&
      (IsLower(At(i + 1), 'x') || IsLower(At(i + 1), 'o') || IsLower(At(i + 1), 'b')) &&
      pos + 2 < n && (IsDigit(At(i + 2)) || IsIdentStart(At(i + 2)))) {
    i += 2;
    while (i < n && IsIdentCont(At(i)) && At(i) != '$') ++i;
    return i;
  }
  while (i < n && (IsDigit(At(i)) || At(i) == '_')) ++i;
  if (HasAt(i, '.') && !HasAt(i + 1, '.')) {
    ++i;
    while (i < n && (IsDigit(At(i)) || At(i) == '_')) ++i;
  }
  if (i < n && IsLower(At(i), 'e')) {
    size_t j = i + 1;
    if (HasAt(j, '+') || HasAt(j, '-')) ++j;
    if (j < n && IsDigit(At(j))) {
      while (j < n && IsDigit(At(j))) ++j;
      i = j;
    }
  }
  return i;
}

size_t SqlLexer::ScanWord(size_t pos) const {
  const size_t n = s_.size();
  size_t i = pos + 1;
  while (i < n && IsIdentCont(At(i))) ++i;
  return i;
}

size_t SqlLexer::SkipSpaces(size_t pos) const {
  const size_t n = s_.size();
  while (pos < n && IsSpace(At(pos))) ++pos;
  return pos;
}

}  // namespace pgagent::sql_internal
