// Several clusters on one host: two instances of the template units (alpha, beta) run at the
// same time against two real PostgreSQL clusters and the HTTPS test listener. systemd is not
// PID 1 here, so the test runs what the units would run: ExecStart= with %i expanded, the
// Environment= lines, the credentials of LoadCredential= in a CREDENTIALS_DIRECTORY, and the
// RuntimeDirectory= / StateDirectory= created, all with /etc/pgagent, /run/pgagent and
// /var/lib/pgagent moved into a temporary root. It checks that each instance delivers its
// own cluster's data under its own key, keeps its own buffer, offsets and sockets, and that
// pgagentctl reaches each instance's daemons.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "tests/harness/pg_cluster.h"
#include "tests/harness/subprocess.h"
#include "tests/harness/test_listener.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::PgCluster;
using testing::TestListener;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// What systemd would execute for one instance of one template unit.
struct UnitRun {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::vector<std::pair<std::string, std::string>> credentials;  // name, source path
  std::vector<std::string> runtime_dirs, state_dirs;             // created before the start
};

// Reads systemd/<unit>, expands %i and moves the host paths below `root`.
UnitRun ReadUnit(const std::string& unit, const std::string& instance, const std::string& root,
                 const std::string& binary) {
  std::string text =
      ReplaceAll(ReadAll(fs::path(PGAGENT_SOURCE_DIR) / "systemd" / unit), "%i", instance);
  for (const char* dir : {"/etc/pgagent", "/run/pgagent", "/var/lib/pgagent"}) {
    text = ReplaceAll(text, std::string("=") + dir, "=" + root + dir);
    text = ReplaceAll(text, std::string(" ") + dir, " " + root + dir);
    text = ReplaceAll(text, std::string(":") + dir, ":" + root + dir);
  }
  UnitRun run;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("ExecStart=")) {
      run.argv = Words(line.substr(10));
      run.argv[0] = binary;
    } else if (line.starts_with("Environment=")) {
      for (const auto& assignment : Words(line.substr(12))) {
        const size_t eq = assignment.find('=');
        run.env[assignment.substr(0, eq)] = assignment.substr(eq + 1);
      }
    } else if (line.starts_with("LoadCredential=")) {
      const std::string spec = line.substr(15);
      run.credentials.emplace_back(spec.substr(0, spec.find(':')), spec.substr(spec.find(':') + 1));
    } else if (line.starts_with("RuntimeDirectory=")) {
      run.runtime_dirs.push_back(root + "/run/" + line.substr(17));
    } else if (line.starts_with("StateDirectory=")) {
      run.state_dirs.push_back(root + "/var/lib/" + line.substr(15));
    }
  }
  return run;
}

class TemplateUnitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("pgagent-instances-");
    ASSERT_TRUE(dir.ok());
    root_ = *dir;
    auto listener = TestListener::Start();
    ASSERT_TRUE(listener.ok()) << listener.status().ToString();
    listener_ = std::move(*listener);
    ASSERT_TRUE(listener_->AddApiKey("beta-key", "beta-project").ok());
    for (const std::string instance : {"alpha", "beta"}) {
      auto cluster = PgCluster::Start();
      ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
      // A table only this cluster has: its name shows up in that cluster's statements.
      ASSERT_TRUE((*cluster)
                      ->Psql("CREATE ROLE monitor LOGIN; GRANT pg_monitor TO monitor;"
                             "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
                             "CREATE TABLE only_in_" +
                             instance + " (x int);")
                      .ok());
      clusters_[instance] = std::move(*cluster);
      WriteInstanceFiles(instance);
    }
  }

  void TearDown() override {
    for (auto& [name, process] : processes_) process->Stop();
    processes_.clear();
    clusters_.clear();
    listener_.reset();
    testing::RemoveTree(root_);
  }

  // /etc/pgagent/<instance>.ini and the instance's credentials, as an administrator would.
  void WriteInstanceFiles(const std::string& instance) {
    fs::create_directories(root_ + "/etc/pgagent/credentials/" + instance);
    const std::string ini = root_ + "/etc/pgagent/" + instance + ".ini";
    std::ofstream(ini) << "[database]\nhost = 127.0.0.1\nport = " << clusters_[instance]->port()
                       << "\nuser = monitor\n"
                       << "[collection]\ninterval_s = 2\nlog_path = auto\n"
                       << "[listener]\nurl = " << listener_->ingest_url()
                       << "\nproject_id = " << instance << "\nca_file = " << listener_->ca_file()
                       << "\n[agent]\nhostname = host-" << instance << "\n";
    chmod(ini.c_str(), 0640);
    const std::string creds = root_ + "/etc/pgagent/credentials/" + instance;
    std::ofstream(creds + "/db_password") << "unused-with-trust-auth\n";
    std::ofstream(creds + "/api_key")
        << (instance == "beta" ? std::string("beta-key") : listener_->options().api_key) << "\n";
    chmod((creds + "/db_password").c_str(), 0600);
    chmod((creds + "/api_key").c_str(), 0600);
  }

  // Does what systemd does before ExecStart=, then starts it.
  void StartUnit(const std::string& unit, const std::string& instance, const std::string& binary) {
    UnitRun run = ReadUnit(unit, instance, root_, testing::BinaryDir() + "/" + binary);
    ASSERT_FALSE(run.argv.empty()) << unit;
    for (const auto& d : run.runtime_dirs) fs::create_directories(d);
    for (const auto& d : run.state_dirs) {
      fs::create_directories(d);
      chmod(d.c_str(), 0700);
    }
    const std::string name = unit.substr(0, unit.find('@')) + "@" + instance;
    const std::string credentials = root_ + "/credentials/" + name;
    fs::create_directories(credentials);
    for (const auto& [credential, source] : run.credentials) {
      fs::copy_file(source, credentials + "/" + credential);
    }
    run.env["CREDENTIALS_DIRECTORY"] = credentials;
    env_[instance].insert(run.env.begin(), run.env.end());
    auto child = ChildProcess::Start(run.argv, root_ + "/" + name + ".log", run.env);
    ASSERT_TRUE(child.ok()) << child.status().ToString();
    processes_[name] = std::move(*child);
  }

  // Rows the listener stored for `project` (the project of the API key used) whose JSON
  // mentions `text`.
  int RowsMentioning(const std::string& project, const std::string& text) {
    auto rows = listener_->StoredRows();
    if (!rows.ok()) return 0;
    int n = 0;
    for (const auto& value : rows->values()) {
      const auto& fields = value.struct_value().fields();
      auto it = fields.find("project");
      if (it == fields.end() || it->second.string_value() != project) continue;
      std::string json;
      if (!google::protobuf::util::MessageToJsonString(value, &json).ok()) continue;
      if (json.find(text) != std::string::npos) ++n;
    }
    return n;
  }

  std::string root_;
  std::unique_ptr<TestListener> listener_;
  std::map<std::string, std::unique_ptr<PgCluster>> clusters_;
  std::map<std::string, std::unique_ptr<ChildProcess>> processes_;
  std::map<std::string, std::map<std::string, std::string>> env_;  // instance -> unit env
};

