#include "shipperd/delivery/circuit_breaker.h"

#include <gtest/gtest.h>

#include "tests/fakes/fake_clock.h"

namespace pgagent {
namespace {

using namespace std::chrono_literals;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreakerTest() : breaker_(Options(), clock_, [this] { return random_; }) {}
  static BreakerOptions Options() {
    BreakerOptions o;
    o.failure_threshold = 5;
    o.cooldown = 30s;
    o.max_cooldown = 300s;
    o.jitter = 0.2;
    return o;
  }
  void Fail(int n) {
    for (int i = 0; i < n; ++i) breaker_.OnTransientFailure();
  }
  FakeClock clock_;
  double random_ = 0.5;  // no jitter
  CircuitBreaker breaker_;
};

TEST_F(CircuitBreakerTest, StaysClosedBelowTheFailureThreshold) {
  Fail(4);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker_.AllowRequest());
}

TEST_F(CircuitBreakerTest, OpensAfterConsecutiveTransientFailures) {
  Fail(5);
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_FALSE(breaker_.AllowRequest());
  EXPECT_EQ(breaker_.opens(), 1u);
}

TEST_F(CircuitBreakerTest, ASuccessResetsTheFailureCount) {
  Fail(4);
  breaker_.OnSuccess();
  Fail(4);
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
}

TEST_F(CircuitBreakerTest, HalfOpensAfterCooldownElapsesAndAllowsExactlyOneProbe) {
  Fail(5);
  clock_.Advance(29s);
  EXPECT_FALSE(breaker_.AllowRequest());
  clock_.Advance(1s);
  EXPECT_TRUE(breaker_.AllowRequest());
  EXPECT_EQ(breaker_.state(), BreakerState::kHalfOpen);
  EXPECT_FALSE(breaker_.AllowRequest());
  breaker_.OnSuccess();
  EXPECT_EQ(breaker_.state(), BreakerState::kClosed);
  EXPECT_TRUE(breaker_.AllowRequest());
}

TEST_F(CircuitBreakerTest, AFailedProbeDoublesTheCooldownUpToTheMaximum) {
  Fail(5);
  std::chrono::seconds expected = 30s;
  for (int round = 0; round < 6; ++round) {
    clock_.Advance(expected - 1s);
    EXPECT_FALSE(breaker_.AllowRequest()) << "round " << round;
    clock_.Advance(1s);
    ASSERT_TRUE(breaker_.AllowRequest()) << "round " << round;
    breaker_.OnTransientFailure();
    expected = std::min<std::chrono::seconds>(expected * 2, 300s);
  }
  EXPECT_EQ(breaker_.RemainingCooldown(), std::chrono::steady_clock::duration(300s));
}

TEST_F(CircuitBreakerTest, CooldownIsJittered) {
  random_ = 0.0;  // -20%
  Fail(5);
  clock_.Advance(24s);
  EXPECT_TRUE(breaker_.AllowRequest());
}

TEST_F(CircuitBreakerTest, JitterNeverTakesTheCooldownPastTheMaximum) {
  random_ = 0.999;  // +20%
  Fail(5);
  for (int probe = 0; probe < 6; ++probe) {  // 30, 60, ... capped at 300 (+20% would be 360)
    EXPECT_LE(breaker_.RemainingCooldown(), std::chrono::steady_clock::duration(300s)) << probe;
    clock_.Advance(breaker_.RemainingCooldown());
    ASSERT_TRUE(breaker_.AllowRequest());
    breaker_.OnTransientFailure();
  }
}

TEST_F(CircuitBreakerTest, AuthenticationFailureOpensAtOnce) {
  breaker_.OnAuthFailure();
  EXPECT_EQ(breaker_.state(), BreakerState::kOpen);
  EXPECT_FALSE(breaker_.AllowRequest());
}

TEST_F(CircuitBreakerTest, RequestsWhileOpenStayBoundedOverAnOutage) {
  // A 10-minute outage polled every 100 ms: only the probes get through.
  Fail(5);
  int allowed = 0;
  for (int i = 0; i < 6000; ++i) {
    clock_.Advance(100ms);
    if (breaker_.AllowRequest()) {
      ++allowed;
      breaker_.OnTransientFailure();
    }
  }
  // Cooldowns 30, 60, 120, 240, 300, ... -> 5 probes within 600 s (30+60+120+240 = 450).
  EXPECT_LE(allowed, 5);
  EXPECT_GE(allowed, 4);
}

}  // namespace
}  // namespace pgagent
