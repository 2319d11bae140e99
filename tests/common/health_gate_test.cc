#include "common/health_gate.h"

#include <gtest/gtest.h>

namespace pgagent {
namespace {

using namespace std::chrono_literals;

pgagent::v1::AgentHealth Health(const char* db_state, double uptime_s) {
  pgagent::v1::AgentHealth h;
  h.set_component("collectord");
  h.set_db_state(db_state);
  h.set_uptime_s(uptime_s);
  (*h.mutable_counters())["log_bytes_read"] = static_cast<uint64_t>(uptime_s * 1000);
  auto* c = h.add_collectors();
  c->set_name("pg_stat_activity");
  c->set_runs(static_cast<uint64_t>(uptime_s));
  return h;
}

TEST(HealthGateTest, SendsTheFirstHealthAndThenAtMostOncePerMinute) {
  HealthGate gate;
  const auto t0 = std::chrono::steady_clock::time_point(1000s);
  EXPECT_TRUE(gate.ShouldSend(Health("connected", 1), t0));
  for (int s = 1; s < 60; ++s) {
    EXPECT_FALSE(gate.ShouldSend(Health(s % 2 ? "backoff" : "connected", s), t0 + s * 1s)) << s;
  }
}

TEST(HealthGateTest, AHealthThatOnlyAgedIsNotSentAgainBeforeTheHeartbeat) {
  HealthGate gate;
  const auto t0 = std::chrono::steady_clock::time_point(1000s);
  EXPECT_TRUE(gate.ShouldSend(Health("connected", 1), t0));
  for (int m = 1; m < 15; ++m) {
    EXPECT_FALSE(gate.ShouldSend(Health("connected", 60.0 * m), t0 + m * 60s)) << m;
  }
  EXPECT_TRUE(gate.ShouldSend(Health("connected", 900), t0 + 900s));  // the heartbeat
}

TEST(HealthGateTest, AChangeIsSentOnceTheMinuteHasPassed) {
  HealthGate gate;
  const auto t0 = std::chrono::steady_clock::time_point(1000s);
  EXPECT_TRUE(gate.ShouldSend(Health("connected", 1), t0));
  EXPECT_FALSE(gate.ShouldSend(Health("backoff", 30), t0 + 30s));
  EXPECT_TRUE(gate.ShouldSend(Health("backoff", 61), t0 + 61s));
  EXPECT_FALSE(gate.ShouldSend(Health("backoff", 130), t0 + 130s));
}

}  // namespace
}  // namespace pgagent
