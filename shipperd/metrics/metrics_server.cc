#include "shipperd/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace pgagent {
namespace {

constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

struct ParsedAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

Result<ParsedAddress> ParseLoopback(const std::string& address) {
  const auto bad = [&](const std::string& why) {
    return InvalidArgumentError("[agent] metrics_address \"" + address + "\": " + why);
  };
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return bad("needs a port, e.g. 127.0.0.1:9187");
  std::string host = address.substr(0, colon);
  const std::string port_text = address.substr(colon + 1);
  int port = -1;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 0 || port > 65535) {
    return bad("the port is not a number 0..65535");
  }
  if (host == "localhost") host = "127.0.0.1";
  ParsedAddress parsed;
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&parsed.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &in6->sin6_addr) != 1 ||
        !IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) {
      return bad("only a loopback address is allowed ([::1])");
    }
    parsed.length = sizeof(sockaddr_in6);
    return parsed;
  }
  auto* in = reinterpret_cast<sockaddr_in*>(&parsed.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1 ||
      (ntohl(in->sin_addr.s_addr) >> 24) != 127) {
    return bad("only a loopback address is allowed (127.0.0.1, [::1], localhost)");
  }
  parsed.length = sizeof(sockaddr_in);
  return parsed;
}

MHD_Result Reply(MHD_Connection* connection, unsigned int code, const std::string& body,
                 const char* type) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
  const MHD_Result queued = MHD_queue_response(connection, code, response);
  MHD_destroy_response(response);
  return queued;
}

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                     const char* /*version*/, const char* /*upload_data*/, size_t* upload_data_size,
                     void** /*con_cls*/) {
  auto* render = static_cast<std::function<std::string()>*>(cls);
  if (*upload_data_size != 0) {
    *upload_data_size = 0;  // a body is not expected; drop it
    return MHD_YES;
  }
  if (std::strcmp(url, "/metrics") != 0) {
    return Reply(connection, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n", "text/plain");
  }
  if (std::strcmp(method, "GET") != 0 && std::strcmp(method, "HEAD") != 0) {
    return Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n", "text/plain");
  }
  return Reply(connection, MHD_HTTP_OK, (*render)(), kContentType);
}

}  // namespace

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& address,
                                                            std::function<std::string()> render) {
  PGAGENT_ASSIGN_OR_RETURN(ParsedAddress parsed, ParseLoopback(address));
  std::unique_ptr<MetricsServer> server(new MetricsServer(std::move(render)));
  unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;  // no error log: stderr is JSON
  if (parsed.storage.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
  server->daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &OnRequest, &server->render_, MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<sockaddr*>(&parsed.storage), MHD_OPTION_CONNECTION_LIMIT, 4u,
      MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return UnavailableError("[agent] metrics_address " + address + ": cannot listen (in use?)");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : 0;
  return server;
}

MetricsServer::~MetricsServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace pgagent
