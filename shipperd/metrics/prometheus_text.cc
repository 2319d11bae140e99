#include "shipperd/metrics/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

namespace pgagent {
namespace {

using pgagent::v1::AgentHealth;

// Label value escaping of the text format: backslash, double quote and newline.
std::string Escape(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

// One metric family: HELP, TYPE, then its samples, written together as the format requires.
class Families {
 public:
  void Add(const std::string& name, const char* type, const char* help, const std::string& labels,
           double value) {
    Family& f = families_[name];
    if (f.type.empty()) {
      f.type = type;
      f.help = help;
      order_.push_back(name);
    }
    f.samples += name + (labels.empty() ? "" : "{" + labels + "}") + " " + Number(value) + "\n";
  }

  std::string Text() const {
    std::string out;
    for (const std::string& name : order_) {
      const Family& f = families_.at(name);
      out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n" + f.samples;
    }
    return out;
  }

 private:
  struct Family {
    std::string type, help, samples;
  };
  std::map<std::string, Family> families_;
  std::vector<std::string> order_;
};

std::string Component(const std::string& c) { return "component=\"" + Escape(c) + "\""; }

void AddCommon(Families& m, const std::string& component, const AgentHealth& h) {
  const std::string l = Component(component);
  m.Add("pgagent_uptime_seconds", "gauge", "Seconds since the daemon started.", l, h.uptime_s());
  m.Add("pgagent_resident_memory_bytes", "gauge", "Resident memory of the daemon.", l,
        static_cast<double>(h.rss_bytes()));
  m.Add("pgagent_cpu_percent", "gauge",
        "CPU share of one core over the last health interval, percent.", l, h.cpu_percent());
  for (const auto& [name, value] : std::map(h.counters().begin(), h.counters().end())) {
    m.Add("pgagent_health_value", "gauge",
          "A counter of the daemon's health record, by name (most count since the daemon "
          "started).",
          l + ",name=\"" + Escape(name) + "\"", static_cast<double>(value));
  }
}

void AddCollectord(Families& m, const AgentHealth& h) {
  m.Add("pgagent_database_connected", "gauge", "1 while collectord is connected to PostgreSQL.", "",
        h.db_state() == "connected" ? 1 : 0);
  m.Add("pgagent_database_privileges_ok", "gauge",
        "0 when the role lacks pg_monitor / pg_read_all_stats.", "",
        h.privilege_problem().empty() ? 1 : 0);
  m.Add("pgagent_log_following", "gauge", "1 while collectord follows the PostgreSQL log.", "",
        h.log_state() == "following" ? 1 : 0);
  m.Add("pgagent_log_lag_bytes", "gauge", "Bytes of the followed log not yet acknowledged.", "",
        static_cast<double>(h.log_lag_bytes()));
  m.Add("pgagent_skipped_cycles_total", "counter", "Sampling cycles skipped (overrun, shedding).",
        "", static_cast<double>(h.skipped_cycles()));
  m.Add("pgagent_shedding", "gauge", "1 while collectord sheds work under its self-limits.", "",
        h.shedding() ? 1 : 0);
  m.Add("pgagent_ipc_window_records", "gauge", "Records sent to shipperd and not yet acknowledged.",
        "", static_cast<double>(h.ipc_window_records()));
  m.Add("pgagent_ipc_window_bytes", "gauge", "Bytes sent to shipperd and not yet acknowledged.", "",
        static_cast<double>(h.ipc_window_bytes()));
  for (const auto& c : h.collectors()) {
    const std::string l = "collector=\"" + Escape(c.name()) + "\"";
    m.Add("pgagent_collector_runs_total", "counter", "Runs of each collector.", l,
          static_cast<double>(c.runs()));
    m.Add("pgagent_collector_errors_total", "counter", "Failed runs of each collector.", l,
          static_cast<double>(c.errors()));
    m.Add("pgagent_collector_last_duration_seconds", "gauge", "Duration of the last run.", l,
          c.last_duration_ms() / 1000.0);
  }
}

void AddShipperd(Families& m, const AgentHealth& h, uint64_t max_bytes) {
  m.Add("pgagent_buffer_records", "gauge", "Records in shipperd's buffer.", "",
        static_cast<double>(h.buffer_records()));
  m.Add("pgagent_buffer_bytes", "gauge", "Bytes in shipperd's buffer.", "",
        static_cast<double>(h.buffer_bytes()));
  m.Add("pgagent_buffer_max_bytes", "gauge", "Cap of the buffer ([buffer] max_size_mb).", "",
        static_cast<double>(max_bytes));
  m.Add("pgagent_buffer_oldest_age_seconds", "gauge", "Age of the oldest buffered record.", "",
        h.buffer_oldest_age_s());
  m.Add("pgagent_buffer_evicted_records_total", "counter",
        "Records evicted because the buffer was full.", "",
        static_cast<double>(h.evicted_records()));
  for (const char* state : {"closed", "open", "half_open"}) {
    m.Add("pgagent_breaker_state", "gauge", "1 for the circuit breaker's current state.",
          std::string("state=\"") + state + "\"", h.breaker_state() == state ? 1 : 0);
  }
  m.Add("pgagent_requests_sent_total", "counter", "Requests sent to the listener.", "",
        static_cast<double>(h.requests_sent()));
  m.Add("pgagent_requests_failed_total", "counter",
        "Requests that failed transiently (connect, timeout, 5xx).", "",
        static_cast<double>(h.requests_failed()));
  m.Add("pgagent_requests_rate_limited_total", "counter", "Requests answered 429.", "",
        static_cast<double>(h.requests_429()));
  m.Add("pgagent_dead_lettered_total", "counter", "Envelopes the listener refused for good.", "",
        static_cast<double>(h.dead_letters()));
  m.Add("pgagent_last_eviction_timestamp_seconds", "gauge",
        "When the buffer last evicted records (0: not since shipperd started).", "",
        h.last_eviction_unix_s());
  m.Add("pgagent_last_dead_letter_timestamp_seconds", "gauge",
        "When an envelope was last dead-lettered (0: not since shipperd started).", "",
        h.last_dead_letter_unix_s());
}

}  // namespace

std::string RenderPrometheusText(const MetricsSnapshot& snapshot) {
  Families m;
  m.Add("pgagent_up", "gauge", "1 when the daemon answered.", Component("shipperd"), 1);
  m.Add("pgagent_up", "gauge", "1 when the daemon answered.", Component("collectord"),
        snapshot.collectord ? 1 : 0);
  AddCommon(m, "shipperd", snapshot.shipperd);
  if (snapshot.collectord) AddCommon(m, "collectord", *snapshot.collectord);
  AddShipperd(m, snapshot.shipperd, snapshot.buffer_max_bytes);
  if (snapshot.collectord) AddCollectord(m, *snapshot.collectord);
  return m.Text();
}

}  // namespace pgagent
