// Acceptance tests of the PostgreSQL part of the harness (issue 2, section 5).
#include "tests/harness/pg_cluster.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>

#include "tests/harness/subprocess.h"

namespace pgagent::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// Polls `done` every 20 ms for at most `limit`; returns its last value.
template <typename Pred>
bool Eventually(Pred done, std::chrono::milliseconds limit = 15s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A zombie (exited, not yet reaped by init) counts as dead.
bool ProcessAlive(pid_t pid) {
  auto stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  size_t paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z';
}

pid_t PostmasterPid(const PgCluster& pg) {
  auto pidfile = ReadFile(pg.data_dir() + "/postmaster.pid");
  return pidfile.ok() ? static_cast<pid_t>(std::atol(pidfile->c_str())) : -1;
}

// Starts the shared cluster before the first test (and proves the Environment works).
const ::testing::Environment* const kPgEnvironment =
    ::testing::AddGlobalTestEnvironment(new PgClusterEnvironment);

TEST(PgClusterTest, SharedClusterRunsPostgres15) {
  PgCluster& pg = PgCluster::Shared();
  auto version = pg.Psql("SELECT version();");
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  EXPECT_EQ(version->rfind("PostgreSQL 15", 0), 0u) << *version;
}

TEST(PgClusterTest, SharedClusterIsTheSameObjectEveryTime) {
  EXPECT_EQ(&PgCluster::Shared(), &PgCluster::Shared());
}

TEST(PgClusterTest, ListensOnLoopbackWithTheSocketInItsTempDir) {
  PgCluster& pg = PgCluster::Shared();
  auto settings = pg.Psql("SHOW listen_addresses; SHOW unix_socket_directories; SHOW port;");
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  EXPECT_EQ(*settings, "127.0.0.1\n" + pg.socket_dir() + "\n" + std::to_string(pg.port()));
  EXPECT_TRUE(fs::exists(pg.socket_dir() + "/.s.PGSQL." + std::to_string(pg.port())));
  EXPECT_EQ(pg.ConnString().find("host=127.0.0.1 port=" + std::to_string(pg.port())), 0u);
}

TEST(PgClusterTest, DataDirBelongsToPostgresWhenTestsRunAsRoot) {
  PgCluster& pg = PgCluster::Shared();
  struct stat st {};
  ASSERT_EQ(stat(pg.data_dir().c_str(), &st), 0);
  uid_t expected = geteuid();
  if (expected == 0) {
    auto postgres = LookupOsUser("postgres");
    ASSERT_TRUE(postgres.ok()) << postgres.status().ToString();
    expected = postgres->uid;
  }
  EXPECT_EQ(st.st_uid, expected);
  auto who = pg.Psql("SELECT current_user;");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(*who, "postgres");
}

TEST(PgClusterTest, PgStatStatementsCanBeCreatedAndQueried) {
  PgCluster& pg = PgCluster::Shared();
  auto out = pg.Psql(
      "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;\n"
      "SELECT count(*) FROM pg_class WHERE relname = 'pg_type';\n"
      "SELECT count(*) > 0 FROM pg_stat_statements\n"
      "  WHERE queryid IS NOT NULL AND query LIKE '%relname = $1%';\n"
      "SHOW compute_query_id; SHOW track_io_timing;");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "1\nt\non\non");
}

