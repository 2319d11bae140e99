#include "collectord/record_stamper.h"

#include <chrono>

namespace pgagent {

pgagent::v1::Record RecordStamper::New(pgagent::v1::RecordKind kind) const {
  pgagent::v1::Record r;
  r.set_kind(kind);
  const auto now = clock_.Now().time_since_epoch();
  r.mutable_collected_at()->set_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(now).count());
  r.mutable_collected_at()->set_nanos(static_cast<int32_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() % 1000000000));
  r.set_project_id(project_id_);
  r.set_host(host_);
  return r;
}

}  // namespace pgagent
