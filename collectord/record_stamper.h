// The envelope every collectord record starts from: kind, collection time (wall clock),
// project id and host. One place, so that snapshots, log batches and health records agree.
// Thread-safety: not thread-safe (set_project_id); the collector's worker thread uses it. The
// Clock must outlive the stamper.
#pragma once

#include <string>

#include "common/clock.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

class RecordStamper {
 public:
  RecordStamper(const Clock& clock, std::string project_id, std::string host)
      : clock_(clock), project_id_(std::move(project_id)), host_(std::move(host)) {}

  // A reload may change the project (the host stays what it was at start).
  void set_project_id(std::string project_id) { project_id_ = std::move(project_id); }
  // A record of `kind` collected now.
  pgagent::v1::Record New(pgagent::v1::RecordKind kind) const;

 private:
  const Clock& clock_;
  std::string project_id_;
  std::string host_;
};

}  // namespace pgagent
