// shipperd's opt-in Prometheus endpoint: GET /metrics on a loopback address, served by
// libmicrohttpd's own thread (at most 4 connections, 5 s idle timeout). Other paths get 404,
// other methods 405. The body comes from a callback, called on that thread for each scrape.
// Thread-safety: Start()/the destructor belong to the owning (main) thread; `render` must
// be safe to call from the server's thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

struct MHD_Daemon;

namespace pgagent {

class MetricsServer {
 public:
  // `address`: "127.0.0.1:9187", "[::1]:9187" or "localhost:9187"; port 0 picks a free one.
  // Errors: kInvalidArgument for anything but a loopback address with a port;
  // kUnavailable when the port cannot be bound.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& address,
                                                      std::function<std::string()> render);
  ~MetricsServer();  // stops the thread
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port bound (useful with port 0).
  int port() const { return port_; }

 private:
  explicit MetricsServer(std::function<std::string()> render) : render_(std::move(render)) {}

  std::function<std::string()> render_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace pgagent
