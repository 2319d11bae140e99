#include "collectord/log_setup.h"

#include "collectord/logs/log_settings.h"
#include "collectord/logtail/fingerprint.h"
#include "collectord/server_log_settings.h"
#include "common/log.h"

namespace pgagent {

using namespace std::chrono_literals;

namespace {

constexpr auto kRetryEvery = 30s;

std::optional<LogFormat> FormatFromPath(const std::string& path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".csv")) return LogFormat::kCsvlog;
  if (ends_with(".json")) return LogFormat::kJsonlog;
  return std::nullopt;
}

LogPlan BasePlan(const Config& config) {
  logtail::LogSourceOptions so;
  so.tail.start_at_beginning = config.collection.log_start == "beginning";
  so.tail.max_line_bytes = static_cast<size_t>(config.collection.log_max_line_bytes);
  so.tail.retry_max = std::chrono::seconds(config.collection.log_retry_max_backoff_s);
  so.assembler.idle_timeout = std::chrono::milliseconds(config.collection.log_multiline_flush_ms);
  so.batcher.max_entries = static_cast<size_t>(config.collection.log_batch_max_entries);
  so.batcher.linger = std::chrono::milliseconds(config.collection.log_linger_ms);
  if (config.collection.log_statements == "summarize") {
    so.summarize = StatementSummarizerOptions{
        .interval = std::chrono::seconds(config.collection.log_summary_interval_s),
        .slow_ms = static_cast<double>(config.collection.log_slow_ms),
        .statements_redacted = !config.collection.send_raw_query_text,
        .text_hash = &logtail::Fingerprint};
  }
  LogParserOptions po;
  po.redact = !config.collection.send_raw_query_text;
  CorrelationOptions co;
  co.application_name_pattern = config.correlation.application_name_pattern;
  co.comment_pattern = config.correlation.comment_pattern;
  co.extract_traceparent = config.correlation.extract_traceparent;
  po.correlation = co;
  return {so, po};
}

// log_path = auto: the server's settings (with the configured format / prefix over them).
Result<LogPlan> PlanAutoPath(const Config& config,
                             const std::map<std::string, std::string>& settings, LogPlan plan) {
  LogLocationOverrides overrides;
  if (config.collection.log_format != "auto") {
    PGAGENT_ASSIGN_OR_RETURN(LogFormat f, LogFormatFromName(config.collection.log_format));
    overrides.format = f;
  }
  if (!config.collection.log_line_prefix.empty())
    overrides.log_line_prefix = config.collection.log_line_prefix;
  PGAGENT_ASSIGN_OR_RETURN(LogLocation chosen, ChooseLogLocation(settings, overrides));
  if (chosen.filename_pattern.find('%') == std::string::npos) {
    // A fixed log_filename is rotated by renaming (logrotate): followed as an explicit
    // log_path, which holds each new file open until it is read, however often it is renamed.
    plan.first.tail.path = chosen.directory + "/" + chosen.filename_pattern;
  } else {
    plan.first.tail.directory = chosen.directory;
    plan.first.tail.filename_pattern = chosen.filename_pattern;
  }
  plan.second.format = chosen.format;
  plan.second.log_line_prefix = chosen.log_line_prefix;
  return plan;
}

std::string Describe(const logtail::LogSourceOptions& so) {
  return so.tail.path.empty() ? so.tail.directory + "/" + so.tail.filename_pattern : so.tail.path;
}

}  // namespace

Result<LogPlan> PlanLogs(
    const Config& config,
    const std::function<Result<std::map<std::string, std::string>>()>& server_settings) {
  LogPlan plan = BasePlan(config);
  const auto& c = config.collection;
  const bool need_server =
      c.log_path == "auto" ||
      (c.log_format == "auto" && !FormatFromPath(c.log_path) && c.log_line_prefix.empty());
  std::map<std::string, std::string> settings;
  if (need_server) {
    PGAGENT_ASSIGN_OR_RETURN(settings, server_settings());
  }
  if (c.log_path == "auto") return PlanAutoPath(config, settings, std::move(plan));
  plan.first.tail.path = c.log_path;
  if (c.log_format != "auto") {
    PGAGENT_ASSIGN_OR_RETURN(LogFormat f, LogFormatFromName(c.log_format));
    plan.second.format = f;
  } else {
    plan.second.format = FormatFromPath(c.log_path).value_or(FormatForConfiguredPath(settings));
  }
  ApplySyslogSettings(settings, &plan.second);
  if (!c.log_line_prefix.empty()) {
    plan.second.log_line_prefix = c.log_line_prefix;
  } else if (auto it = settings.find("log_line_prefix"); it != settings.end()) {
    plan.second.log_line_prefix = it->second;
  }
  return plan;
}

