// A PHP-like client for the end-to-end runs: issues requests the way the Bitville PHP side
// does, each with a new correlation id, alternating the two tagging forms
// (application_name = bitville-<uuid>, and a /* correlation:<uuid> */ comment), of three
// kinds: slow (pg_sleep past log_min_duration_statement: logged with its duration),
// failing (a division by zero: an ERROR with its statement) and fast (SELECT 1: normally
// invisible to the agent). It remembers every request so the runner can check which ones
// the listener linked.
// Thread-safety: Start/Stop/requests from the owner's thread; the client runs one thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgagent::e2e {

struct TaggedRequest {
  std::string correlation_id;
  std::string kind;      // "slow", "failing", "fast"
  bool comment = false;  // tagged by comment (else by application_name)
  double issued_unix_s = 0;
  bool completed = false;  // the statement ran (a failing one failed as planned)
};

struct TaggedClientOptions {
  std::string conninfo;  // without application_name
  double per_minute = 20;
  double slow_share = 0.4;
  double failing_share = 0.4;  // the rest is fast
  double slow_seconds = 0.4;   // > log_min_duration_statement
  uint32_t seed = 7;
};

class TaggedClient {
 public:
  explicit TaggedClient(TaggedClientOptions options) : options_(std::move(options)) {}
  ~TaggedClient() { Stop(); }
  TaggedClient(const TaggedClient&) = delete;
  TaggedClient& operator=(const TaggedClient&) = delete;

  void Start();
  void Stop();
  std::vector<TaggedRequest> requests() const;

 private:
  void Run();

  TaggedClientOptions options_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<TaggedRequest> requests_;
  std::thread thread_;
};

}  // namespace pgagent::e2e
