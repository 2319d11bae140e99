// pgagent-collectord: samples PostgreSQL (activity, locks, statements), the host (/proc)
// and the PostgreSQL log, and hands records to pgagent-shipperd over ZeroMQ IPC.
// This file only wires things together; the logic lives in collector_daemon.h and the
// libraries under collectord/.
#include <CLI/CLI.hpp>
#include <google/protobuf/util/json_util.h>

#include <csignal>
#include <cstdio>

#include "collectord/collector_daemon.h"
#include "collectord/listener_preview.h"
#include "common/cli.h"
#include "common/control_socket.h"
#include "common/daemon.h"
#include "common/exit_codes.h"
#include "common/log.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

Result<LoadedConfig> Load(const CommandLineOptions& options) {
  return LoadConfigFromCommandLine(options, ProcessEnvironment(), ConfigRequirements{false});
}

// --once: one cycle of every collector, one JSON object per line on stdout.
int RunOnce(const Config& config) {
  auto records = CollectorDaemon::RunOnce(config, SystemClock::Instance());
  if (!records.ok()) {
    std::fprintf(stderr, "pgagent-collectord --once: %s\n", records.status().ToString().c_str());
    return records.status().code() == StatusCode::kPermissionDenied ? kExitConfig : kExitUnavailable;
  }
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  for (const auto& record : *records) {
    std::string line;
    if (!google::protobuf::util::MessageToJsonString(record, &line, json).ok()) return kExitSoftware;
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}

int Run(const CommandLineOptions& options) {
  auto loaded = Load(options);
  if (!loaded.ok()) {
    std::fprintf(stderr, "pgagent-collectord: %s\n", loaded.status().message().c_str());
    return kExitConfig;
  }
  Config config = loaded->config;
  const bool one_cycle = options.once || options.dry_run;
  log::Init("collectord", one_cycle ? log::Level::kWarn : log::ParseLevel(config.agent.log_level));
  for (const auto& w : loaded->warnings) log::Warn("config.warning", {{"message", w}});
  if (options.once) return RunOnce(config);
  if (options.dry_run) return RunListenerPreview(config, SystemClock::Instance(), stdout);

  SignalSet signals;  // before any thread starts
  CollectorDaemon daemon(config, SystemClock::Instance());
  if (Status started = daemon.Start(); !started.ok()) {
    log::Error("collectord.start_failed", {{"error", started.ToString()}});
    return started.code() == StatusCode::kInvalidArgument ? kExitConfig : kExitUnavailable;
  }
  ControlServerOptions co;
  co.path = ControlSocketPath(config.agent.control_dir, "collectord");
  co.handler = StatusOnlyControlHandler(
      "collectord", SystemClock::Instance(), [&daemon] { return daemon.Health(); },
      [&daemon] { return daemon.LastCycleUnixS(); });
  auto control = ControlServer::Start(co);
  if (!control.ok()) {
    log::Warn("control.unavailable", {{"path", co.path}, {"error", control.status().ToString()}});
  }
  Notify("READY=1");
  Notify("STATUS=collecting every " + std::to_string(config.collection.interval_s) + " s");
  for (;;) {
    const std::optional<int> sig = signals.Wait(1000ms);
    if (sig && (*sig == SIGTERM || *sig == SIGINT)) {
      log::Info("collectord.stopping", {{"signal", *sig}});
      break;
    }
    if (sig && *sig == SIGHUP) {
      auto reloaded = Load(options);
      if (!reloaded.ok()) {
        log::Error("config.reload_rejected", {{"error", reloaded.status().message()},
                                              {"effect", "the previous configuration stays in force"}});
      } else {
        for (const auto& w : reloaded->warnings) log::Warn("config.warning", {{"message", w}});
        for (const auto& change : DescribeChanges(config, reloaded->config)) {
          log::Info("config.changed", {{"change", change}});
        }
        config = reloaded->config;
        log::SetLevel(log::ParseLevel(config.agent.log_level));
        daemon.Reconfigure(config);
      }
    }
    if (daemon.Healthy()) Notify("WATCHDOG=1");
  }
  Notify("STOPPING=1");
  if (control.ok()) (*control)->Stop();
  daemon.Stop(5000ms);
  log::Info("collectord.stopped");
  return kExitOk;
}

}  // namespace
}  // namespace pgagent

int main(int argc, char** argv) {
  CLI::App app{"pgagent-collectord: samples PostgreSQL, the host and the PostgreSQL log for Bitville"};
  pgagent::CommandLineOptions options;
  pgagent::AddStandardOptions(app, options, /*with_once=*/true);
  if (auto code = pgagent::ParseCommandLine(app, options, "pgagent-collectord", argc, argv)) return *code;
  return pgagent::Run(options);
}
