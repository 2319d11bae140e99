// Takes one sample of one source. Owns no threads: the Scheduler calls Collect() from its
// own thread, never concurrently on one instance.
#pragma once

#include <string_view>

#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

class Collector {
 public:
  virtual ~Collector() = default;
  // Stable name, e.g. "pg_stat_activity"; used in health records and logs.
  virtual std::string_view Name() const = 0;
  // Fills the payload of `record` (the caller fills id, kind, collected_at, project_id,
  // host). kUnavailable when the source can't be read now (PostgreSQL down, file missing);
  // the Scheduler retries on its next tick. Any other error is counted and reported in
  // the health record.
  virtual Status Collect(pgagent::v1::Record& record) = 0;
};

}  // namespace pgagent
