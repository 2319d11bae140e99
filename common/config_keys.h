// Internal to the config loader (common/config*.cc): the ONE table of key descriptors that
// drives INI parsing, environment overrides, AllConfigKeys() and DescribeChanges(), so that
// they cannot drift apart. Other code uses common/config.h.
// Thread-safety: the table is immutable after static initialisation.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "common/config.h"

namespace pgagent::config_internal {

using FieldPtr = std::variant<std::string*, int64_t*, double*, bool*>;

// Extra checks on a string value, beyond `choices`.
enum class StringCheck {
  kNone,
  kNonEmpty,
  kAbsolutePath,          // required, absolute
  kOptionalAbsolutePath,  // empty or absolute
  kLogPath,               // "auto" or absolute
  kUrl,                   // scheme checked later, with allow_plain_http
  kProjectId,             // 1..50 characters, no control characters
  kApplicationName,       // 1..63 printable ASCII characters (PostgreSQL's NAMEDATALEN)
  kRegexWithGroup,        // ECMAScript regex with at least one capture group
  kPrintable,             // no control characters (may be empty)
  kQuotable,              // kPrintable; "..." quotes are removed, keeping inner edge spaces
};

struct KeySpec {
  std::string_view section;
  std::string_view key;
  FieldPtr (*field)(Config&) = nullptr;
  std::string_view description;
  std::string_view legacy_env = {};
  int64_t min_int = 0;  // integer keys: inclusive range
  int64_t max_int = 0;
  double min_double = 0;  // double keys: inclusive range
  double max_double = 0;
  std::string_view choices = {};  // "a|b|c": allowed values of a string key, lower case
  StringCheck check = StringCheck::kNone;
  bool secret = false;
  bool restart_required = false;
};

std::span<const KeySpec> AllKeySpecs();

// nullptr when unknown. Names are compared case-insensitively.
const KeySpec* FindKeySpec(std::string_view section, std::string_view key);

// "BITVILLE_PG_<SECTION>_<KEY>".
std::string CanonicalEnvName(const KeySpec& spec);

// The field of `spec` in `config`.
FieldPtr Field(Config& config, const KeySpec& spec);

// The value as written in an INI file (secrets in clear: callers mask them).
std::string FormatValue(const Config& config, const KeySpec& spec);

// ASCII lower / upper case.
std::string Lower(std::string_view s);
std::string Upper(std::string_view s);

// s in double quotes, with '"', '\\' and control characters escaped.
std::string Quote(std::string_view s);

// A double as "%.15g", with ".0" added to whole numbers ("2.0").
std::string FormatDouble(double v);

// "integer 1..65535", "true|false", "auto|stderr|csvlog|jsonlog", "absolute path", ...
std::string ValueHint(const KeySpec& spec);

}  // namespace pgagent::config_internal
