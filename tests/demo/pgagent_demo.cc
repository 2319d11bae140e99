// The README's demo: both daemons against a throwaway PostgreSQL 15 cluster under pgbench
// load, delivering to the HTTPS test listener; then a summary of what the listener stored.
//   pgagent_demo [--seconds N] [--keep]
// Everything runs on 127.0.0.1 in a temp dir that is removed at the end (unless --keep).
#include <google/protobuf/struct.pb.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "common/ids.h"
#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace {

using namespace std::chrono_literals;
using pgagent::testing::ChildProcess;
using pgagent::testing::PgCluster;
using pgagent::testing::TestListener;

void Say(const std::string& line) {
  std::printf("demo: %s\n", line.c_str());
  std::fflush(stdout);
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "demo: FAILED: %s\n", what.c_str());
  std::exit(1);
}

std::string Field(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  return it == s.fields().end() ? "" : it->second.string_value();
}

// The text of the first top-level object in a JSON array that contains `needle`, exactly as
// the listener stored it (re-serializing through protobuf's Struct would print every number
// as a double, e.g. a 64-bit query_id as -9.05e+18). Empty when none does.
std::string RawObjectContaining(const std::string& array, const std::string& needle) {
  int depth = 0;
  bool in_string = false;
  size_t start = 0;
  for (size_t i = 0; i < array.size(); ++i) {
    const char c = array[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{') {
      if (depth++ == 0) start = i;
    } else if (c == '}' && --depth == 0) {
      std::string object = array.substr(start, i + 1 - start);
      if (object.find(needle) != std::string::npos) return object;
    }
  }
  return "";
}

std::string WriteConfig(const std::string& dir, const PgCluster& pg, const TestListener& listener) {
  const std::string path = dir + "/pgagent.ini";
  std::ofstream f(path);
  f << "; written by pgagent_demo\n"
    << "[database]\nhost = 127.0.0.1\nport = " << pg.port() << "\nname = postgres\n"
    << "user = bitville_monitor\n"
    << "[collection]\ninterval_s = 5\nlog_path = auto\nlog_start = beginning\n"
    << "statements_min_delta_calls = 0\n"
    << "[listener]\nurl = " << listener.ingest_url() << "\napi_key = " << listener.options().api_key
    << "\nproject_id = demo-project\nca_file = " << listener.ca_file() << "\n"
    << "[buffer]\npath = " << dir << "/buffer\n"
    << "[ipc]\nruntime_dir = " << dir << "/run\n"
    << "[agent]\nstate_dir = " << dir << "/state\ncontrol_dir = " << dir << "/run\n";
  f.close();
  chmod(path.c_str(), 0600);
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = 40;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc) seconds = std::atoi(argv[++i]);
    if (a == "--keep") keep = true;
  }
  Say("starting a throwaway PostgreSQL 15 cluster on 127.0.0.1");
  pgagent::testing::PgClusterOptions po;
  po.settings["log_min_duration_statement"] = "50";
  po.settings["log_lock_waits"] = "on";
  po.settings["deadlock_timeout"] = "200ms";
  auto pg = PgCluster::Start(po);
  if (!pg.ok()) Fail(pg.status().ToString());
  Say("PostgreSQL on port " + std::to_string((*pg)->port()) + ", data in " + (*pg)->data_dir());
  auto setup = (*pg)->Psql(
      "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
      "CREATE ROLE bitville_monitor LOGIN;"
      "GRANT pg_monitor TO bitville_monitor;");
  if (!setup.ok()) Fail(setup.status().ToString());

  Say("starting the HTTPS test listener (the Bitville listener contract)");
  auto listener = TestListener::Start();
  if (!listener.ok()) Fail(listener.status().ToString());
  auto dir = pgagent::testing::MakeTempDir("pgagent-demo-");
  if (!dir.ok()) Fail(dir.status().ToString());
  const std::string config = WriteConfig(*dir, **pg, **listener);
  Say("config: " + config);

  const std::string bin = pgagent::testing::BinaryDir();
  Say("starting pgagent-shipperd and pgagent-collectord");
  auto shipper = ChildProcess::Start({bin + "/shipperd/pgagent-shipperd", config}, *dir + "/shipperd.log");
  if (!shipper.ok()) Fail(shipper.status().ToString());
  auto collector = ChildProcess::Start({bin + "/collectord/pgagent-collectord", config}, *dir + "/collectord.log");
  if (!collector.ok()) Fail(collector.status().ToString());

  Say("pgbench: initialising (scale 2), then 4 clients for " + std::to_string(seconds) + " s");
  const std::string pgbench = (*pg)->bin_dir() + "/pgbench";
  const std::string port = std::to_string((*pg)->port());
  auto init = pgagent::testing::RunChecked({pgbench, "-i", "-q", "-s", "2", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "postgres"});
  if (!init.ok()) Fail(init.status().ToString());
  auto bench = ChildProcess::Start({pgbench, "-c", "4", "-j", "2", "-T", std::to_string(seconds), "-h", "127.0.0.1", "-p", port,
                                    "-U", "postgres", "postgres"},
                                   *dir + "/pgbench.log");
  if (!bench.ok()) Fail(bench.status().ToString());

  // PHP-like requests tagged with correlation ids, both ways the PHP side does it.
  const std::string id_app = pgagent::NewUuid(), id_comment = pgagent::NewUuid();
  Say("a PHP request with application_name=bitville-" + id_app);
  auto tagged_app = ChildProcess::Start({(*pg)->bin_dir() + "/psql", "-X", "-q", "-c", "SELECT pg_sleep(12)",
                                         "host=127.0.0.1 port=" + port + " user=postgres application_name=bitville-" + id_app},
                                        *dir + "/psql1.log");
  Say("a PHP request with /* correlation:" + id_comment + " */");
  auto tagged_comment = ChildProcess::Start(
      {(*pg)->bin_dir() + "/psql", "-X", "-q", "-c",
       "/* correlation:" + id_comment + " */ SELECT pg_sleep(12), 'secret literal'",
       "host=127.0.0.1 port=" + port + " user=postgres"},
      *dir + "/psql2.log");

  (void)bench.value()->Wait(std::chrono::seconds(seconds + 60));
  Say("load finished; letting the agent ship the last cycle");
  std::this_thread::sleep_for(8s);
  Say("stopping the daemons (SIGTERM)");
  const int c_exit = collector.value()->Stop(15s);
  std::this_thread::sleep_for(3s);
  const int s_exit = shipper.value()->Stop(15s);

  auto rows = (*listener)->StoredRows();
  if (!rows.ok()) Fail(rows.status().ToString());
  std::map<std::string, int> by_source;
  std::set<std::string> ids;
  for (const auto& v : rows->values()) {
    ++by_source[Field(v.struct_value(), "source")];
    const std::string id = Field(v.struct_value(), "correlation_id");
    if (!id.empty()) ids.insert(id);
  }
  std::printf("\n=== What the Bitville listener received (project from the API key: %s) ===\n",
              (*listener)->options().project.c_str());
  for (const auto& [source, n] : by_source) std::printf("  %-20s %d rows\n", source.c_str(), n);
  std::printf("  correlation ids linked at the top level: %zu\n", ids.size());
  std::printf("    bitville-<uuid> application_name: %s\n", ids.count(id_app) ? "found" : "NOT found");
  std::printf("    /* correlation:<uuid> */ comment: %s\n", ids.count(id_comment) ? "found" : "NOT found");
  // The row linked at the top level to the comment's id (the listener's per-correlation
  // row), found by its row_id in the stored text.
  std::string row_id;
  for (const auto& v : rows->values()) {
    if (Field(v.struct_value(), "correlation_id") != id_comment) continue;
    auto it = v.struct_value().fields().find("row_id");
    if (it != v.struct_value().fields().end()) {
      row_id = std::to_string(static_cast<long long>(it->second.number_value()));
    }
    break;
  }
  auto raw = (*listener)->StoredJson();
  const std::string linked = raw.ok() && !row_id.empty()
                                 ? RawObjectContaining(*raw, "{\"row_id\": " + row_id + ",")
                                 : "";
  if (!linked.empty()) {
    std::printf("\n  one linked row, as stored (note the redacted literal):\n  %s\n",
                linked.substr(0, 1500).c_str());
  }
  std::printf("\n  daemons exited with %d (collectord) and %d (shipperd); logs in %s\n", c_exit, s_exit,
              keep ? dir->c_str() : "(removed)");
  const bool ok = by_source.count("pg_stat_activity") && by_source.count("system_metrics") &&
                  by_source.count("pg_stat_statements") && by_source.count("pg_log") && ids.count(id_app) &&
                  ids.count(id_comment) && c_exit == 0 && s_exit == 0;
  if (!ok) {
    std::printf("\n--- collectord.log (tail) ---\n%s\n--- shipperd.log (tail) ---\n%s\n",
                pgagent::testing::FileTail(*dir + "/collectord.log", 3000).c_str(),
                pgagent::testing::FileTail(*dir + "/shipperd.log", 3000).c_str());
  }
  if (!keep) pgagent::testing::RemoveTree(*dir);
  std::printf("\ndemo: %s\n", ok ? "OK: every source arrived and both correlation ids were linked"
                                 : "INCOMPLETE: see above");
  return ok ? 0 : 1;
}
