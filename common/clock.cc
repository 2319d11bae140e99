#include "common/clock.h"

namespace pgagent {

SystemClock& SystemClock::Instance() {
  static SystemClock clock;
  return clock;
}

}  // namespace pgagent
