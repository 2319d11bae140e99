// pgagentctl check-config [PATH]: loads the file exactly as the daemons do (environment
// overrides and secret files included) and says whether they would start with it.
// Exit: 0 valid (warnings allowed), 78 invalid or unreadable.
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

}  // namespace

int RunCheckConfig(const GlobalOptions& options, const std::string& path, bool print_values) {
  pgagent::v1::ConfigCheckReport report;
  report.set_path(ResolveCtlConfigPath(options, path));
  auto loaded = LoadConfig(report.path(), CtlEnvironment(), ConfigRequirements{});
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
