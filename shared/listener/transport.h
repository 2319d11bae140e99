// One HTTP request to the listener. The real one is CurlTransport (libcurl, TLS verified);
// tests use FakeTransport (tests/fakes/fake_transport.h).
// Thread-safety: one instance is used by one thread at a time (the Dispatcher's).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pgagent {

struct HttpRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// The listener's ingest POST of one envelope, with the headers its contract asks for.
inline HttpRequest ListenerPost(const std::string& url, const std::string& api_key,
                                std::string body) {
  HttpRequest request;
  request.url = url;
  request.headers = {{"Authorization", "Bearer " + api_key}, {"Content-Type", "application/json"}};
  request.body = std::move(body);
  return request;
}

struct HttpResponse {
  int status = 0;
  std::string body;
  // Parsed Retry-After in seconds, when present and numeric.
  std::optional<double> retry_after_s;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends one POST. Returns the response for any HTTP status (including 4xx/5xx).
  // Errors: kDeadlineExceeded on timeout, kUnavailable on connect failure / reset,
  // kPermissionDenied when TLS verification fails.
  virtual Result<HttpResponse> Post(const HttpRequest& request) = 0;
  // One GET (for /health and /ready). Same error contract as Post().
  virtual Result<HttpResponse> Get(const std::string& url) = 0;
};

}  // namespace pgagent
