// The systemd units in systemd/: `systemd-analyze verify` finds nothing to complain about,
// `systemd-analyze security --offline=true` rates each service's exposure at 2.0 or less,
// and the units keep the privilege split the issue asks for (collector: logs, loopback only,
// DB password; shipper: network, API key only, no PostgreSQL files).
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/config.h"
#include "tests/packaging/shell.h"

namespace pgagent {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::ReadFileText;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFileText;

const fs::path kUnitDir = fs::path(PGAGENT_SOURCE_DIR) / "systemd";
constexpr const char* kCollector = "pgagent-collectord.service";
constexpr const char* kShipper = "pgagent-shipperd.service";
constexpr const char* kTarget = "pgagent.target";
constexpr const char* kCollectorTemplate = "pgagent-collectord@.service";
constexpr const char* kShipperTemplate = "pgagent-shipperd@.service";
constexpr const char* kTargetTemplate = "pgagent@.target";

// "Key" -> every value assigned to it, in order, over all sections.
using UnitSettings = std::map<std::string, std::vector<std::string>>;

UnitSettings ParseUnit(const fs::path& path) {
  UnitSettings settings;
  std::istringstream in(ReadFileText(path));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line[0] == ';' || line[0] == '[') continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    settings[line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return settings;
}

// All values of `key` joined with spaces ("" when unset).
std::string Joined(const UnitSettings& unit, const std::string& key) {
  std::string joined;
  if (!unit.contains(key)) return joined;
  for (const auto& value : unit.at(key)) joined += (joined.empty() ? "" : " ") + value;
  return joined;
}

std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

bool HasWord(const std::string& text, const std::string& word) {
  for (const auto& w : Words(text)) {
    if (w == word) return true;
  }
  return false;
}

class SystemdUnitsTest : public ::testing::Test {
 protected:
  // Copies of the units whose ExecStart= names the binaries of this build tree, because
  // `systemd-analyze verify` checks that the programs exist.
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    const std::map<std::string, std::string> binaries = {
        {"/usr/sbin/pgagent-collectord", PGAGENT_COLLECTORD_BINARY},
        {"/usr/sbin/pgagent-shipperd", PGAGENT_SHIPPERD_BINARY}};
    for (const char* name :
         {kCollector, kShipper, kTarget, kCollectorTemplate, kShipperTemplate, kTargetTemplate}) {
      std::string text = ReadFileText(kUnitDir / name);
      ASSERT_FALSE(text.empty()) << kUnitDir / name;
      for (const auto& [installed, built] : binaries) {
        const size_t at = text.find(installed);
        if (at != std::string::npos) text.replace(at, installed.size(), built);
      }
      ASSERT_TRUE(WriteFileText(dir_.path() / name, text));
      // An instance of each template, as systemd-analyze verify checks instances only.
      std::string instance = name;
      if (const size_t at = instance.find("@."); at != std::string::npos) {
        instance.insert(at + 1, "alpha");
        ASSERT_TRUE(WriteFileText(dir_.path() / instance, text));
      }
    }
  }

  std::string Copy(const char* name) const { return ShellQuote((dir_.path() / name).string()); }

  // Runs `systemd-analyze security --offline=true` on a copy of `name`, prints the items
  // that cost exposure and the overall line, and returns the overall exposure (-1 when the
  // output has no overall line).
  double Exposure(const char* name) const {
    const CommandResult result =
        RunCommand("systemd-analyze security --offline=true --no-pager " + Copy(name));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    std::istringstream in(result.output);
    std::string line;
    double exposure = -1;
    const std::regex overall(R"(Overall exposure level for \S+: ([0-9]+\.[0-9]+))");
    while (std::getline(in, line)) {
      std::smatch m;
      if (line.starts_with("✗")) std::cout << "  " << line << '\n';
      if (std::regex_search(line, m, overall)) {
        exposure = std::stod(m[1].str());
        std::cout << line << std::endl;
      }
    }
    return exposure;
  }

  TempDir dir_;
};

TEST_F(SystemdUnitsTest, VerifyFindsNoProblemInTheServicesAndTheTarget) {
  ASSERT_TRUE(fs::exists(PGAGENT_COLLECTORD_BINARY))
      << "pgagent-collectord is not built (collectord/main.cc missing?)";
  ASSERT_TRUE(fs::exists(PGAGENT_SHIPPERD_BINARY));
  const CommandResult result = RunCommand("systemd-analyze verify --man=no " + Copy(kTarget) + " " +
                                          Copy(kCollector) + " " + Copy(kShipper));
  std::cout << "systemd-analyze verify: exit " << result.exit_code << ", output: \""
            << result.output << "\"" << std::endl;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "");
}

