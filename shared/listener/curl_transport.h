// Transport over libcurl: HTTPS with verification always on (CA bundle configurable), one
// reused connection (keep-alive), connect and total timeouts, no redirects, no compression.
// The only TLS opt-out is `insecure_skip_tls_verify`, named so nobody turns it on by accident.
// Thread-safety: not thread-safe (one curl easy handle); owned by the Dispatcher's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "shared/listener/transport.h"

namespace pgagent {

struct CurlTransportOptions {
  // PEM CA bundle; empty uses the system store.
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{10000};
  // Responses larger than this are cut (we only need status + a short body).
  size_t max_response_bytes = 64 * 1024;
  std::string user_agent = std::string("pgagent/") + PGAGENT_VERSION;
  // When set and true, an in-flight request is aborted (kCancelled): a graceful stop does
  // not wait for a slow listener. Must outlive the transport.
  const std::atomic<bool>* abort = nullptr;
};

class CurlTransport final : public Transport {
 public:
  // Errors: kUnavailable when libcurl cannot be initialised.
  static Result<std::unique_ptr<CurlTransport>> Create(const CurlTransportOptions& options);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<HttpResponse> Post(const HttpRequest& request) override;
  Result<HttpResponse> Get(const std::string& url) override;

 private:
  explicit CurlTransport(const CurlTransportOptions& options);
  Result<HttpResponse> Perform(const std::string& url, const HttpRequest* post);

  CurlTransportOptions options_;
  void* curl_ = nullptr;  // CURL*
};

// Parses a Retry-After header value as RFC 9110 defines it: delta-seconds (digits only;
// saturates at 1e9 instead of overflowing) or an HTTP-date relative to now_unix_s (0 when in
// the past). nullopt for anything else ("1.5", "inf", "1e20", "-3"); the caller bounds it.
std::optional<double> ParseRetryAfter(std::string_view value, double now_unix_s);

}  // namespace pgagent
