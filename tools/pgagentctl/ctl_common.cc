#include <google/protobuf/util/json_util.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <unistd.h>

#include "common/cli.h"
#include "tools/pgagentctl/ctl.h"

namespace pgagent::ctl {

std::string ResolveCtlConfigPath(const GlobalOptions& options, const std::string& explicit_path) {
  if (!explicit_path.empty()) return explicit_path;
  if (options.config.empty() && !options.instance.empty()) {
    return "/etc/pgagent/" + options.instance + ".ini";
  }
  CommandLineOptions cli;
  cli.config_flag = options.config;
  auto resolved = ResolveConfigPath(cli, ProcessEnvironment());
  return resolved.ok() && !resolved->empty() ? *resolved : std::string(kDefaultConfigPath);
}

ConfigFiles CtlConfigFiles(const GlobalOptions& options, const std::string& explicit_path) {
  ConfigFiles files{ResolveCtlConfigPath(options, explicit_path), ""};
  // The single-cluster units read the Python agent's file under the packaged one.
  if (files.path == kDefaultConfigPath) files.python_agent_path = kPythonAgentConfigPath;
  return files;
}

Environment CtlEnvironment(const GlobalOptions& options) {
  Environment env = ProcessEnvironment();
  const std::string& instance = options.instance;
  if (!instance.empty()) {
    // What pgagent-collectord@.service and pgagent-shipperd@.service set.
    env["BITVILLE_PG_IPC_RUNTIME_DIR"] = "/run/pgagent/" + instance;
    env["BITVILLE_PG_AGENT_CONTROL_DIR"] = "/run/pgagent/" + instance;
    env["BITVILLE_PG_AGENT_STATE_DIR"] = "/var/lib/pgagent/" + instance + "/collectord";
    env["BITVILLE_PG_BUFFER_PATH"] = "/var/lib/pgagent/" + instance + "/buffer";
  }
  // Run by an administrator outside systemd: find the secrets where the package's units
  // load them from, so that check-config and test-connection see what the daemons see.
  const std::string credentials = instance.empty()
                                      ? std::string(kPackageCredentialsDir)
                                      : std::string(kPackageCredentialsDir) + "/" + instance;
  return WithPackagedCredentials(std::move(env), credentials);
}

Result<LoadedConfig> LoadCtlConfig(const GlobalOptions& options) {
  return LoadConfig(CtlConfigFiles(options, ""), CtlEnvironment(options), ConfigRequirements{});
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = true;
  print.always_print_primitive_fields = true;
  print.add_whitespace = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, print).ok()) {
    return "{\"ok\": false, \"error\": \"could not encode the answer as JSON\"}\n";
  }
  return out;
}

void PrintJson(const google::protobuf::Message& message) {
  std::fputs(ToJson(message).c_str(), stdout);
}

int Fail(const GlobalOptions& options, const std::string& message, int exit_code) {
  if (options.json) {
    pgagent::v1::ControlResponse response;
    response.set_ok(false);
    response.set_error(message);
    PrintJson(response);
  } else {
    std::fprintf(stderr, "pgagentctl: %s\n", message.c_str());
  }
  return exit_code;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

std::string HumanDuration(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  const auto s = static_cast<long long>(std::llround(seconds));
  char buf[48];
  if (s < 60) {
    std::snprintf(buf, sizeof(buf), "%lld s", s);
  } else if (s < 3600) {
    std::snprintf(buf, sizeof(buf), "%lld min %lld s", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(buf, sizeof(buf), "%lld h %02lld min", s / 3600, (s % 3600) / 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld d %lld h", s / 86400, (s % 86400) / 3600);
  }
  return buf;
}

std::string HumanTimeAgo(double unix_s) {
  if (unix_s <= 0) return "never";
  const time_t t = static_cast<time_t>(unix_s);
  tm utc{};
  gmtime_r(&t, &utc);
  char when[40];
  std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &utc);
  const double ago = static_cast<double>(std::time(nullptr)) - unix_s;
  return std::string(when) + " (" + HumanDuration(ago) + " ago)";
}

Result<pgagent::v1::RecordKind> ParseRecordKind(const std::string& text) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper.rfind("RECORD_KIND_", 0) != 0) upper = "RECORD_KIND_" + upper;
  pgagent::v1::RecordKind kind;
  if (!pgagent::v1::RecordKind_Parse(upper, &kind) ||
      kind == pgagent::v1::RECORD_KIND_UNSPECIFIED) {
    return InvalidArgumentError("unknown record kind '" + text +
                                "' (activity, statements, system, log or health)");
  }
  return kind;
}

std::string RecordKindName(pgagent::v1::RecordKind kind) {
  std::string name = pgagent::v1::RecordKind_Name(kind);
  if (name.rfind("RECORD_KIND_", 0) == 0) name = name.substr(12);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace pgagent::ctl