TEST_F(SystemdUnitsTest, VerifyFindsNoProblemInAnInstanceOfTheTemplateUnits) {
  const CommandResult result = RunCommand(
      "systemd-analyze verify --man=no " + Copy("pgagent@alpha.target") + " " +
      Copy("pgagent-collectord@alpha.service") + " " + Copy("pgagent-shipperd@alpha.service"));
  std::cout << "systemd-analyze verify (instance alpha): exit " << result.exit_code
            << ", output: \"" << result.output << "\"" << std::endl;
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.output, "");
}

TEST_F(SystemdUnitsTest, TemplateInstancesAreAsHardenedAsTheSingleClusterUnits) {
  for (const char* name : {"pgagent-collectord@alpha.service", "pgagent-shipperd@alpha.service"}) {
    const double exposure = Exposure(name);
    EXPECT_GE(exposure, 0.0) << name;
    EXPECT_LE(exposure, 2.0) << name;
  }
}

// Everything a template instance writes or reads is its own: config, environment file,
// credentials, state, buffer and sockets; the rest of the unit is the single-cluster one.
TEST_F(SystemdUnitsTest, TemplateUnitsGiveEachInstanceItsOwnFilesAndDirectories) {
  const UnitSettings collector = ParseUnit(kUnitDir / kCollectorTemplate);
  const UnitSettings shipper = ParseUnit(kUnitDir / kShipperTemplate);
  EXPECT_EQ(Joined(collector, "ExecStart"),
            "/usr/sbin/pgagent-collectord --config /etc/pgagent/%i.ini");
  EXPECT_EQ(Joined(shipper, "ExecStart"),
            "/usr/sbin/pgagent-shipperd --config /etc/pgagent/%i.ini");
  EXPECT_EQ(Joined(collector, "LoadCredential"),
            "db_password:/etc/pgagent/credentials/%i/db_password");
  EXPECT_EQ(Joined(shipper, "LoadCredential"), "api_key:/etc/pgagent/credentials/%i/api_key");
  EXPECT_EQ(Joined(collector, "StateDirectory"), "pgagent/%i/collectord");
  EXPECT_EQ(Joined(shipper, "StateDirectory"), "pgagent/%i/buffer");
  for (const UnitSettings* unit : {&collector, &shipper}) {
    EXPECT_EQ(Joined(*unit, "RuntimeDirectory"), "pgagent/%i");
    EXPECT_EQ(Joined(*unit, "EnvironmentFile"), "-/etc/pgagent/%i.env");
    EXPECT_EQ(Joined(*unit, "PartOf"), "pgagent@%i.target");
    const std::string env = Joined(*unit, "Environment");
    EXPECT_TRUE(HasWord(env, "BITVILLE_PG_IPC_RUNTIME_DIR=/run/pgagent/%i")) << env;
    EXPECT_TRUE(HasWord(env, "BITVILLE_PG_AGENT_CONTROL_DIR=/run/pgagent/%i")) << env;
  }
  EXPECT_TRUE(HasWord(Joined(collector, "Environment"),
                      "BITVILLE_PG_AGENT_STATE_DIR=/var/lib/pgagent/%i/collectord"));
  EXPECT_TRUE(HasWord(Joined(shipper, "Environment"),
                      "BITVILLE_PG_BUFFER_PATH=/var/lib/pgagent/%i/buffer"));
  EXPECT_TRUE(
      HasWord(Joined(shipper, "InaccessiblePaths"), "-/etc/pgagent/credentials/%i/db_password"));
  EXPECT_TRUE(
      HasWord(Joined(collector, "InaccessiblePaths"), "-/etc/pgagent/credentials/%i/api_key"));
  const UnitSettings target = ParseUnit(kUnitDir / kTargetTemplate);
  EXPECT_EQ(Joined(target, "Wants"), "pgagent-shipperd@%i.service pgagent-collectord@%i.service");
  EXPECT_EQ(Joined(target, "WantedBy"), "multi-user.target");
}

