// The Bitville listener for tests: tests/harness/test_listener.py (python3 standard
// library) started as a child process, HTTPS on 127.0.0.1 with a certificate generated at
// start (openssl), implementing the listener contract (Bearer auth, validation, a fixed
// window rate limit with 429 + Retry-After), able to fail on command and to report what it
// stored. Stopped (SIGTERM, then SIGKILL) and its temp dir removed on destruction.
// Thread-safety: not thread-safe; use from the test thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgagent::testing {

struct TestListenerOptions {
  std::string api_key = "test-api-key";
  // Project the listener derives from the key.
  std::string project = "test-project";
  // Requests per fixed 60 s window per client IP; 0 disables the limit.
  int rate_limit_per_minute = 100;
  // Plain HTTP instead of HTTPS.
  bool plain_http = false;
  // Bind to this port; 0 picks a free one.
  int port = 0;
};

class TestListener {
 public:
  static Result<std::unique_ptr<TestListener>> Start(const TestListenerOptions& options = {});
  ~TestListener();
  TestListener(const TestListener&) = delete;
  TestListener& operator=(const TestListener&) = delete;

  int port() const { return port_; }
  // https://127.0.0.1:<port>  (or http://)
  std::string base_url() const;
  // base_url() + "/ingest/postgres"
  std::string ingest_url() const { return base_url() + "/ingest/postgres"; }
  // PEM of the self-signed CA that signed the server certificate (for ca_file).
  std::string ca_file() const { return ca_file_; }
  // A CA file that did NOT sign the server certificate (for bad-certificate tests).
  std::string wrong_ca_file() const { return wrong_ca_file_; }
  const TestListenerOptions& options() const { return options_; }

  // Failure injection for the next `count` ingest requests (count -1: until Clear()).
  // mode: "status" (reply `status` with body), "delay" (sleep `seconds` then handle),
  // "reset" (close the connection mid-request), "hang" (never answer).
  Status FailNext(const std::string& mode, int count, int status = 500, double seconds = 0,
                  double retry_after_s = -1);
  Status ClearFailures();
  Status SetRateLimit(int per_minute);
  // Resets the rate limit window counters.
  Status ResetRateWindow();

  // Stored rows as JSON text (a JSON array of {row_id, project, source, correlation_id,
  // timestamp, data}).
  Result<std::string> StoredJson() const;
  // Number of stored rows.
  Result<int> StoredCount() const;
  // Counters as JSON text: {"requests":N,"status":{"200":N,"400":N,...}}.
  Result<std::string> StatsJson() const;
  Status ClearStored();

 private:
  TestListener() = default;
  Result<std::string> Control(const std::string& method, const std::string& path,
                              const std::string& body = "") const;
  TestListenerOptions options_;
  std::string dir_;
  std::string ca_file_;
  std::string wrong_ca_file_;
  int port_ = 0;
  int pid_ = -1;
};

}  // namespace pgagent::testing
