// pgagentctl's commands. Each Run* function prints its result (human-readable text, or
// protobuf JSON with --json) and returns the process exit code:
//   0   ok
//   1   a check failed; status: degraded (2 down, 3 unknown: see status_verdict.h)
//   64  usage error (kExitUsage; CLI11 parse errors)
//   69  unavailable: a daemon or the buffer cannot be reached (permission, timeout), or a
//       change was asked while shipperd is down
//   78  the configuration is missing or invalid (kExitConfig)
// Config path: --config PATH, else /etc/pgagent/<instance>.ini with --instance (which also
// sets the instance's directories as its template units do), else
// $BITVILLE_PG_CONFIG_PATH (as the daemons, common/cli.h), else /etc/pgagent/pgagent.ini (the
// packaged file, with the Python agent's /etc/bitville/postgres-agent.ini under it, as the
// packaged units read them).
// Thread-safety: single-threaded tool; these run on the main thread.
#pragma once

#include <google/protobuf/message.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "pgagent/v1/control.pb.h"

namespace pgagent::ctl {

inline constexpr const char* kDefaultConfigPath = "/etc/pgagent/pgagent.ini";
inline constexpr const char* kPythonAgentConfigPath = "/etc/bitville/postgres-agent.ini";
inline constexpr std::chrono::milliseconds kControlTimeout{10000};
inline constexpr int kExitCheckFailed = 1;

struct GlobalOptions {
  std::string config;    // --config
  std::string instance;  // --instance: the cluster of pgagent-collectord@<instance> etc.
  bool json = false;     // --json
};

// Loads the config by the precedence above (no API key required).
// Errors: as LoadConfig (the caller exits kExitConfig).
Result<LoadedConfig> LoadCtlConfig(const GlobalOptions& options);
// The process environment, plus CREDENTIALS_DIRECTORY=kPackageCredentialsDir (its
// <instance>/ subdirectory with --instance) when that is unset and the directory is readable
// (an administrator running pgagentctl by hand), plus with --instance the directories the
// template units set.
Environment CtlEnvironment(const GlobalOptions& options);
// The path LoadCtlConfig() would read, for `explicit_path` empty.
std::string ResolveCtlConfigPath(const GlobalOptions& options, const std::string& explicit_path);
// The files LoadCtlConfig() would read.
ConfigFiles CtlConfigFiles(const GlobalOptions& options, const std::string& explicit_path);

// Protobuf JSON mapping with the .proto field names, every field printed.
std::string ToJson(const google::protobuf::Message& message);
void PrintJson(const google::protobuf::Message& message);
// Prints "pgagentctl: <message>" to stderr, or {"ok":false,"error":...} to stdout with
// --json; returns `exit_code`.
int Fail(const GlobalOptions& options, const std::string& message, int exit_code);

// "1.5 MiB", "812 B".
std::string HumanBytes(uint64_t bytes);
// "3 s", "4 min 12 s", "2 h 05 min", "3 d 4 h".
std::string HumanDuration(double seconds);
// "2026-11-27 10:00:00 UTC (12 s ago)"; "never" for 0.
std::string HumanTimeAgo(double unix_s);

// Parses "activity", "statements", "system", "log", "health" (or RECORD_KIND_*).
Result<pgagent::v1::RecordKind> ParseRecordKind(const std::string& text);
std::string RecordKindName(pgagent::v1::RecordKind kind);

// check-config's warning when [database] host is not local ("" when it is).
std::string RemoteDatabaseWarning(const Config& config);

// Commands.
int RunStatus(const GlobalOptions& options);
int RunQueueStats(const GlobalOptions& options);
int RunQueuePeek(const GlobalOptions& options, uint32_t limit, const std::string& kind);
int RunQueuePurge(const GlobalOptions& options, bool yes);
int RunDeadLetterList(const GlobalOptions& options, uint32_t limit);
int RunDeadLetterRequeue(const GlobalOptions& options, const std::vector<uint64_t>& ids);
int RunDeadLetterPurge(const GlobalOptions& options, bool yes);
int RunCheckConfig(const GlobalOptions& options, const std::string& path, bool print_values);
int RunTestConnection(const GlobalOptions& options, bool send_test_record);

}  // namespace pgagent::ctl
