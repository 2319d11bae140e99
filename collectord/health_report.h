// collectord's health record (AgentHealth, component "collectord"), built once per cycle
// from the parts that know each figure:
//   - CollectorRunBook: per-collector runs, errors, skips and durations, and the one-line
//     warning per failure streak ("collector.failed" ... "collector.recovered");
//   - AddIpcHealth: the outbox window and whether shipperd answers;
//   - AddLogHealth: the tailer's and parser's counters, the committed offset and the lag
//     (bytes of the followed file not yet acknowledged), read through the LogFileSystem edge.
// The daemon adds the PostgreSQL-side figures it owns and hands the record to HealthGate.
// Thread-safety: not thread-safe; the collector's worker thread builds the record.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "collectord/logtail/file_tailer.h"
#include "collectord/logtail/log_file_system.h"
#include "collectord/logtail/log_source.h"
#include "collectord/outbox/zmq_outbox.h"
#include "common/status.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

// Per-collector bookkeeping for the health record.
struct CollectorRun {
  double last_duration_ms = 0;
  uint64_t runs = 0;
  uint64_t errors = 0;
  uint64_t skipped = 0;
  std::string last_error;
  bool failing = false;  // logged once per failure streak
};

class CollectorRunBook {
 public:
  // One run of `name` that took `duration_ms` and ended with `status`. Logs the first
  // failure of a streak (warning) and the recovery after one (info).
  void NoteRun(const std::string& name, double duration_ms, const Status& status);
  // A cycle that did not run `name` (pg_stat_statements during a burst).
  void NoteSkipped(const std::string& name) { ++runs_[name].skipped; }
  // Appends one AgentHealth.collectors entry per collector, by name.
  void AddTo(pgagent::v1::AgentHealth* health) const;
  const std::map<std::string, CollectorRun>& runs() const { return runs_; }

 private:
  std::map<std::string, CollectorRun> runs_;
};

// The IPC window, its drop counters and ipc_shipperd_alive.
void AddIpcHealth(const ZmqOutboxStats& outbox, bool shipperd_alive,
                  pgagent::v1::AgentHealth* health);

// Bytes of the followed file not yet acknowledged by shipperd: 0 when nothing was committed
// yet, when the file cannot be stat'ed, or when the committed file was rotated away (it is
// then finished before the new one is read).
uint64_t LogLagBytes(const logtail::FileTailer& tailer, logtail::LogFileSystem& fs);

// log_state, log_lag_bytes and the log_* counters. `source` may be null (not following:
// `problem` says why, empty while the log is not set up yet).
void AddLogHealth(const logtail::LogSource* source, const std::string& problem,
                  logtail::LogFileSystem& fs, pgagent::v1::AgentHealth* health);

}  // namespace pgagent
