// pgagentctl check-config [PATH]: loads the file exactly as the daemons do (environment
// overrides and secret files included) and says whether they would start with it.
// Exit: 0 valid (warnings allowed), 78 invalid or unreadable.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <cstdio>

#include "common/exit_codes.h"
#include "tools/pgagentctl/ctl.h"

namespace pgagent::ctl {
namespace {

void PrintHuman(const pgagent::v1::ConfigCheckReport& report) {
  if (!report.ok()) {
    std::fprintf(stderr, "pgagentctl: config invalid: %s\n", report.error().c_str());
    return;
  }
  std::printf("config OK: %s\n", report.path().c_str());
  for (const auto& warning : report.warnings()) std::printf("warning: %s\n", warning.c_str());
  if (report.values().empty()) return;
  std::printf("effective values (environment > file > default):\n");
  for (const auto& info : AllConfigKeys()) {
    const std::string name = "[" + info.section + "] " + info.key;
    auto it = report.values().find(name);
    if (it != report.values().end()) std::printf("  %s = %s\n", name.c_str(), it->second.c_str());
  }
}

// Loopback, a UNIX socket directory or a name that resolves to loopback only.
bool IsLocalHost(const std::string& host) {
  if (host.empty() || host.starts_with('/') || host.starts_with('@') || host == "localhost") {
    return true;
  }
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0) return false;  // a name
  bool loopback = true;
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      loopback = loopback && (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      loopback = loopback && IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
    }
  }
  ::freeaddrinfo(found);
  return loopback;
}

}  // namespace

// The collector's units allow IP traffic to localhost only (IPAddressAllow=localhost).
std::string RemoteDatabaseWarning(const Config& config) {
  const std::string& host = config.database.host;
  if (IsLocalHost(host)) return "";
  return "[database] host " + host +
         " is not this host: the units pgagent-collectord.service and "
         "pgagent-collectord@.service allow IP traffic to localhost only "
         "(IPAddressAllow=localhost), so the collector cannot reach it. Allow it with a "
         "drop-in: systemctl edit pgagent-collectord (README, \"Migrating from the Python "
         "agent\"); also, /proc and the log file the collector reads are this host's";
}

int RunCheckConfig(const GlobalOptions& options, const std::string& path, bool print_values) {
  pgagent::v1::ConfigCheckReport report;
  report.set_path(ResolveCtlConfigPath(options, path));
  auto loaded =
      LoadConfig(CtlConfigFiles(options, path), CtlEnvironment(options), ConfigRequirements{});
  report.set_ok(loaded.ok());
  if (!loaded.ok()) {
    report.set_error(loaded.status().message());
  } else {
    for (const auto& warning : loaded->warnings) report.add_warnings(warning);
    if (loaded->config.listener.api_key.empty()) {
      report.add_warnings(
          "[listener] api_key is not set here: pgagent-shipperd will refuse to start unless "
          "systemd passes it (LoadCredential=api_key) or BITVILLE_PG_LISTENER_API_KEY is set");
    }
    if (const std::string remote = RemoteDatabaseWarning(loaded->config); !remote.empty()) {
      report.add_warnings(remote);
    }
    if (print_values) {
      for (const auto& info : AllConfigKeys()) {
        auto value = ConfigValueText(loaded->config, info.section, info.key);
        if (value) (*report.mutable_values())["[" + info.section + "] " + info.key] = *value;
      }
    }
  }
  if (options.json) {
    PrintJson(report);
  } else {
    PrintHuman(report);
  }
  return report.ok() ? kExitOk : kExitConfig;
}

}  // namespace pgagent::ctl
