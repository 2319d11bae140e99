#include "common/health_gate.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <array>
#include <string_view>

namespace pgagent {
namespace {

// Counters that grow with normal operation: a change in them is not news.
constexpr std::array<std::string_view, 10> kVolatileCounters = {
    "log_bytes_read",         "log_committed_offset", "statement_texts_fetched",
    "log_unacked_batches",    "records_delivered",    "requests_ok",
    "ipc_records_stored",     "coalesced_records",    "correlation_rows_pending",
    "requests_backlog"};

}  // namespace

std::string HealthGate::Fingerprint(const pgagent::v1::AgentHealth& health) {
  pgagent::v1::AgentHealth h = health;
  h.clear_uptime_s();
  h.clear_rss_bytes();
  h.clear_cpu_percent();
  h.clear_ipc_window_records();
  h.clear_ipc_window_bytes();
  h.clear_log_lag_bytes();
  h.clear_buffer_records();
  h.clear_buffer_bytes();
  h.clear_buffer_oldest_age_s();
  h.clear_requests_sent();
  for (auto& c : *h.mutable_collectors()) {
    c.clear_last_duration_ms();
    c.clear_runs();
  }
  for (std::string_view name : kVolatileCounters) h.mutable_counters()->erase(std::string(name));
  std::string out;
  google::protobuf::io::StringOutputStream bytes(&out);
  google::protobuf::io::CodedOutputStream coded(&bytes);
  coded.SetSerializationDeterministic(true);  // maps in a fixed order
  h.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

bool HealthGate::ShouldSend(const pgagent::v1::AgentHealth& health,
                            std::chrono::steady_clock::time_point now) {
  if (sent_any_ && now - last_sent_ < min_interval_) return false;
  std::string fingerprint = Fingerprint(health);
  const bool changed = !sent_any_ || fingerprint != last_fingerprint_;
  if (!changed && now - last_sent_ < heartbeat_) return false;
  sent_any_ = true;
  last_sent_ = now;
  last_fingerprint_ = std::move(fingerprint);
  return true;
}

}  // namespace pgagent