LogSetup::LogSetup(const Config& config, PgConnection& connection, logtail::LogFileSystem& fs,
                   Clock& clock, const RecordStamper& stamper)
    : config_(config), connection_(connection), fs_(fs), clock_(clock), stamper_(stamper) {}

// The server's log settings, saved in the state directory; while the server cannot be
// asked (down, or refusing our role), the ones it reported last. kUnavailable when neither.
Result<std::map<std::string, std::string>> LogSetup::ServerOrSavedSettings() {
  Status connected = connection_.EnsureConnected();
  Result<std::map<std::string, std::string>> fetched = UnavailableError("not connected");
  if (!connected.ok()) {
    fetched = connected;
  } else {
    fetched = FetchLogSettings(
        [&](std::string_view sql) -> Result<std::vector<std::pair<std::string, std::string>>> {
          PGAGENT_ASSIGN_OR_RETURN(PgResult res, connection_.Query(sql));
          std::vector<std::pair<std::string, std::string>> rows;
          for (const auto& row : res.rows)
            rows.emplace_back(row[0].value_or(""), row[1].value_or(""));
          return rows;
        });
  }
  if (fetched.ok()) {
    if (Status saved = SaveServerLogSettings(config_.agent.state_dir, *fetched); !saved.ok()) {
      log::Warn("logs.settings_not_saved", {{"error", saved.ToString()}});
    }
    return fetched;
  }
  auto saved = LoadServerLogSettings(config_.agent.state_dir);
  if (!saved.ok()) return fetched.status();
  log::Info("logs.using_saved_settings",
            {{"why", fetched.status().ToString()},
             {"effect", "following the log with the settings the server reported last"}});
  return saved;
}

Result<std::unique_ptr<LogPump>> LogSetup::Open(const LogPlan& plan) {
  PGAGENT_ASSIGN_OR_RETURN(std::unique_ptr<LogParser> parser, LogParser::Create(plan.second));
  if (!offsets_) {
    const std::string name =
        std::string("postgresql-") + std::string(LogFormatName(plan.second.format));
    PGAGENT_ASSIGN_OR_RETURN(offsets_, logtail::OffsetStore::Open(config_.agent.state_dir, name));
  }
  PGAGENT_ASSIGN_OR_RETURN(
      auto source, logtail::LogSource::Create(plan.first, *parser, fs_, clock_, offsets_.get()));
  LogPumpOptions o;
  o.max_record_bytes = static_cast<size_t>(config_.ipc.max_message_bytes) / 2;
  o.commit_interval = plan.first.tail.commit_interval;
  return std::make_unique<LogPump>(o, std::move(parser), std::move(offsets_), std::move(source),
                                   stamper_, clock_);
}

std::unique_ptr<LogPump> LogSetup::TryOpen() {
  if (clock_.Monotonic() < next_attempt_) return nullptr;
  next_attempt_ = clock_.Monotonic() + kRetryEvery;
  auto plan = PlanLogs(config_, [this] { return ServerOrSavedSettings(); });
  Result<std::unique_ptr<LogPump>> pump =
      plan.ok() ? Open(*plan) : Result<std::unique_ptr<LogPump>>(plan.status());
  if (pump.ok()) {
    problem_.clear();
    log::Info("logs.following", {{"path", Describe(plan->first)},
                                 {"format", std::string(LogFormatName(plan->second.format))}});
    return std::move(pump).value();
  }
  if (pump.status().ToString() != problem_) {
    log::Warn("logs.not_following", {{"error", pump.status().ToString()}, {"retry_in_s", 30}});
    problem_ = pump.status().ToString();
  }
  return nullptr;
}

}  // namespace pgagent
