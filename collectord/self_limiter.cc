#include "collectord/self_limiter.h"

namespace pgagent {

SelfLimitChange SelfLimiter::Observe(uint64_t rss_bytes, double cpu_percent) {
  const bool rss_over = options_.max_rss_bytes > 0 && rss_bytes > options_.max_rss_bytes;
  const bool cpu_over = options_.max_cpu_percent > 0 && cpu_percent > options_.max_cpu_percent;
  if (!shedding_) {
    if (!rss_over && !cpu_over) return SelfLimitChange::kNone;
    shedding_ = true;
    calm_ = 0;
    reason_ = rss_over ? "rss" : "cpu";
    ++times_shed_;
    return SelfLimitChange::kStartedShedding;
  }
  const bool rss_calm = options_.max_rss_bytes == 0 ||
                        rss_bytes <= options_.max_rss_bytes * options_.recover_fraction;
  const bool cpu_calm = options_.max_cpu_percent <= 0 ||
                        cpu_percent <= options_.max_cpu_percent * options_.recover_fraction;
  calm_ = rss_calm && cpu_calm ? calm_ + 1 : 0;
  if (calm_ < options_.recover_after) return SelfLimitChange::kNone;
  shedding_ = false;
  reason_.clear();
  return SelfLimitChange::kStoppedShedding;
}

}  // namespace pgagent
