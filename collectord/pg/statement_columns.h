// Which pg_stat_statements columns to read, by extension version (and server version).
// The columns come from the SQL definition of the *installed* extension version, which can
// lag the server (an extension not updated after pg_upgrade), so the extension version
// decides; the server version is used only when the extension version can't be parsed.
//   ext 1.7  (PG 12): total_time, min_time, ..., blk_read_time; no toplevel, no info view
//   ext 1.8  (PG 13): total_exec_time, ..., total_plan_time
//   ext 1.9  (PG 14): + toplevel, pg_stat_statements_info (dealloc, stats_reset)
//   ext 1.10 (PG 15/16): + jit columns, temp_blk_*_time
//   ext 1.11 (PG 17): blk_read_time -> shared_blk_read_time + local_blk_read_time
//   ext 1.12 (PG 18): new columns only (wal_buffers_full, parallel workers); read as 1.11
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pgagent {

struct ExtensionVersion {
  int major = 0;
  int minor = 0;
  auto operator<=>(const ExtensionVersion&) const = default;
};

// "1.10" -> {1, 10}; nullopt when not "<int>.<int>".
std::optional<ExtensionVersion> ParseExtensionVersion(std::string_view text);

// The extension version PostgreSQL ships by default with a server version
// (120000..179999); used when the installed version is unknown.
ExtensionVersion DefaultExtensionVersion(int server_version_num);

// SQL expressions (over the function's output, alias `s`) for each value pgagent reads.
// Every expression yields the unit named in StatementDelta (milliseconds, counts).
struct StatementColumns {
  std::string toplevel;         // "s.toplevel" or "true"
  std::string total_exec_time;  // total_exec_time | total_time
  std::string min_exec_time;
  std::string max_exec_time;
  std::string total_plan_time;  // "0" before 1.8
  std::string blk_read_time;    // shared+local on 1.11
  std::string blk_write_time;
  bool has_toplevel = false;
  bool has_info_view = false;  // pg_stat_statements_info (dealloc, stats_reset)
};

StatementColumns MapStatementColumns(int server_version_num, std::string_view extension_version);

}  // namespace pgagent