// Apart from the per-instance lines, a template is its single-cluster unit: a hardening
// change made to one and forgotten in the other is caught here.
TEST_F(SystemdUnitsTest, TemplatesDifferFromTheSingleClusterUnitsOnlyInPerInstanceLines) {
  const std::set<std::string> per_instance = {"Description",    "After",
                                              "PartOf",         "EnvironmentFile",
                                              "ExecStart",      "RuntimeDirectory",
                                              "StateDirectory", "LoadCredential",
                                              "Environment",    "InaccessiblePaths"};
  for (const auto& [single, templ] :
       {std::pair{kCollector, kCollectorTemplate}, std::pair{kShipper, kShipperTemplate}}) {
    UnitSettings a = ParseUnit(kUnitDir / single);
    UnitSettings b = ParseUnit(kUnitDir / templ);
    for (const auto& key : per_instance) {
      a.erase(key);
      b.erase(key);
    }
    EXPECT_EQ(a, b) << single << " vs " << templ;
  }
}

TEST_F(SystemdUnitsTest, CollectorExposureIsAtMostTwo) {
  const double exposure = Exposure(kCollector);
  EXPECT_GE(exposure, 0.0);
  EXPECT_LE(exposure, 2.0);
}

TEST_F(SystemdUnitsTest, ShipperExposureIsAtMostTwo) {
  const double exposure = Exposure(kShipper);
  EXPECT_GE(exposure, 0.0);
  EXPECT_LE(exposure, 2.0);
}

TEST_F(SystemdUnitsTest, CollectorReachesOnlyLoopbackAndUnixSockets) {
  const UnitSettings unit = ParseUnit(kUnitDir / kCollector);
  EXPECT_EQ(Joined(unit, "IPAddressDeny"), "any");
  EXPECT_EQ(Joined(unit, "IPAddressAllow"), "localhost");
  EXPECT_EQ(Joined(unit, "RestrictAddressFamilies"), "AF_UNIX AF_INET AF_INET6");
}

TEST_F(SystemdUnitsTest, CollectorReadsLogsThroughGroupAdmAndGetsOnlyTheDatabasePassword) {
  const UnitSettings unit = ParseUnit(kUnitDir / kCollector);
  EXPECT_EQ(Joined(unit, "User"), "pgagent-collector");
  EXPECT_EQ(Joined(unit, "SupplementaryGroups"), "adm");
  EXPECT_EQ(Joined(unit, "LoadCredential"), "db_password:/etc/pgagent/credentials/db_password");
}

TEST_F(SystemdUnitsTest, ShipperGetsNeitherPostgresqlLogsNorDatabasePassword) {
  const UnitSettings unit = ParseUnit(kUnitDir / kShipper);
  EXPECT_EQ(Joined(unit, "User"), "pgagent-shipper");
  EXPECT_EQ(Joined(unit, "SupplementaryGroups"), "");
  EXPECT_EQ(Joined(unit, "LoadCredential"), "api_key:/etc/pgagent/credentials/api_key");
  const std::string hidden = Joined(unit, "InaccessiblePaths");
  EXPECT_TRUE(HasWord(hidden, "-/var/log/postgresql")) << hidden;
  EXPECT_TRUE(HasWord(hidden, "-/etc/pgagent/credentials/db_password")) << hidden;
}

TEST_F(SystemdUnitsTest, BothServicesShareTheRuntimeDirectoryThroughGroupPgagent) {
  for (const char* name : {kCollector, kShipper}) {
    const UnitSettings unit = ParseUnit(kUnitDir / name);
    EXPECT_EQ(Joined(unit, "Group"), "pgagent") << name;
    EXPECT_EQ(Joined(unit, "RuntimeDirectory"), "pgagent") << name;
    EXPECT_EQ(Joined(unit, "RuntimeDirectoryPreserve"), "yes") << name;
    EXPECT_EQ(Joined(unit, "RuntimeDirectoryMode"), "0770") << name;
  }
  EXPECT_EQ(Joined(ParseUnit(kUnitDir / kCollector), "StateDirectory"), "pgagent/collectord");
  EXPECT_EQ(Joined(ParseUnit(kUnitDir / kShipper), "StateDirectory"), "pgagent/buffer");
}

TEST_F(SystemdUnitsTest, ServicesNotifyAreWatchedAndNeverRestartOnConfigErrors) {
  for (const char* name : {kCollector, kShipper}) {
    const UnitSettings unit = ParseUnit(kUnitDir / name);
    EXPECT_EQ(Joined(unit, "Type"), "notify") << name;
    EXPECT_EQ(Joined(unit, "WatchdogSec"), "30s") << name;
    EXPECT_EQ(Joined(unit, "Restart"), "on-failure") << name;
    EXPECT_TRUE(HasWord(Joined(unit, "RestartPreventExitStatus"), "78")) << name;
    EXPECT_FALSE(Joined(unit, "StartLimitIntervalSec").empty()) << name;
    EXPECT_FALSE(Joined(unit, "StartLimitBurst").empty()) << name;
  }
}

