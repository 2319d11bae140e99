// pgagent-collectord: samples PostgreSQL (activity, locks, statements), the host (/proc)
// and the PostgreSQL log, and hands records to pgagent-shipperd over ZeroMQ IPC.
// This file only wires the real edges together (a libpq session per connection, /proc, the
// log file system, the ZeroMQ outbox); the logic lives in collector_daemon.h and the
// libraries under collectord/.
#include <google/protobuf/util/json_util.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>

#include "collectord/collector_daemon.h"
#include "collectord/listener_preview.h"
#include "collectord/logtail/log_file_system.h"
#include "collectord/outbox/zmq_outbox.h"
#include "collectord/pg/libpq_session.h"
#include "collectord/system/proc_fs.h"
#include "common/cli.h"
#include "common/control_socket.h"
#include "common/daemon.h"
#include "common/exit_codes.h"
#include "common/log.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

// Under systemd the unit hands the password over as a credential; --once run by hand (as
// root on a packaged install) finds it where the unit loads it from.
Result<LoadedConfig> Load(const CommandLineOptions& options) {
  Environment env = ProcessEnvironment();
  if (options.once || options.dry_run) env = WithPackagedCredentials(std::move(env), kPackageCredentialsDir);
  return LoadConfigFromCommandLine(options, env, ConfigRequirements{false});
}

// The real outside world. `procfs` outlives the edges.
CollectorEdges RealEdges(system::ProcFs& procfs) {
  return CollectorEdges{SystemClock::Instance(), procfs, logtail::PosixLogFileSystem::Instance(),
                        [](const PgConnectionOptions& o) -> std::unique_ptr<PgSession> {
                          return std::make_unique<LibpqSession>(o);
                        }};
}

// --once: one cycle of every collector, one JSON object per line on stdout.
int RunOnce(const Config& config) {
  system::RealProcFs procfs;
  auto records = CollectorDaemon::RunOnce(config, RealEdges(procfs));
  if (!records.ok()) {
    std::fprintf(stderr, "pgagent-collectord --once: %s\n", records.status().ToString().c_str());
    return records.status().code() == StatusCode::kPermissionDenied ? kExitConfig
                                                                    : kExitUnavailable;
  }
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  for (const auto& record : *records) {
    std::string line;
    if (!google::protobuf::util::MessageToJsonString(record, &line, json).ok())
      return kExitSoftware;
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}

int ExitCodeFor(const Status& failed) {
  return failed.code() == StatusCode::kInvalidArgument ? kExitConfig : kExitUnavailable;
}

Result<std::unique_ptr<ControlServer>> StartControl(const Config& config, CollectorDaemon& daemon) {
  ControlServerOptions co;
  co.path = ControlSocketPath(config.agent.control_dir, "collectord");
  co.handler = StatusOnlyControlHandler(
      "collectord", SystemClock::Instance(), [&daemon] { return daemon.Health(); },
      [&daemon] { return daemon.LastCycleUnixS(); });
  auto control = ControlServer::Start(co);
  if (!control.ok()) {
    log::Warn("control.unavailable", {{"path", co.path}, {"error", control.status().ToString()}});
  }
  return control;
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
  LogConfigWarnings(*loaded);
  if (options.once) return RunOnce(config);
  if (options.dry_run) {
    system::RealProcFs procfs;
    return RunListenerPreview(config, RealEdges(procfs), stdout);
  }

  SignalSet signals;  // before any thread starts
  system::RealProcFs procfs;
  auto outbox = ZmqOutbox::Connect(OutboxOptionsFor(config), SystemClock::Instance());
  if (!outbox.ok()) {
    log::Error("collectord.start_failed", {{"error", outbox.status().ToString()}});
    return ExitCodeFor(outbox.status());
  }
  CollectorDaemon daemon(config, RealEdges(procfs), **outbox);
  if (Status started = daemon.Start(); !started.ok()) {
    log::Error("collectord.start_failed", {{"error", started.ToString()}});
    return ExitCodeFor(started);
  }
  auto control = StartControl(config, daemon);
  Notify("READY=1");
  Notify("STATUS=collecting every " + std::to_string(config.collection.interval_s) + " s");
  SignalLoopHooks hooks;
  hooks.reload = [&options] { return Load(options); };
  hooks.apply = [&daemon](const Config& c) { daemon.Reconfigure(c); };
  hooks.healthy = [&daemon] { return daemon.Healthy(); };
  const int sig = RunSignalLoop(signals, config, hooks);
  log::Info("collectord.stopping", {{"signal", sig}});
  Notify("STOPPING=1");
  if (control.ok()) (*control)->Stop();
  daemon.Stop(5000ms);
  log::Info("collectord.stopped");
  return kExitOk;
}

}  // namespace
}  // namespace pgagent

int main(int argc, char** argv) {
  CLI::App app{
      "pgagent-collectord: samples PostgreSQL, the host and the PostgreSQL log for Bitville"};
  pgagent::CommandLineOptions options;
  pgagent::AddStandardOptions(app, options, /*with_once=*/true);
  if (auto code = pgagent::ParseCommandLine(app, options, "pgagent-collectord", argc, argv))
    return *code;
  return pgagent::Run(options);
}
