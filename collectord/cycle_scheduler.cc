#include "collectord/cycle_scheduler.h"

namespace pgagent {

CycleScheduler::CycleScheduler(system::BurstOptions burst, const Clock& clock)
    : clock_(clock),
      burst_(burst, clock),
      interval_(burst.normal_interval),
      next_cycle_(clock.Monotonic()) {}

bool CycleScheduler::Begin(const system::LoadSignal& signal) {
  cycle_start_ = clock_.Monotonic();
  burst_.Observe(signal);
  const bool burst = burst_.OnSample();
  if (burst) ++burst_cycles_;
  return burst;
}

bool CycleScheduler::NormalIntervalPassed(std::chrono::steady_clock::time_point last) const {
  return clock_.Monotonic() - last >= interval_;
}

bool CycleScheduler::TakeStatements(bool burst) {
  if (burst && statements_ran_ && !NormalIntervalPassed(last_statements_)) return false;
  statements_ran_ = true;
  last_statements_ = clock_.Monotonic();
  return true;
}

bool CycleScheduler::TakeCluster(bool burst) {
  if (burst && cluster_ran_ && !NormalIntervalPassed(last_cluster_)) return false;
  cluster_ran_ = true;
  last_cluster_ = clock_.Monotonic();
  return true;
}

void CycleScheduler::End(int interval_multiplier) {
  const auto delay = burst_.NextDelay() * interval_multiplier;
  auto next = cycle_start_ + delay;
  const auto end = clock_.Monotonic();
  while (next <= end) {  // the cycle overran: skip the slots it ate, never overlap
    next += delay;
    ++skipped_cycles_;
  }
  next_cycle_ = next;
}

}  // namespace pgagent
