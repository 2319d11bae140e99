// A Transport that answers from a script and records every request, for Dispatcher tests.
// Each queued answer is used once; when the script is empty it answers `fallback`
// (200 by default). Optionally advances a FakeClock per request to model latency.
// Thread-safety: not thread-safe; use from the test thread.
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "shared/listener/transport.h"

namespace pgagent {

class FakeTransport final : public Transport {
 public:
  // An HTTP answer.
  void Answer(int status, std::string body = "{}", std::optional<double> retry_after_s = std::nullopt) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.retry_after_s = retry_after_s;
    script_.push_back(r);
  }
  // A transport-level failure (timeout, connection refused, TLS).
  void Fail(Status status) { script_.push_back(std::move(status)); }
  void set_fallback_status(int status) { fallback_status_ = status; }

  Result<HttpResponse> Post(const HttpRequest& request) override {
    requests_.push_back(request);
    return Next();
  }
  Result<HttpResponse> Get(const std::string& url) override {
    HttpRequest r;
    r.url = url;
    requests_.push_back(r);
    return Next();
  }

  const std::vector<HttpRequest>& requests() const { return requests_; }

 private:
  Result<HttpResponse> Next() {
    if (script_.empty()) {
      HttpResponse r;
      r.status = fallback_status_;
      r.body = "{\"success\":true}";
      return r;
    }
    Result<HttpResponse> next = std::move(script_.front());
    script_.pop_front();
    return next;
  }

  std::deque<Result<HttpResponse>> script_;
  std::vector<HttpRequest> requests_;
  int fallback_status_ = 200;
};

}  // namespace pgagent
