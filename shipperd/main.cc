// pgagent-shipperd: receives records from collectord over ZeroMQ IPC, keeps them in the
// LMDB buffer, and delivers them to the Bitville listener over HTTPS.
// This file only wires the real implementations together; the logic lives in the
// libraries (shipper_daemon.h, ingest/, buffer/, delivery/).
#include <CLI/CLI.hpp>

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

Result<LoadedConfig> Reload(const CommandLineOptions& options) {
  return LoadConfigFromCommandLine(options, ProcessEnvironment(), ConfigRequirements{true});
}

// Each opener logs its failure for the administrator and returns null.
std::unique_ptr<LmdbBuffer> OpenBuffer(const Config& config) {
  LmdbBufferOptions bo;
  bo.path = config.buffer.path;
  bo.max_size_mb = static_cast<uint64_t>(config.buffer.max_size_mb);
  bo.dead_letter_max_count = static_cast<uint64_t>(config.buffer.dead_letter_max_records);
  auto buffer = LmdbBuffer::Open(bo);
  if (!buffer.ok()) {
    log::Error("buffer.open_failed", {{"path", config.buffer.path}, {"error", buffer.status().ToString()}});
    return nullptr;
  }
  return std::move(*buffer);
}

// Correlation rows wait in an LMDB environment of their own next to the records.
std::unique_ptr<LmdbCorrelationStore> OpenCorrelations(const Config& config) {
  LmdbCorrelationStoreOptions cso;
  cso.path = config.buffer.path + "/correlations";
  auto correlations = LmdbCorrelationStore::Open(cso);
  if (!correlations.ok()) {
    log::Error("buffer.open_failed", {{"path", cso.path}, {"error", correlations.status().ToString()}});
    return nullptr;
  }
  return std::move(*correlations);
}

std::unique_ptr<CurlTransport> MakeTransport(const Config& config, std::atomic<bool>* abort_requests) {
  CurlTransportOptions to;
  to.ca_file = config.listener.ca_file;
  to.insecure_skip_tls_verify = config.listener.insecure_skip_tls_verify;
  to.connect_timeout = std::chrono::seconds(config.listener.connect_timeout_s);
  to.total_timeout = std::chrono::seconds(config.listener.timeout_s);
  to.abort = abort_requests;
  if (to.insecure_skip_tls_verify) {
    log::Warn("listener.tls_verification_disabled",
              {{"key", "[listener] insecure_skip_tls_verify"}, {"risk", "the API key can be stolen"}});
  }
  auto transport = CurlTransport::Create(to);
  if (!transport.ok()) {
    log::Error("transport.init_failed", {{"error", transport.status().ToString()}});
    return nullptr;
  }
  return std::move(*transport);
}

Result<std::unique_ptr<ControlServer>> StartControl(const Config& config, ShipperControlHandler& handler) {
  ControlServerOptions co;
  co.path = ControlSocketPath(config.agent.control_dir, "shipperd");
  co.handler = handler.AsHandler();
  auto control = ControlServer::Start(co);
  if (!control.ok()) {
    log::Warn("control.unavailable", {{"path", co.path}, {"error", control.status().ToString()},
                                      {"effect", "pgagentctl reads the buffer directly"}});
  }
  return control;
}

std::unique_ptr<MetricsServer> StartMetrics(const Config& config, ShipperDaemon& daemon) {
  if (config.agent.metrics_address.empty()) return nullptr;
  auto started = StartMetricsEndpoint(config, [&daemon] { return daemon.Health(); });
  if (!started.ok()) {
    log::Error("metrics.unavailable",
               {{"error", started.status().ToString()}, {"effect", "delivery goes on without /metrics"}});
    return nullptr;
  }
  log::Info("metrics.serving", {{"address", config.agent.metrics_address}});
  return std::move(*started);
}

int Run(const CommandLineOptions& options) {
  auto loaded = Reload(options);
  if (!loaded.ok()) {
    std::fprintf(stderr, "pgagent-shipperd: %s\n", loaded.status().message().c_str());
    return kExitConfig;
  }
  Config config = loaded->config;
  log::Init("shipperd", log::ParseLevel(config.agent.log_level));
  LogConfigWarnings(*loaded);
  SignalSet signals;  // before any thread starts
  std::unique_ptr<LmdbBuffer> buffer = OpenBuffer(config);
  if (!buffer) return kExitUnavailable;
  std::unique_ptr<LmdbCorrelationStore> correlations = OpenCorrelations(config);
  if (!correlations) return kExitUnavailable;
  // The request budget's send times, so that a restart cannot double the request rate.
  FileRequestLog request_log(config.buffer.path + "/request_log");
  std::atomic<bool> abort_requests{false};
  std::unique_ptr<CurlTransport> transport = MakeTransport(config, &abort_requests);
  if (!transport) return kExitUnavailable;
  LmdbBuffer* lmdb = buffer.get();
  ShipperDaemon daemon(config, *lmdb, correlations.get(), &request_log, *transport, SystemClock::Instance(), [lmdb] {
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
  auto control = StartControl(config, control_handler);
  std::unique_ptr<MetricsServer> metrics = StartMetrics(config, daemon);
  Notify("READY=1");
  Notify("STATUS=receiving on " + config.ipc.runtime_dir + ", delivering to " + config.listener.url);
  SignalLoopHooks hooks;
  hooks.reload = [&options] { return Reload(options); };
  hooks.apply = [&daemon](const Config& c) { daemon.Reconfigure(c); };
  hooks.healthy = [&daemon] { return daemon.Healthy(); };
  hooks.tick = [&daemon] { return daemon.Tick(); };
  const int sig = RunSignalLoop(signals, config, hooks);
  log::Info("shipperd.stopping", {{"signal", sig}});
  Notify("STOPPING=1");
  if (control.ok()) (*control)->Stop();
  metrics.reset();
  abort_requests = true;
  daemon.Stop();
  log::Info("shipperd.stopped");
  return kExitOk;
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
