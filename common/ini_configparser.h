// Reads an INI file the way the Python agent read it: Python 3's configparser.ConfigParser()
// with its defaults (BasicInterpolation, strict, '=' and ':' delimiters, '#' and ';' comments
// on their own line only). What differs from libinih, pgagent's own syntax:
//   * no inline comments: "password = pa%%ss ;word" keeps " ;word";
//   * "%%" means "%", and "%(key)s" is replaced by the value of key in the same section or
//     [DEFAULT] (nested at most 10 deep); any other '%' is an error;
//   * a line indented deeper than its key's line continues the value (joined with "\n");
//     empty lines inside such a value are kept, trailing ones dropped;
//   * [DEFAULT] gives every section the keys it does not set itself;
//   * section names are case-sensitive (kept as written here; the loader compares them in
//     lower case), key names are lowered.
// Used by common/config_load.cc, which picks this reading or libinih's per file and warns
// where the two disagree.
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgagent {

// One "key = value" of an INI file as read (the value after interpolation).
struct IniEntry {
  std::string section;  // lower case
  std::string key;      // lower case
  std::string value;
  int line = 0;               // of the key's line; 0 when unknown
  bool from_default = false;  // given to this section by [DEFAULT]
};

// The entries of every section except DEFAULT, in file order, then the [DEFAULT] keys each
// section did not set. Errors (kInvalidArgument, "<path>:<line>: ..."): what configparser
// raises (no section header, duplicate section or key, a line that is not "key = value",
// bad interpolation). Values are never part of a message: they may be secrets.
Result<std::vector<IniEntry>> ReadConfigparserIni(std::string_view content,
                                                  const std::string& path);

}  // namespace pgagent
