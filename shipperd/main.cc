// pgagent-shipperd: receives records from collectord over ZeroMQ IPC, keeps them in the
// LMDB buffer, and delivers them to the Bitville listener over HTTPS.
// This file only wires the real implementations together; the logic lives in the
// libraries (shipper_daemon.h, ingest/, buffer/, delivery/).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <memory>

#include "common/cli.h"
#include "common/control_socket.h"
#include "common/daemon.h"
#include "common/exit_codes.h"
#include "common/log.h"
#include "shared/buffer/lmdb_buffer.h"
#include "shared/buffer/lmdb_correlation_store.h"
#include "shared/control/shipper_control.h"
#include "shared/listener/curl_transport.h"
#include "shipperd/delivery/file_request_log.h"
#include "shipperd/metrics/metrics_endpoint.h"
#include "shipperd/shipper_daemon.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

void LogWarnings(const LoadedConfig& loaded) {
  for (const auto& w : loaded.warnings) log::Warn("config.warning", {{"message", w}});
}

Result<LoadedConfig> Reload(const CommandLineOptions& options) {
  return LoadConfigFromCommandLine(options, ProcessEnvironment(), ConfigRequirements{true});
}

int Run(const CommandLineOptions& options) {
  auto loaded = Reload(options);
  if (!loaded.ok()) {
    std::fprintf(stderr, "pgagent-shipperd: %s\n", loaded.status().message().c_str());
    return kExitConfig;
  }
  Config config = loaded->config;
  log::Init("shipperd", log::ParseLevel(config.agent.log_level));
  LogWarnings(*loaded);
  SignalSet signals;  // before any thread starts

  LmdbBufferOptions bo;
  bo.path = config.buffer.path;
  bo.max_size_mb = static_cast<uint64_t>(config.buffer.max_size_mb);
  bo.dead_letter_max_count = static_cast<uint64_t>(config.buffer.dead_letter_max_records);
  auto buffer = LmdbBuffer::Open(bo);
  if (!buffer.ok()) {
    log::Error("buffer.open_failed", {{"path", config.buffer.path}, {"error", buffer.status().ToString()}});
    return kExitUnavailable;
  }
  // Correlation rows wait in an LMDB environment of their own next to the records.
  LmdbCorrelationStoreOptions cso;
  cso.path = config.buffer.path + "/correlations";
  auto correlations = LmdbCorrelationStore::Open(cso);
  if (!correlations.ok()) {
    log::Error("buffer.open_failed",
               {{"path", cso.path}, {"error", correlations.status().ToString()}});
    return kExitUnavailable;
  }
  // The request budget's send times, so that a restart cannot double the request rate.
  FileRequestLog request_log(config.buffer.path + "/request_log");
  std::atomic<bool> abort_requests{false};
  CurlTransportOptions to;
  to.ca_file = config.listener.ca_file;
  to.insecure_skip_tls_verify = config.listener.insecure_skip_tls_verify;
  to.connect_timeout = std::chrono::seconds(config.listener.connect_timeout_s);
  to.total_timeout = std::chrono::seconds(config.listener.timeout_s);
  to.abort = &abort_requests;
  if (to.insecure_skip_tls_verify) {
    log::Warn("listener.tls_verification_disabled",
              {{"key", "[listener] insecure_skip_tls_verify"}, {"risk", "the API key can be stolen"}});
  }
  auto transport = CurlTransport::Create(to);
  if (!transport.ok()) {
    log::Error("transport.init_failed", {{"error", transport.status().ToString()}});
    return kExitUnavailable;
  }
  LmdbBuffer* lmdb = buffer->get();
  ShipperDaemon daemon(config, *lmdb, correlations->get(), &request_log, **transport,
                       SystemClock::Instance(), [lmdb] {
    auto cleared = lmdb->ClearStaleReaders();
    if (cleared.ok() && *cleared > 0) log::Info("buffer.stale_readers_cleared", {{"count", *cleared}});
  });
  if (Status started = daemon.Start(); !started.ok()) {
    log::Error("shipperd.start_failed", {{"error", started.ToString()}});
    return kExitUnavailable;
  }
  ShipperStatusSources sources;
  sources.health = [&daemon] { return daemon.Health(); };
  sources.last_delivery_unix_s = [&daemon] { return daemon.LastDeliveryUnixS(); };
  ShipperControlHandler control_handler(*lmdb, SystemClock::Instance(), sources);
  ControlServerOptions co;
  co.path = ControlSocketPath(config.agent.control_dir, "shipperd");
  co.handler = control_handler.AsHandler();
  auto control = ControlServer::Start(co);
  if (!control.ok()) {
    log::Warn("control.unavailable", {{"path", co.path}, {"error", control.status().ToString()},
                                      {"effect", "pgagentctl reads the buffer directly"}});
  }
  std::unique_ptr<MetricsServer> metrics;
  if (!config.agent.metrics_address.empty()) {
    auto started = StartMetricsEndpoint(config, [&daemon] { return daemon.Health(); });
    if (started.ok()) {
      metrics = std::move(*started);
      log::Info("metrics.serving", {{"address", config.agent.metrics_address}});
    } else {
      log::Error("metrics.unavailable", {{"error", started.status().ToString()},
                                         {"effect", "delivery goes on without /metrics"}});
    }
  }
  Notify("READY=1");
  Notify("STATUS=receiving on " + config.ipc.runtime_dir + ", delivering to " + config.listener.url);
  int exit_code = kExitOk;
  for (;;) {
    const std::optional<int> sig = signals.Wait(1000ms);
    if (sig && (*sig == SIGTERM || *sig == SIGINT)) {
      log::Info("shipperd.stopping", {{"signal", *sig}});
      break;
    }
    if (sig && *sig == SIGHUP) {
      auto reloaded = Reload(options);
      if (!reloaded.ok()) {
        log::Error("config.reload_rejected", {{"error", reloaded.status().message()},
                                              {"effect", "the previous configuration stays in force"}});
      } else {
        LogWarnings(*reloaded);
        for (const auto& change : DescribeChanges(config, reloaded->config)) {
          log::Info("config.changed", {{"change", change}});
        }
        config = reloaded->config;
        log::SetLevel(log::ParseLevel(config.agent.log_level));
        daemon.Reconfigure(config);
      }
    }
    daemon.Tick();
    if (daemon.Healthy()) Notify("WATCHDOG=1");
  }
  Notify("STOPPING=1");
  if (control.ok()) (*control)->Stop();
  metrics.reset();
  abort_requests = true;
  daemon.Stop();
  log::Info("shipperd.stopped");
  return exit_code;
}

}  // namespace
}  // namespace pgagent

int main(int argc, char** argv) {
  CLI::App app{"pgagent-shipperd: buffers pgagent records and delivers them to the Bitville listener"};
  pgagent::CommandLineOptions options;
  pgagent::AddStandardOptions(app, options, /*with_once=*/false);
  if (auto code = pgagent::ParseCommandLine(app, options, "pgagent-shipperd", argc, argv)) return *code;
  return pgagent::Run(options);
}