TEST(PgClusterTest, WritesStderrCsvAndJsonLogsWithTheConfiguredPrefix) {
  PgCluster& pg = PgCluster::Shared();
  auto failed = pg.Psql("SELECT 1/0 AS harness_log_probe;");
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.status().message().find("division by zero"), std::string::npos);
  // The logging collector writes asynchronously: wait (bounded) for the error line.
  auto has_probe = [&](const std::string& suffix) {
    for (const auto& file : pg.LogFiles(suffix)) {
      auto text = ReadFile(file);
      if (text.ok() && text->find("harness_log_probe") != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(Eventually([&] { return has_probe(".log"); })) << pg.ServerLogTail();
  EXPECT_TRUE(Eventually([&] { return has_probe(".csv"); }));
  EXPECT_TRUE(Eventually([&] { return has_probe(".json"); }));
  auto log = ReadFile(pg.LogFiles(".log").back());
  ASSERT_TRUE(log.ok());
  // '%m [%p] %q%u@%d %a ' then the message.
  std::regex line(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \w+ \[\d+\] )"
                  R"(postgres@postgres pgagent-test-psql ERROR:  division by zero)");
  EXPECT_TRUE(std::regex_search(*log, line)) << *log;
  struct stat st {};
  ASSERT_EQ(stat(pg.LogFiles(".json").back().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST(PgClusterTest, PsqlErrorsCarryTheServerMessage) {
  auto out = PgCluster::Shared().Psql("SELECT * FROM harness_no_such_table;");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("harness_no_such_table\" does not exist"),
            std::string::npos)
      << out.status().ToString();
}

TEST(PgClusterTest, PsqlRunsAsAnotherRoleAndDatabase) {
  PgCluster& pg = PgCluster::Shared();
  ASSERT_TRUE(pg.Psql("DROP DATABASE IF EXISTS harness_db;\n"
                      "DROP ROLE IF EXISTS harness_monitor;\n"
                      "CREATE ROLE harness_monitor LOGIN IN ROLE pg_monitor;\n"
                      "CREATE DATABASE harness_db OWNER harness_monitor;")
                  .ok());
  auto out = pg.Psql("SELECT current_user, current_database();", "harness_monitor", "harness_db");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "harness_monitor|harness_db");
}

TEST(PgClusterTest, SetAndReloadChangesARunningSetting) {
  PgCluster& pg = PgCluster::Shared();
  ASSERT_TRUE(pg.SetAndReload("log_min_duration_statement", "250").ok());
  EXPECT_TRUE(Eventually([&] {
    auto v = pg.Psql("SHOW log_min_duration_statement;");
    return v.ok() && *v == "250ms";
  }));
  ASSERT_TRUE(pg.SetAndReload("log_min_duration_statement", "-1").ok());
  EXPECT_FALSE(pg.SetAndReload("bad name; DROP", "1").ok());
}

TEST(PgClusterTest, OwnClusterAppliesOptionsRestartsStopsAndCleansUp) {
  PgClusterOptions options;
  options.settings["max_connections"] = "50";
  auto started = PgCluster::Start(options);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  std::unique_ptr<PgCluster> pg = std::move(started).value();
  EXPECT_NE(pg->port(), PgCluster::Shared().port());
  auto max = pg->Psql("SHOW max_connections;");
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(*max, "50");

  ASSERT_TRUE(pg->Psql("CREATE TABLE kept(x int); INSERT INTO kept VALUES (7);").ok());
  Status restarted = pg->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  EXPECT_EQ(pg->Psql("SELECT x FROM kept;").value_or("?"), "7");

  ASSERT_TRUE(pg->Stop().ok());
  EXPECT_FALSE(pg->Psql("SELECT 1;").ok());
  Status again = pg->StartAgain();
  ASSERT_TRUE(again.ok()) << again.ToString();
  EXPECT_EQ(pg->Psql("SELECT x FROM kept;").value_or("?"), "7");

  const std::string dir = pg->data_dir();
  pid_t postmaster = PostmasterPid(*pg);
  ASSERT_GT(postmaster, 1);
  pg.reset();
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(postmaster); }));
}

TEST(PgClusterTest, WatchdogStopsPostgresWhenTheTestProcessDies) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A "crashing" test binary: starts a cluster and dies without any cleanup.
    close(fds[0]);
    auto pg = PgCluster::Start();
    std::string report = "0 none";
    if (pg.ok()) report = std::to_string(PostmasterPid(**pg)) + " " + (*pg)->data_dir();
    ssize_t ignored = write(fds[1], report.data(), report.size());
    (void)ignored;
    _exit(pg.ok() ? 0 : 1);
  }
  close(fds[1]);
  char buf[512];
  std::string report;
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) report.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int wstatus = 0;
  ASSERT_EQ(waitpid(child, &wstatus, 0), child);
  ASSERT_TRUE(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0) << report;
  pid_t postmaster = static_cast<pid_t>(std::atol(report.c_str()));
  std::string dir = report.substr(report.find(' ') + 1);
  ASSERT_GT(postmaster, 1);
  EXPECT_TRUE(Eventually([&] { return !ProcessAlive(postmaster); }));
  EXPECT_TRUE(Eventually([&] { return !fs::exists(dir); })) << dir;
}

}  // namespace
}  // namespace pgagent::testing