TEST_F(TemplateUnitsTest, TwoInstancesRunAtOnceEachWithItsOwnClusterKeyAndDirectories) {
  for (const std::string instance : {"alpha", "beta"}) {
    StartUnit("pgagent-shipperd@.service", instance, "shipperd/pgagent-shipperd");
    StartUnit("pgagent-collectord@.service", instance, "collectord/pgagent-collectord");
  }
  const std::string alpha_project = listener_->options().project;
  bool both = false;
  for (int i = 0; i < 120 && !both; ++i) {
    // Statements are sent by their calls since the previous cycle: keep calling.
    for (const std::string instance : {"alpha", "beta"}) {
      ASSERT_TRUE(clusters_[instance]->Psql("SELECT count(*) FROM only_in_" + instance).ok());
    }
    both = RowsMentioning(alpha_project, "only_in_alpha") > 0 &&
           RowsMentioning("beta-project", "only_in_beta") > 0;
    if (!both) std::this_thread::sleep_for(500ms);  // polling the real listener, not timing
  }
  for (auto& [name, process] : processes_) {
    EXPECT_TRUE(process->running()) << name << " exited:\n" << ReadAll(process->log_file());
  }
  ASSERT_TRUE(both) << "alpha: " << RowsMentioning(alpha_project, "only_in_alpha")
                    << ", beta: " << RowsMentioning("beta-project", "only_in_beta") << "\n"
                    << ReadAll(root_ + "/pgagent-collectord@alpha.log");
  // Each instance shipped its own cluster's data only.
  EXPECT_EQ(RowsMentioning(alpha_project, "only_in_beta"), 0);
  EXPECT_EQ(RowsMentioning("beta-project", "only_in_alpha"), 0);
  for (const std::string instance : {"alpha", "beta"}) {
    const std::string run = root_ + "/run/pgagent/" + instance;
    EXPECT_TRUE(fs::exists(run + "/ingest.sock")) << run;
    EXPECT_TRUE(fs::exists(run + "/shipperd.ctl")) << run;
    EXPECT_TRUE(fs::exists(run + "/collectord.ctl")) << run;
    EXPECT_TRUE(fs::exists(root_ + "/var/lib/pgagent/" + instance + "/buffer/data.mdb"));
    EXPECT_TRUE(fs::exists(root_ + "/var/lib/pgagent/" + instance + "/collectord"));
  }
  // pgagentctl reaches each instance's daemons, with the environment its units set.
  std::map<std::string, std::string> pids;
  for (const std::string instance : {"alpha", "beta"}) {
    testing::RunOptions options;
    options.env = env_[instance];
    auto status =
        testing::RunProcess({testing::BinaryDir() + "/tools/pgagentctl/pgagentctl", "--config",
                             root_ + "/etc/pgagent/" + instance + ".ini", "status"},
                            options);
    ASSERT_TRUE(status.ok());
    EXPECT_NE(status->exit_code, 2) << status->out << status->err;
    EXPECT_NE(status->out.find("collectord: up (pid " +
                               std::to_string(processes_["pgagent-collectord@" + instance]->pid())),
              std::string::npos)
        << status->out;
    EXPECT_NE(status->out.find("shipperd: up (pid " +
                               std::to_string(processes_["pgagent-shipperd@" + instance]->pid())),
              std::string::npos)
        << status->out;
  }
}

}  // namespace
}  // namespace pgagent
