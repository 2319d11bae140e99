#include "collectord/pg/statement_columns.h"

#include <charconv>

namespace pgagent {

std::optional<ExtensionVersion> ParseExtensionVersion(std::string_view text) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 >= text.size()) return std::nullopt;
  ExtensionVersion v;
  auto major = text.substr(0, dot);
  auto minor = text.substr(dot + 1);
  auto r1 = std::from_chars(major.data(), major.data() + major.size(), v.major);
  auto r2 = std::from_chars(minor.data(), minor.data() + minor.size(), v.minor);
  if (r1.ec != std::errc() || r1.ptr != major.data() + major.size()) return std::nullopt;
  if (r2.ec != std::errc() || r2.ptr != minor.data() + minor.size()) return std::nullopt;
  return v;
}

ExtensionVersion DefaultExtensionVersion(int server_version_num) {
  int major = server_version_num / 10000;
  if (major <= 12) return {1, 7};
  if (major == 13) return {1, 8};
  if (major == 14) return {1, 9};
  if (major <= 16) return {1, 10};
  if (major == 17) return {1, 11};
  return {1, 12};
}

StatementColumns MapStatementColumns(int server_version_num, std::string_view extension_version) {
  ExtensionVersion v = ParseExtensionVersion(extension_version)
                           .value_or(DefaultExtensionVersion(server_version_num));
  StatementColumns c;
  bool exec_split = v >= ExtensionVersion{1, 8};
  c.total_exec_time = exec_split ? "s.total_exec_time" : "s.total_time";
  c.min_exec_time = exec_split ? "s.min_exec_time" : "s.min_time";
  c.max_exec_time = exec_split ? "s.max_exec_time" : "s.max_time";
  c.total_plan_time = exec_split ? "s.total_plan_time" : "0";
  c.has_toplevel = v >= ExtensionVersion{1, 9};
  c.toplevel = c.has_toplevel ? "s.toplevel" : "true";
  c.has_info_view = v >= ExtensionVersion{1, 9};
  if (v >= ExtensionVersion{1, 11}) {
    c.blk_read_time = "(s.shared_blk_read_time + s.local_blk_read_time)";
    c.blk_write_time = "(s.shared_blk_write_time + s.local_blk_write_time)";
  } else {
    c.blk_read_time = "s.blk_read_time";
    c.blk_write_time = "s.blk_write_time";
  }
  return c;
}

}  // namespace pgagent