TEST_F(SystemdUnitsTest, ServicesHaveTheResourceLimits) {
  for (const char* name : {kCollector, kShipper}) {
    const UnitSettings unit = ParseUnit(kUnitDir / name);
    EXPECT_EQ(Joined(unit, "MemoryMax"), "256M") << name;
    EXPECT_FALSE(Joined(unit, "MemoryHigh").empty()) << name;
    EXPECT_EQ(Joined(unit, "CPUQuota"), "25%") << name;
    EXPECT_FALSE(Joined(unit, "TasksMax").empty()) << name;
  }
}

TEST_F(SystemdUnitsTest, CollectorStartsAfterPostgresqlWithoutRequiringIt) {
  const UnitSettings unit = ParseUnit(kUnitDir / kCollector);
  EXPECT_TRUE(HasWord(Joined(unit, "After"), "postgresql.service"));
  for (const char* strong : {"Requires", "Requisite", "BindsTo", "Wants"}) {
    EXPECT_FALSE(HasWord(Joined(unit, strong), "postgresql.service")) << strong;
  }
}

// The services have no [Install] section (lintian: a WantedBy= of our own target is
// "unusual"): the target pulls them in, and enabling the target is all it takes.
TEST_F(SystemdUnitsTest, TargetStartsStopsAndRestartsBothServices) {
  const UnitSettings target = ParseUnit(kUnitDir / kTarget);
  EXPECT_TRUE(HasWord(Joined(target, "Wants"), kCollector));
  EXPECT_TRUE(HasWord(Joined(target, "Wants"), kShipper));
  EXPECT_EQ(Joined(target, "WantedBy"), "multi-user.target");
  for (const char* name : {kCollector, kShipper, kCollectorTemplate, kShipperTemplate}) {
    const UnitSettings unit = ParseUnit(kUnitDir / name);
    EXPECT_EQ(Joined(unit, "WantedBy"), "") << name;
    EXPECT_EQ(ReadFileText(kUnitDir / name).find("\n[Install]"), std::string::npos) << name;
  }
  for (const char* name : {kCollector, kShipper}) {
    EXPECT_EQ(Joined(ParseUnit(kUnitDir / name), "PartOf"), kTarget) << name;
  }
}

// The Python agent's environment file and INI are honoured by the single-cluster units.
TEST_F(SystemdUnitsTest, SingleClusterUnitsReadThePythonAgentsFilesWhenPresent) {
  for (const char* name : {kCollector, kShipper}) {
    const UnitSettings unit = ParseUnit(kUnitDir / name);
    EXPECT_EQ(Joined(unit, "EnvironmentFile"), "-/etc/bitville/postgres-agent.env") << name;
    EXPECT_NE(
        Joined(unit, "ExecStart").find(" --python-agent-config /etc/bitville/postgres-agent.ini"),
        std::string::npos)
        << name;
  }
}

// The directories systemd creates and opens up for writing are the ones the daemons use by
// default, and ExecStart= names the packaged config file.
TEST_F(SystemdUnitsTest, UnitDirectoriesAreTheConfigDefaults) {
  const Config defaults;
  const UnitSettings collector = ParseUnit(kUnitDir / kCollector);
  const UnitSettings shipper = ParseUnit(kUnitDir / kShipper);
  EXPECT_EQ("/var/lib/" + Joined(collector, "StateDirectory"), defaults.agent.state_dir);
  EXPECT_EQ("/var/lib/" + Joined(shipper, "StateDirectory"), defaults.buffer.path);
  for (const UnitSettings* unit : {&collector, &shipper}) {
    EXPECT_EQ("/run/" + Joined(*unit, "RuntimeDirectory"), defaults.ipc.runtime_dir);
    EXPECT_EQ("/run/" + Joined(*unit, "RuntimeDirectory"), defaults.agent.control_dir);
  }
  EXPECT_EQ(Joined(collector, "ExecStart"),
            "/usr/sbin/pgagent-collectord --config /etc/pgagent/pgagent.ini "
            "--python-agent-config /etc/bitville/postgres-agent.ini");
  EXPECT_EQ(Joined(shipper, "ExecStart"),
            "/usr/sbin/pgagent-shipperd --config /etc/pgagent/pgagent.ini "
            "--python-agent-config /etc/bitville/postgres-agent.ini");
}

}  // namespace
}  // namespace pgagent
