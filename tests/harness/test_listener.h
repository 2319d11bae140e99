// The Bitville listener for tests: tests/harness/test_listener.py (python3 standard
// library) started as a child process, HTTPS on 127.0.0.1 with a certificate generated at
// start (openssl), implementing the listener contract (Bearer auth, validation, a fixed
// window rate limit with 429 + Retry-After), able to fail on command and to report what it
// stored. Stopped (SIGTERM, then SIGKILL) and its temp dir removed on destruction; the
// script also exits by itself when the test process dies (its stdin pipe closes).
// The exact behaviour (order of checks: injected failure, rate limit, auth, Content-Type
// must be application/json, JSON, validation) is documented at the top of
// tests/harness/test_listener.py. The control API is plain HTTP on another 127.0.0.1 port.
// Thread-safety: not thread-safe; use from the test thread (the listener itself serves
// any number of concurrent clients).
#pragma once

#include <google/protobuf/struct.pb.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgagent::testing {

struct TestListenerOptions {
  std::string api_key = "test-api-key";
  // Project the listener derives from the key.
  std::string project = "test-project";
  // Requests per fixed window (rate_window_seconds) per client IP; 0 disables the limit.
  int rate_limit_per_minute = 100;
  // Plain HTTP instead of HTTPS.
  bool plain_http = false;
  // Bind to this port; 0 picks a free one.
  int port = 0;
  // Length of the fixed rate-limit window (the contract's is 60 s).
  double rate_window_seconds = 60;
  // Backpressure: while the stored rows' bodies add up to this many bytes, ingest answers
  // 503 + Retry-After: 1 until ClearStored() (0: no bound). Long runs set it so that the
  // listener's memory stays bounded when the agent drains a backlog faster than the test
  // fetches the rows.
  int64_t max_stored_bytes = 0;
  // Log every request to the listener's log file (dir/listener.log).
  bool verbose = false;
};

class TestListener {
 public:
  // Generates the certificates, starts the script and waits (<= 30 s) until it listens.
  // Errors carry the script's output.
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

  // Failure injection for the next `count` ingest requests (count -1: until
  // ClearFailures()); several calls queue up in order. Injected failures come before the
  // rate limit and authentication.
  // mode: "status" (reply `status` with body, and Retry-After when retry_after_s >= 0),
  // "delay" (sleep `seconds` then handle normally), "reset" (read the request, then close
  // the connection with a TCP reset, no response), "hang" (no response until
  // ClearFailures(), or `seconds` when > 0, then close the connection).
  // kInvalidArgument for an unknown mode or a count of 0 / below -1.
  // `match` (optional): only requests whose body contains it fail; the others pass.
  Status FailNext(const std::string& mode, int count, int status = 500, double seconds = 0,
                  double retry_after_s = -1, const std::string& match = "");
  Status ClearFailures();
  Status SetRateLimit(int per_minute);
  // `limit` requests per fixed window of `window_seconds` per client IP (0: off).
  Status SetRateLimit(int limit, double window_seconds);
  // Resets the rate limit window counters.
  Status ResetRateWindow();
  // GET /ready answers 200 when ready (the default), 503 otherwise.
  Status SetReady(bool ready);
  // Accepts another API key, storing its rows under `project`.
  Status AddApiKey(const std::string& api_key, const std::string& project);
  // Back to the start state: no rows, zero counters, no failures, initial rate limit/keys.
  Status Reset();

  // Stored rows as JSON text (a JSON array of {row_id, project, source, correlation_id,
  // timestamp, data}).
  Result<std::string> StoredJson() const;
  // Stored rows parsed (each a Struct with the fields above, plus body_project: the
  // project the client sent, and received_at).
  Result<google::protobuf::ListValue> StoredRows() const;
  // Number of stored rows.
  Result<int> StoredCount() const;
  // Rows the listener's correlation view (GET /api/correlation/<uuid>) returns for `uuid`:
  // those whose TOP-LEVEL correlation_id is it (through the control port).
  Result<int> CorrelationRowCount(const std::string& uuid) const;
  // Polls StoredCount() until it is >= `count`; kDeadlineExceeded after `timeout`.
  Result<int> WaitForStoredCount(int count, std::chrono::milliseconds timeout) const;
  // Ingest requests answered with `http_status` (injected failures included).
  Result<int> CountWithStatus(int http_status) const;
  // Counters as JSON text: {"requests":N,"status":{"200":N,"400":N,...}}.
  // Also: reset, hang, delayed (injected), tls_errors, connections, probes (/health, /ready).
  Result<std::string> StatsJson() const;
  Status ClearStored();
  // Drops only the rows with row_id <= `row_id` (those a drain fetched); rows stored since
  // stay. Ingest goes on meanwhile.
  Status ClearStoredThrough(int64_t row_id);
  // The listener's stdout/stderr so far (for failure messages).
  std::string LogTail() const;

 private:
  TestListener() = default;
  // One plain-HTTP request to the control port; non-2xx answers are errors.
  Result<std::string> Control(const std::string& method, const std::string& path,
                              const std::string& body = "") const;
  Result<int> ControlCount(const std::string& path) const;
  Status WaitUntilListening();
  TestListenerOptions options_;
  std::string dir_;
  std::string ca_file_;
  std::string wrong_ca_file_;
  int port_ = 0;
  int control_port_ = 0;
  int pid_ = -1;
  int owner_pid_ = -1;  // a forked child (death test) must not stop our listener
  int stdin_fd_ = -1;   // write end of the script's stdin; closing it stops the script
};

}  // namespace pgagent::testing
