// pgagentctl test-connection: what the daemons need from the outside, checked once:
//   database.connect             connect with the [database] settings (connect_timeout_s)
//   database.privileges          superuser, or member of pg_read_all_stats (pg_monitor has it)
//   database.pg_stat_statements  the extension exists in the database and is preloaded
//   listener.health              GET <origin>/health answers 200
//   listener.ready               GET <origin>/ready answers 200
//   listener.auth                the API key is accepted: an authenticated POST of "{}" to
//                                [listener] url is refused as invalid (400), not as
//                                unauthorized (401/403); nothing is stored
//   listener.ingest              only with --send-test-record, since it writes a row into the
//                                listener: one authenticated, valid POST is accepted (a
//                                system_metrics envelope from the shared encoder whose
//                                data.agent.check is "pgagentctl test-connection")
// Exit: 0 every check passed, 1 one failed, 78 config invalid.
#include <google/protobuf/util/time_util.h>
#include <libpq-fe.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/daemon.h"
#include "common/exit_codes.h"
#include "shared/listener/curl_transport.h"
#include "shared/listener/envelope_encoder.h"
#include "tools/pgagentctl/ctl.h"

namespace pgagent::ctl {
namespace {

using pgagent::v1::ConnectionCheck;
using pgagent::v1::ConnectionReport;

struct PgConnCloser {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConn = std::unique_ptr<PGconn, PgConnCloser>;
struct PgResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResult = std::unique_ptr<PGresult, PgResultClearer>;

void Add(ConnectionReport& report, const std::string& name, bool ok, const std::string& detail) {
  ConnectionCheck* check = report.add_checks();
  check->set_name(name);
  check->set_ok(ok);
  check->set_detail(detail);
}

std::string TrimmedError(PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  for (char& c : message) c = c == '\n' ? ' ' : c;
  return message;
}

PgConn ConnectDb(const DatabaseConfig& db) {
  const std::string port = std::to_string(db.port);
  const std::string timeout = std::to_string(db.connect_timeout_s);
  const std::string session_options =
      "-c statement_timeout=" + std::to_string(db.statement_timeout_ms);
  std::vector<const char*> keys = {
      "host",   "port", "dbname", "user", "connect_timeout", "sslmode", "application_name",
      "options"};
  std::vector<const char*> values = {db.host.c_str(), port.c_str(),           db.name.c_str(),
                                     db.user.c_str(), timeout.c_str(),        db.sslmode.c_str(),
                                     "pgagentctl",    session_options.c_str()};
  if (!db.password.empty()) {
    keys.push_back("password");
    values.push_back(db.password.c_str());
  }
  if (!db.sslrootcert.empty()) {
    keys.push_back("sslrootcert");
    values.push_back(db.sslrootcert.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  return PgConn(PQconnectdbParams(keys.data(), values.data(), 0));
}

// One row of text values, or the error message.
Result<std::vector<std::string>> QueryRow(PGconn* conn, const char* sql) {
  PgResult result(PQexec(conn, sql));
  if (!result || PQresultStatus(result.get()) != PGRES_TUPLES_OK || PQntuples(result.get()) != 1) {
    return UnavailableError(TrimmedError(conn));
  }
  std::vector<std::string> row;
  for (int i = 0; i < PQnfields(result.get()); ++i)
    row.emplace_back(PQgetvalue(result.get(), 0, i));
  return row;
}

void CheckPrivileges(PGconn* conn, ConnectionReport& report) {
  auto row = QueryRow(conn,
                      "SELECT current_user, r.rolsuper, "
                      "pg_has_role(current_user, 'pg_read_all_stats', 'member'), "
                      "pg_has_role(current_user, 'pg_monitor', 'member') "
                      "FROM pg_roles r WHERE r.rolname = current_user");
  if (!row.ok()) {
    Add(report, "database.privileges", false, "could not check: " + row.status().message());
    return;
  }
  const std::string& user = (*row)[0];
  const bool super = (*row)[1] == "t";
  const bool read_all_stats = (*row)[2] == "t";
  const bool monitor = (*row)[3] == "t";
  if (super) {
    Add(report, "database.privileges", true,
        "role " + user + " is a superuser (works, but a pg_monitor role is enough and safer)");
  } else if (read_all_stats) {
    Add(report, "database.privileges", true,
        "role " + user + " is a member of pg_read_all_stats" +
            (monitor ? " (through pg_monitor)" : ""));
  } else {
    Add(report, "database.privileges", false,
        "role " + user +
            " cannot read other sessions' queries and statistics: run "
            "GRANT pg_monitor TO " +
            user + ";");
  }
}

bool ListContains(const std::string& list, const std::string& item) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string entry = list.substr(start, end - start);
    const size_t first = entry.find_first_not_of(" \t\"");
    const size_t last = entry.find_last_not_of(" \t\"");
    if (first != std::string::npos && entry.substr(first, last - first + 1) == item) return true;
    start = end + 1;
  }
  return false;
}

// Whether pg_stat_statements is in shared_preload_libraries: read the setting when allowed
// (pg_read_all_settings, part of pg_monitor), else probe the view when the extension exists.
// nullopt when it cannot be told.
std::optional<bool> Preloaded(PGconn* conn, const std::string& setting, bool installed) {
  if (setting != "?") return ListContains(setting, "pg_stat_statements");
  if (!installed) return std::nullopt;
  PgResult probe(PQexec(conn, "SELECT 1 FROM pg_stat_statements LIMIT 1"));
  return probe && PQresultStatus(probe.get()) == PGRES_TUPLES_OK;
}

void CheckStatStatements(PGconn* conn, const std::string& dbname, ConnectionReport& report) {
  auto row = QueryRow(conn,
                      "SELECT EXISTS (SELECT 1 FROM pg_extension "
                      "WHERE extname = 'pg_stat_statements'), "
                      "CASE WHEN pg_has_role(current_user, 'pg_read_all_settings', 'member') "
                      "THEN current_setting('shared_preload_libraries') ELSE '?' END");
  if (!row.ok()) {
    Add(report, "database.pg_stat_statements", false, "could not check: " + row.status().message());
    return;
  }
  const bool installed = (*row)[0] == "t";
  const std::optional<bool> preloaded = Preloaded(conn, (*row)[1], installed);
  if (installed && preloaded.value_or(false)) {
    Add(report, "database.pg_stat_statements", true, "installed in " + dbname + " and preloaded");
    return;
  }
  std::string fix;
  if (!preloaded.has_value()) {
    fix =
        "cannot tell whether it is in shared_preload_libraries (GRANT pg_monitor lets the "
        "role read it)";
  } else if (!*preloaded) {
    fix = "add pg_stat_statements to shared_preload_libraries and restart PostgreSQL";
  }
  if (!installed) {
    if (!fix.empty()) fix += "; ";
    fix += "run CREATE EXTENSION pg_stat_statements; in database " + dbname;
  }
  Add(report, "database.pg_stat_statements", false, "statement statistics unavailable: " + fix);
}

void CheckDatabase(const DatabaseConfig& db, ConnectionReport& report) {
  const std::string target =
      db.user + "@" + db.host + ":" + std::to_string(db.port) + "/" + db.name;
  PgConn conn = ConnectDb(db);
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    Add(report, "database.connect", false,
        "cannot connect as " + target + ": " + (conn ? TrimmedError(conn.get()) : "out of memory"));
    Add(report, "database.privileges", false, "not checked: no connection");
    Add(report, "database.pg_stat_statements", false, "not checked: no connection");
    return;
  }
  const int version = PQserverVersion(conn.get());
  Add(report, "database.connect", true,
      "connected as " + target + " (PostgreSQL " + std::to_string(version / 10000) + "." +
          std::to_string(version % 10000) + ")");
  CheckPrivileges(conn.get(), report);
  CheckStatStatements(conn.get(), db.name, report);
}

// scheme://authority of a URL (the listener's probes live at its root).
std::string Origin(const std::string& url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return url;
  const size_t path = url.find('/', scheme_end + 3);
  return path == std::string::npos ? url : url.substr(0, path);
}

std::string Excerpt(const std::string& body) {
  std::string text = body.substr(0, 200);
  for (char& c : text) c = (c == '\n' || c == '\r') ? ' ' : c;
  return text;
}

void CheckProbe(Transport& transport, const std::string& url, const std::string& name,
                ConnectionReport& report) {
  auto response = transport.Get(url);
  if (!response.ok()) {
    Add(report, name, false, "GET " + url + ": " + response.status().ToString());
  } else if (response->status != 200) {
    Add(report, name, false,
        "GET " + url + " answered HTTP " + std::to_string(response->status) + ": " +
            Excerpt(response->body));
  } else {
    Add(report, name, true, "GET " + url + " answered HTTP 200");
  }
}

// From the one encoder, so that the row it stores looks like shipperd's (timestamp format,
// data.agent).
std::string TestEnvelope(const Config& config) {
  const EnvelopeEncoder encoder(EncoderOptionsFor(config.listener));
  const auto now = SystemClock::Instance().Now().time_since_epoch();
  const std::string host = config.agent.hostname.empty() ? HostName() : config.agent.hostname;
  return encoder
      .EncodeCheck("pgagentctl test-connection", host,
                   google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
                       std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()))
      .body;
}

// POSTs `body` to [listener] url with the API key. nullopt, with the check `name` failed,
// without a key or without an answer.
std::optional<HttpResponse> PostWithKey(Transport& transport, const ListenerConfig& listener,
                                        const std::string& name, std::string body,
                                        ConnectionReport& report) {
  if (listener.api_key.empty()) {
    Add(report, name, false,
        "no API key: set [listener] api_key_file or BITVILLE_PG_LISTENER_API_KEY");
    return std::nullopt;
  }
  auto response = transport.Post(ListenerPost(listener.url, listener.api_key, std::move(body)));
  if (!response.ok()) {
    Add(report, name, false, "POST " + listener.url + ": " + response.status().ToString());
    return std::nullopt;
  }
  return std::move(*response);
}

// The key without a row: the listener checks the key before the body (401 before 400).
void CheckAuth(Transport& transport, const ListenerConfig& listener, ConnectionReport& report) {
  const auto response = PostWithKey(transport, listener, "listener.auth", "{}", report);
  if (!response) return;
  const int status = response->status;
  if (status == 400) {
    Add(report, "listener.auth", true,
        "API key accepted (an empty probe was refused as invalid, as intended; nothing stored)");
  } else if (status == 401 || status == 403) {
    Add(report, "listener.auth", false,
        "the listener refused the API key (HTTP " + std::to_string(status) + ")");
  } else {
    Add(report, "listener.auth", false,
        "POST " + listener.url + " answered HTTP " + std::to_string(status) +
            " to an empty probe (expected 400; is [listener] url the ingest endpoint?): " +
            Excerpt(response->body));
  }
}

void CheckIngest(Transport& transport, const Config& config, ConnectionReport& report) {
  const ListenerConfig& listener = config.listener;
  const auto response =
      PostWithKey(transport, listener, "listener.ingest", TestEnvelope(config), report);
  if (!response) return;
  const int status = response->status;
  if (status >= 200 && status < 300) {
    Add(report, "listener.ingest", true,
        "POST " + listener.url + " accepted (HTTP " + std::to_string(status) + ")");
  } else if (status == 401 || status == 403) {
    Add(report, "listener.ingest", false,
        "the listener refused the API key (HTTP " + std::to_string(status) + ")");
  } else {
    Add(report, "listener.ingest", false,
        "POST " + listener.url + " answered HTTP " + std::to_string(status) + ": " +
            Excerpt(response->body));
  }
}

void CheckListener(const Config& config, bool send_test_record, ConnectionReport& report) {
  const ListenerConfig& listener = config.listener;
  CurlTransportOptions options;
  options.ca_file = listener.ca_file;
  options.insecure_skip_tls_verify = listener.insecure_skip_tls_verify;
  options.connect_timeout = std::chrono::seconds(listener.connect_timeout_s);
  options.total_timeout = std::chrono::seconds(listener.timeout_s);
  auto transport = CurlTransport::Create(options);
  if (!transport.ok()) {
    for (const char* name : {"listener.health", "listener.ready", "listener.auth"}) {
      Add(report, name, false, "HTTP client unavailable: " + transport.status().ToString());
    }
    return;
  }
  const std::string origin = Origin(listener.url);
  CheckProbe(**transport, origin + "/health", "listener.health", report);
  CheckProbe(**transport, origin + "/ready", "listener.ready", report);
  CheckAuth(**transport, listener, report);
  if (send_test_record) CheckIngest(**transport, config, report);
}

}  // namespace

int RunTestConnection(const GlobalOptions& options, bool send_test_record) {
  auto loaded = LoadCtlConfig(options);
  if (!loaded.ok()) return Fail(options, loaded.status().message(), kExitConfig);
  ConnectionReport report;
  CheckDatabase(loaded->config.database, report);
  CheckListener(loaded->config, send_test_record, report);
  bool ok = true;
  for (const auto& check : report.checks()) ok = ok && check.ok();
  report.set_ok(ok);
  if (options.json) {
    PrintJson(report);
  } else {
    for (const auto& check : report.checks()) {
      std::printf("%-28s %-4s %s\n", check.name().c_str(), check.ok() ? "OK" : "FAIL",
                  check.detail().c_str());
    }
    std::printf("%s\n", ok ? "all checks passed" : "some checks FAILED");
    if (!send_test_record) {
      std::printf(
          "(no test record was sent; --send-test-record writes one row into the "
          "listener)\n");
    }
  }
  return ok ? kExitOk : kExitCheckFailed;
}

}  // namespace pgagent::ctl
