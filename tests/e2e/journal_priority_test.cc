// Journal priorities: under systemd (stderr is the stream named by JOURNAL_STREAM) each log
// line starts with its syslog priority "<N>", which journald turns into the entry's priority
// (journalctl -p warning); on any other stderr the lines are plain JSON.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "tests/harness/subprocess.h"
#include "tests/support/child_process.h"

namespace pgagent {
namespace {

class JournalPriorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = testing::MakeTempDir("pgagent-journal-");
    ASSERT_TRUE(dir.ok());
    dir_ = *dir;
    auto port = testing::PickFreePort();
    ASSERT_TRUE(port.ok());
    // An unknown key (a warning) and a database nobody listens on (--once fails fast).
    config_ = dir_ + "/pgagent.ini";
    std::ofstream(config_) << "[database]\nhost = 127.0.0.1\nport = " << *port
                           << "\nconnect_timeout_s = 1\nno_such_key = 1\n";
    chmod(config_.c_str(), 0600);
  }
  void TearDown() override { testing::RemoveTree(dir_); }

  // stderr of `pgagent-collectord --once`, written to a file; with `journal`, JOURNAL_STREAM
  // names that file's device and inode, as systemd does for the stream it connects.
  std::string StderrOfOnce(bool journal) {
    const std::string err = dir_ + "/stderr";
    const std::string binary = testing::BinaryDir() + "/collectord/pgagent-collectord";
    const std::string script =
        "exec 2>'" + err + "'; " +
        (journal ? "JOURNAL_STREAM=$(stat -c %d:%i '" + err + "') " : std::string("")) + "exec '" +
        binary + "' --config '" + config_ + "' --once";
    auto run = testing::RunProcess({"/bin/sh", "-c", script});
    EXPECT_TRUE(run.ok());
    std::ifstream in(err);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
  std::string config_;
};

TEST_F(JournalPriorityTest, LinesCarryTheirSyslogPriorityWhenStderrIsTheJournalStream) {
  const std::string err = StderrOfOnce(true);
  EXPECT_NE(err.find("<4>{\"ts\":"), std::string::npos) << err;
  EXPECT_NE(
      err.find("\"level\":\"warn\",\"component\":\"collectord\",\"event\":\"config.warning\""),
      std::string::npos)
      << err;
}

TEST_F(JournalPriorityTest, LinesArePlainJsonOnAnyOtherStderr) {
  const std::string err = StderrOfOnce(false);
  EXPECT_TRUE(err.starts_with("{\"ts\":")) << err;
  EXPECT_EQ(err.find("<4>"), std::string::npos) << err;
  EXPECT_NE(err.find("config.warning"), std::string::npos) << err;
}

}  // namespace
}  // namespace pgagent
