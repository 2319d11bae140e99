#include "collectord/health_report.h"

#include "common/log.h"

namespace pgagent {

void CollectorRunBook::NoteRun(const std::string& name, double duration_ms, const Status& status) {
  CollectorRun& stats = runs_[name];
  stats.last_duration_ms = duration_ms;
  ++stats.runs;
  if (!status.ok()) {
    ++stats.errors;
    stats.last_error = status.ToString();
    if (!stats.failing) {
      log::Warn("collector.failed", {{"collector", name},
                                     {"error", status.ToString()},
                                     {"effect", "retried next cycle; other collectors go on"}});
    }
    stats.failing = true;
    return;
  }
  if (stats.failing) log::Info("collector.recovered", {{"collector", name}});
  stats.failing = false;
}

void CollectorRunBook::AddTo(pgagent::v1::AgentHealth* health) const {
  for (const auto& [name, stats] : runs_) {
    auto* c = health->add_collectors();
    c->set_name(name);
    c->set_last_duration_ms(stats.last_duration_ms);
    c->set_runs(stats.runs);
    c->set_errors(stats.errors);
    c->set_skipped(stats.skipped);
    c->set_last_error(stats.last_error);
  }
}

void AddIpcHealth(const ZmqOutboxStats& outbox, bool shipperd_alive,
                  pgagent::v1::AgentHealth* health) {
  health->set_ipc_window_records(outbox.window.inflight_records);
  health->set_ipc_window_bytes(outbox.window.inflight_bytes);
  auto& counters = *health->mutable_counters();
  counters["ipc_dropped_snapshots"] = outbox.window.dropped_snapshots;
  counters["ipc_dropped_oversize"] = outbox.window.dropped_oversize;
  counters["ipc_resyncs"] = outbox.window.resyncs;
  counters["ipc_new_boots"] = outbox.window.new_boots;
  counters["ipc_malformed_frames"] = outbox.malformed_frames;
  counters["ipc_shipperd_alive"] = shipperd_alive ? 1 : 0;
}

uint64_t LogLagBytes(const logtail::FileTailer& tailer, logtail::LogFileSystem& fs) {
  const auto committed = tailer.last_commit();
  if (!committed) return 0;
  auto st = fs.Stat(committed->path);
  if (!st.ok() || !committed->SameFile(st->device, st->inode)) return 0;
  return st->size > committed->offset ? st->size - committed->offset : 0;
}

namespace {

void AddLogCounters(const logtail::LogSource& source, pgagent::v1::AgentHealth* health) {
  auto& counters = *health->mutable_counters();
  const auto& ts = source.tailer().stats();
  counters["log_bytes_read"] = ts.bytes_read;
  counters["log_rotations"] = ts.rotations;
  counters["log_truncations"] = ts.truncations;
  counters["log_copies_finished"] = ts.copies_finished;
  counters["log_skip_events"] = ts.skip_events;
  counters["log_skipped_bytes"] = ts.skipped_bytes;
  const auto& ps = source.parse_stats();
  counters["log_unparsed_lines"] = ps.unparsed;
  counters["log_truncated_entries"] = ps.truncated;
  counters["log_cut_bytes"] = ps.cut_bytes + source.tailer().line_stats().truncated_bytes;
  counters["log_csv_resyncs"] = ps.csv_resyncs;
  counters["log_syslog_foreign_lines"] = ps.syslog_foreign;
  counters["log_syslog_gaps"] = ps.syslog_gaps;
  counters["log_redaction_fail_closed"] = ps.redaction_failed;
  counters["log_plans_dropped"] = ps.plans_dropped;
  counters["log_unacked_batches"] = source.unacked_batches();
  if (const StatementSummarizer* sum = source.summarizer()) {
    counters["log_lines_summarized"] = sum->stats().lines_summarized;
    counters["log_statement_summaries"] = sum->stats().summaries;
  }
  if (const auto committed = source.tailer().last_commit())
    counters["log_committed_offset"] = committed->offset;
}

}  // namespace

void AddLogHealth(const logtail::LogSource* source, const std::string& problem,
                  logtail::LogFileSystem& fs, pgagent::v1::AgentHealth* health) {
  if (source == nullptr) {
    health->set_log_state("not following: " +
                          (problem.empty() ? std::string("not set up yet") : problem));
    return;
  }
  health->set_log_state("following");
  AddLogCounters(*source, health);
  health->set_log_lag_bytes(LogLagBytes(source->tailer(), fs));
}

}  // namespace pgagent
