// The Debian package built by `cpack -G DEB`: installed here with `dpkg -i`, it puts the
// binaries, units and conffile in place, creates the users, group and directories with the
// right modes, and `dpkg --purge` removes them again. The package is built once per process;
// InstalledDebPackageTest shares one install for the read-only checks, DebPackageLifecycleTest
// installs in SetUp. Both purge in their teardown, so the machine is left as found even when a
// test fails.
// The package is bitville-pgagent (Debian's "pgagent" is pgAdmin's job scheduler); lintian
// finds no error and no warning in it.
// REQUIRES: root, and bitville-pgagent (or the old pgagent) not installed (the tests refuse to
// touch an existing install).
#include <gmock/gmock.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/pg_cluster.h"
#include "tests/packaging/shell.h"

namespace pgagent {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::PgCluster;
using testing::PgClusterOptions;
using testing::ReadFileText;
using testing::RunCommand;
using testing::ShellQuote;
using testing::TempDir;
using testing::WriteFileText;

const fs::path kSourceDir = PGAGENT_SOURCE_DIR;
const fs::path kBinaryDir = PGAGENT_BINARY_DIR;
const std::vector<std::string> kUsers = {"pgagent-collector", "pgagent-shipper"};
const std::vector<std::string> kInstalledBinaries = {
    "/usr/sbin/pgagent-collectord", "/usr/sbin/pgagent-shipperd", "/usr/bin/pgagentctl"};
const std::vector<std::string> kUnits = {
    "pgagent-collectord.service",  "pgagent-shipperd.service",  "pgagent.target",
    "pgagent-collectord@.service", "pgagent-shipperd@.service", "pgagent@.target"};
constexpr const char* kPackage = "bitville-pgagent";
const std::string kDocDir = std::string("/usr/share/doc/") + kPackage;
// Installed manual pages: command -> page.
const std::map<std::string, std::string> kManPages = {
    {"pgagent-collectord", "/usr/share/man/man8/pgagent-collectord.8.gz"},
    {"pgagent-shipperd", "/usr/share/man/man8/pgagent-shipperd.8.gz"},
    {"pgagentctl", "/usr/share/man/man1/pgagentctl.1.gz"}};

// dpkg refuses to run while another dpkg/apt holds its lock (other engineers may be
// installing packages): retry a bounded number of times.
CommandResult RunDpkg(const std::string& arguments) {
  CommandResult result;
  for (int attempt = 0; attempt < 120; ++attempt) {
    result = RunCommand("DEBIAN_FRONTEND=noninteractive dpkg " + arguments);
    const bool locked = result.output.find("frontend lock") != std::string::npos ||
                        result.output.find("database is locked") != std::string::npos;
    if (result.exit_code == 0 || !locked) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  return result;
}

// "installed", "config-files", or "not-installed".
std::string PackageState() {
  const CommandResult r =
      RunCommand(std::string("dpkg-query -W -f='${db:Status-Status}' ") + kPackage);
  return r.exit_code == 0 && !r.output.empty() ? r.output : "not-installed";
}

struct FileInfo {
  bool exists = false;
  mode_t mode = 0;  // permission bits only
  std::string owner;
  std::string group;
  bool is_dir = false;
};

FileInfo Stat(const std::string& path) {
  FileInfo info;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return info;
  info.exists = true;
  info.mode = st.st_mode & 07777;
  info.is_dir = S_ISDIR(st.st_mode);
  const passwd* pw = ::getpwuid(st.st_uid);
  const group* gr = ::getgrgid(st.st_gid);
  info.owner = pw != nullptr ? pw->pw_name : std::to_string(st.st_uid);
  info.group = gr != nullptr ? gr->gr_name : std::to_string(st.st_gid);
  return info;
}

std::string Describe(const FileInfo& f) {
  std::ostringstream out;
  out << std::oct << f.mode << std::dec << " " << f.owner << ":" << f.group;
  return out.str();
}

bool UserExists(const std::string& name) { return ::getpwnam(name.c_str()) != nullptr; }
bool GroupExists(const std::string& name) { return ::getgrnam(name.c_str()) != nullptr; }

// Package names of a Depends: field ("a (>= 1), b | c" -> {a, b, c}).
std::set<std::string> DependedPackages(const std::string& depends) {
  std::set<std::string> names;
  std::string token;
  std::istringstream in(depends);
  while (std::getline(in, token, ',')) {
    std::istringstream alternatives(token);
    for (std::string alt; std::getline(alternatives, alt, '|');) {
      std::istringstream words(alt);
      std::string name;
      words >> name;
      if (!name.empty()) names.insert(name.substr(0, name.find(':')));
    }
  }
  return names;
}

// The Debian packages owning `paths` (path -> package, "" when none), with one dpkg -S call
// (it is slow); tries the /lib <-> /usr/lib spellings of merged /usr and the canonical path.
std::map<std::string, std::string> OwningPackages(const std::set<std::string>& paths) {
  std::map<std::string, std::vector<std::string>> candidates;
  std::string command = "dpkg -S";
  for (const auto& path : paths) {
    auto& list = candidates[path];
    list.push_back(path);
    if (path.starts_with("/usr/lib/")) list.push_back(path.substr(4));
    if (path.starts_with("/lib/")) list.push_back("/usr" + path);
    std::error_code ec;
    const fs::path canonical = fs::canonical(path, ec);
    if (!ec) list.push_back(canonical.string());
    for (const auto& c : list) command += " " + ShellQuote(c);
  }
  std::map<std::string, std::string> owner_of;  // candidate -> package
  std::istringstream out(RunCommand(command).output);
  for (std::string line; std::getline(out, line);) {
    const size_t sep = line.find(": /");
    if (sep == std::string::npos || line.starts_with("dpkg-query:")) continue;
    const std::string package = line.substr(0, line.find_first_of(":,"));
    owner_of[line.substr(sep + 2)] = package;
  }
  std::map<std::string, std::string> owners;
  for (const auto& [path, list] : candidates) {
    owners[path] = "";
    for (const auto& c : list) {
      if (owner_of.contains(c)) {
        owners[path] = owner_of[c];
        break;
      }
    }
  }
  return owners;
}

// Direct shared-library dependencies (DT_NEEDED) of `binary`, resolved to paths by ldd.
std::map<std::string, std::string> NeededLibraries(const std::string& binary) {
  std::map<std::string, std::string> resolved;  // soname -> path
  std::istringstream ldd(RunCommand("ldd " + ShellQuote(binary)).output);
  for (std::string line; std::getline(ldd, line);) {
    std::istringstream words(line);
    std::string soname, arrow, path;
    words >> soname >> arrow >> path;
    if (arrow == "=>") resolved[soname] = path;
  }
  std::map<std::string, std::string> needed;
  std::istringstream elf(RunCommand("readelf -d " + ShellQuote(binary)).output);
  for (std::string line; std::getline(elf, line);) {
    const size_t open = line.find("(NEEDED)");
    if (open == std::string::npos) continue;
    const size_t l = line.find('[');
    const size_t r = line.find(']', l);
    const std::string soname = line.substr(l + 1, r - l - 1);
    needed[soname] = resolved.contains(soname) ? resolved[soname] : "not found";
  }
  return needed;
}

// The package under test, built once per process by cpack into a temporary directory.
struct BuiltPackage {
  std::string error;  // empty when `deb` is usable
  fs::path deb;
};

BuiltPackage BuildPackage(const fs::path& into) {
  BuiltPackage built;
  const auto start = std::chrono::steady_clock::now();
  const CommandResult r = RunCommand("cpack -G DEB --config " +
                                     ShellQuote((kBinaryDir / "CPackConfig.cmake").string()) +
                                     " -B " + ShellQuote(into.string()));
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
  std::cout << "cpack -G DEB: exit " << r.exit_code << " in " << seconds.count() << " s"
            << std::endl;
  if (r.exit_code != 0) {
    built.error = "cpack -G DEB failed:\n" + r.output;
    return built;
  }
  for (const auto& entry : fs::directory_iterator(into)) {
    if (entry.path().extension() == ".deb") built.deb = entry.path();
  }
  if (built.deb.empty()) built.error = "cpack wrote no .deb:\n" + r.output;
  return built;
}

// Checks, once, that the machine has no pgagent install of its own (which the tests must
// not touch), then builds the package.
const BuiltPackage& PackageUnderTest() {
  static TempDir work;
  static const BuiltPackage package = [] {
    if (::geteuid() != 0) return BuiltPackage{"the package tests need root (dpkg -i)", {}};
    const bool old_name =
        RunCommand("dpkg-query -W -f='${db:Status-Status}' pgagent").output == "installed";
    if (PackageState() != "not-installed" || old_name || UserExists("pgagent-collector") ||
        UserExists("pgagent-shipper") || GroupExists("pgagent")) {
      return BuiltPackage{
          "pgagent is already installed here (or its users exist); the tests do not touch an "
          "existing install. Remove it with: dpkg --purge bitville-pgagent",
          {}};
    }
    if (work.path().empty()) return BuiltPackage{"mkdtemp failed", {}};
    return BuildPackage(work.path());
  }();
  return package;
}

// Installs the package; the caller checks with ASSERT_NO_FATAL_FAILURE.
void InstallPackage() {
  const CommandResult r = RunDpkg("-i " + ShellQuote(PackageUnderTest().deb.string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(PackageState(), "installed");
}

// Purges the package when any trace of it is registered with dpkg, unless the machine had
// an install of its own before the tests (then PackageUnderTest() has an error and nothing
// was installed by the tests).
void PurgePackageIfPresent() {
  if (!PackageUnderTest().error.empty() || PackageState() == "not-installed") return;
  const CommandResult r = RunDpkg(std::string("--purge ") + kPackage);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// Tests that only look at an installed package share one install.
class InstalledDebPackageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!PackageUnderTest().error.empty()) return;
    InstallPackage();
  }
  static void TearDownTestSuite() { PurgePackageIfPresent(); }

  void SetUp() override {
    ASSERT_EQ(PackageUnderTest().error, "");
    ASSERT_EQ(PackageState(), "installed");
  }
};

// Tests that install, change and remove the package: each starts from a fresh install and
// purges it whatever happens.
class DebPackageLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(PackageUnderTest().error, "");
    ASSERT_NO_FATAL_FAILURE(InstallPackage());
  }
  void TearDown() override { PurgePackageIfPresent(); }
};

TEST_F(InstalledDebPackageTest, FileIsNamedAfterPackageVersionAndArchitecture) {
  const fs::path& deb = PackageUnderTest().deb;
  EXPECT_EQ(deb.filename().string(), std::string(kPackage) + "_" + PGAGENT_VERSION + "_amd64.deb");
  const CommandResult fields =
      RunCommand("dpkg-deb -f " + ShellQuote(deb.string()) + " Package Version Architecture");
  std::cout << fields.output;
  EXPECT_EQ(fields.output, std::string("Package: ") + kPackage + "\nVersion: " + PGAGENT_VERSION +
                               "\nArchitecture: amd64\n");
}

// apt must never offer pgAdmin's job scheduler (Debian's "pgagent", 4.x) as an upgrade of
// the monitoring agent: the package has its own name, and takes over (Breaks/Replaces)
// only the agent's own old package "pgagent" (0.1.0 and earlier), not pgAdmin's.
TEST_F(InstalledDebPackageTest, HasItsOwnNameAndReplacesOnlyTheAgentsOldPackage) {
  const fs::path& deb = PackageUnderTest().deb;
  const CommandResult fields =
      RunCommand("dpkg-deb -f " + ShellQuote(deb.string()) + " Package Breaks Replaces");
  EXPECT_EQ(fields.output, std::string("Package: ") + kPackage +
                               "\nBreaks: pgagent (<< 1.0~)\nReplaces: pgagent (<< 1.0~)\n");
  EXPECT_EQ(RunCommand("dpkg --compare-versions 0.1.0 lt 1.0~").exit_code, 0);
  EXPECT_NE(RunCommand("dpkg --compare-versions 4.2.2-1 lt 1.0~").exit_code, 0);
}

// lintian, Debian's package checker: no error and no warning; the info tags left are
// overridden with a reason (packaging/lintian-overrides).
TEST_F(InstalledDebPackageTest, LintianFindsNoErrorAndNoWarning) {
  const CommandResult r = RunCommand("lintian --info --display-info --show-overrides " +
                                     ShellQuote(PackageUnderTest().deb.string()));
  std::cout << "lintian: exit " << r.exit_code << ", output:\n" << r.output << std::endl;
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_FALSE(line.starts_with("E: ") || line.starts_with("W: ")) << line;
    if (line.starts_with("I: ")) ADD_FAILURE() << "not fixed nor overridden: " << line;
  }
}

// Each command has a manual page, made by help2man from its own --help, that man renders
// without a warning and that shows the program's options.
TEST_F(InstalledDebPackageTest, EachCommandHasAManualPageMadeFromItsHelp) {
  for (const auto& [command, page] : kManPages) {
    const FileInfo f = Stat(page);
    ASSERT_TRUE(f.exists) << page;
    EXPECT_EQ(f.mode, 0644u) << page;
    const CommandResult rendered = RunCommand("MANWIDTH=100 man --warnings -E UTF-8 -l " +
                                              ShellQuote(page) + " 2>&1 >/dev/null");
    EXPECT_EQ(rendered.output, "") << page;
    const CommandResult text = RunCommand("MANWIDTH=100 man -l " + ShellQuote(page) + " | col -b");
    EXPECT_NE(text.output.find(command), std::string::npos) << text.output;
    EXPECT_NE(text.output.find("--config"), std::string::npos) << text.output;
    EXPECT_NE(text.output.find("EXIT STATUS"), std::string::npos) << text.output;
  }
  const CommandResult ctl =
      RunCommand("MANWIDTH=100 man -l " + kManPages.at("pgagentctl") + " | col -b");
  for (const char* word : {"degraded", "healthy", "--send-test-record", "--instance"}) {
    EXPECT_NE(ctl.output.find(word), std::string::npos) << word << "\n" << ctl.output;
  }
}

TEST_F(InstalledDebPackageTest, ShipsACopyrightFileAndAChangelogOfThisVersion) {
  EXPECT_EQ(ReadFileText(kDocDir + "/copyright"), ReadFileText(kSourceDir / "packaging/copyright"));
  const CommandResult changelog = RunCommand("zcat " + kDocDir + "/changelog.gz | head -1");
  EXPECT_EQ(changelog.output,
            std::string(kPackage) + " (" + PGAGENT_VERSION + ") bookworm; urgency=medium\n");
}

TEST_F(InstalledDebPackageTest, PutsBinariesInSbinAndBinAndUnitsInLibSystemd) {
  for (const auto& binary : kInstalledBinaries) {
    const FileInfo f = Stat(binary);
    ASSERT_TRUE(f.exists) << binary;
    EXPECT_EQ(f.mode, 0755u) << binary << " " << Describe(f);
    EXPECT_EQ(f.owner, "root") << binary;
  }
  for (const auto& unit : kUnits) {
    const std::string path = "/lib/systemd/system/" + unit;
    const FileInfo f = Stat(path);
    ASSERT_TRUE(f.exists) << path;
    EXPECT_EQ(f.mode, 0644u) << path << " " << Describe(f);
    EXPECT_EQ(ReadFileText(path), ReadFileText(kSourceDir / "systemd" / unit)) << path;
  }
  EXPECT_TRUE(Stat(kDocDir + "/examples/pgagent.ini").exists);
}

TEST_F(InstalledDebPackageTest, InstalledUnitsVerifyCleanAgainstTheInstalledBinaries) {
  std::string command = "systemd-analyze verify --man=yes";
  for (const auto& unit : kUnits) {
    std::string name = unit;
    if (const size_t at = name.find("@."); at != std::string::npos) name.insert(at + 1, "main");
    command += " /lib/systemd/system/" + name;
  }
  const CommandResult r = RunCommand(command);
  std::cout << "systemd-analyze verify (installed): exit " << r.exit_code << ", output: \""
            << r.output << "\"" << std::endl;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "");
}

TEST_F(InstalledDebPackageTest, InstalledDaemonsRunAndReportTheirVersion) {
  for (const std::string name : {"pgagent-collectord", "pgagent-shipperd"}) {
    const CommandResult r = RunCommand("/usr/sbin/" + name + " --version");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(r.output, name + " " + PGAGENT_VERSION + "\n");
  }
}

// An administrator running `pgagent-collectord --once` as root outside systemd gets the
// password the unit would hand over (LoadCredential= from /etc/pgagent/credentials), against a
// real PostgreSQL that demands it (scram-sha-256 for the role).
TEST_F(InstalledDebPackageTest, CollectorOnceRunByRootReadsThePackagedDatabasePassword) {
  PgClusterOptions options;
  options.all_log_formats = false;
  auto cluster = PgCluster::Start(options);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  PgCluster& pg = **cluster;
  ASSERT_TRUE(pg.Psql("SET password_encryption = 'scram-sha-256'; "
                      "CREATE ROLE once_monitor LOGIN PASSWORD 'once-pw-7' IN ROLE pg_monitor")
                  .ok());
  const fs::path hba = fs::path(pg.data_dir()) / "pg_hba.conf";
  ASSERT_TRUE(
      WriteFileText(hba, "host all once_monitor 127.0.0.1/32 scram-sha-256\n" + ReadFileText(hba)));
  ASSERT_TRUE(pg.Psql("SELECT pg_reload_conf()").ok());

  TempDir dir;
  const fs::path ini = dir.path() / "pgagent.ini";
  ASSERT_TRUE(
      WriteFileText(ini, "[database]\nhost = 127.0.0.1\nport = " + std::to_string(pg.port()) +
                             "\nuser = once_monitor\nname = postgres\n"));
  const std::string once =
      "env -i PATH=/usr/sbin:/usr/bin:/bin /usr/sbin/pgagent-collectord --config " +
      ShellQuote(ini.string()) + " --once";
  const fs::path credential = "/etc/pgagent/credentials/db_password";
  ASSERT_FALSE(fs::exists(credential)) << "refusing to overwrite the machine's credential";

  const CommandResult without = RunCommand(once);
  EXPECT_NE(without.exit_code, 0) << without.output;
  EXPECT_THAT(without.output, ::testing::HasSubstr("password")) << without.output;

  ASSERT_TRUE(WriteFileText(credential, "once-pw-7\n"));
  ASSERT_EQ(::chmod(credential.c_str(), 0600), 0);
  const CommandResult with = RunCommand(once);
  std::error_code ignored;
  fs::remove(credential, ignored);
  EXPECT_EQ(with.exit_code, 0) << with.output;
  EXPECT_THAT(with.output, ::testing::HasSubstr("\"RECORD_KIND_ACTIVITY\"")) << with.output;
  EXPECT_THAT(with.output, ::testing::Not(::testing::HasSubstr("once-pw-7")));
}

TEST_F(InstalledDebPackageTest, DependsNamesThePackageOfEveryLibraryTheBinariesLoad) {
  const std::set<std::string> depends =
      DependedPackages(RunCommand(std::string("dpkg-query -W -f='${Depends}' ") + kPackage).output);
  std::map<std::string, std::string> loaded_by;  // library path -> a binary that loads it
  for (const auto& binary : kInstalledBinaries) {
    ASSERT_TRUE(Stat(binary).exists) << binary << " is not installed";
    for (const auto& [soname, path] : NeededLibraries(binary)) {
      ASSERT_NE(path, "not found") << binary << " needs " << soname;
      loaded_by[path] = binary;
    }
  }
  std::set<std::string> paths;
  for (const auto& [path, binary] : loaded_by) paths.insert(path);
  for (const auto& [path, package] : OwningPackages(paths)) {
    std::cout << "  " << path << " <- " << package << '\n';
    EXPECT_TRUE(depends.contains(package))
        << loaded_by[path] << " loads " << path << " from package '" << package
        << "', which Depends: does not name";
  }
  EXPECT_GE(paths.size(), 10u);
}

TEST_F(InstalledDebPackageTest, ConfigIsAConffileReadableByRootAndGroupPgagentOnly) {
  const std::string conffiles =
      RunCommand(std::string("dpkg-query -W -f='${Conffiles}' ") + kPackage).output;
  EXPECT_NE(conffiles.find("/etc/pgagent/pgagent.ini "), std::string::npos) << conffiles;
  const FileInfo ini = Stat("/etc/pgagent/pgagent.ini");
  ASSERT_TRUE(ini.exists);
  EXPECT_EQ(Describe(ini), "640 root:pgagent");
  EXPECT_EQ(Describe(Stat("/etc/pgagent")), "750 root:pgagent");
  EXPECT_EQ(ReadFileText("/etc/pgagent/pgagent.ini"),
            ReadFileText(kSourceDir / "packaging" / "pgagent.ini"));
}

TEST_F(InstalledDebPackageTest, CreatesSystemUsersWithoutLoginInGroupPgagent) {
  const group* pgagent = ::getgrnam("pgagent");
  ASSERT_NE(pgagent, nullptr);
  EXPECT_LT(pgagent->gr_gid, 1000u);
  for (const auto& name : kUsers) {
    const passwd* pw = ::getpwnam(name.c_str());
    ASSERT_NE(pw, nullptr) << name;
    EXPECT_LT(pw->pw_uid, 1000u) << name;
    EXPECT_EQ(pw->pw_gid, pgagent->gr_gid) << name;
    EXPECT_STREQ(pw->pw_shell, "/usr/sbin/nologin") << name;
    EXPECT_STREQ(pw->pw_dir, "/nonexistent") << name;
    // The log-reading group comes from the unit (SupplementaryGroups=adm), not /etc/group.
    EXPECT_EQ(RunCommand("id -nG " + name).output, "pgagent\n") << name;
  }
  const uid_t collector = ::getpwnam("pgagent-collector")->pw_uid;  // getpwnam reuses its buffer
  EXPECT_NE(collector, ::getpwnam("pgagent-shipper")->pw_uid);
}

TEST_F(InstalledDebPackageTest, CreatesStateAndSecretDirectoriesWithRestrictiveModes) {
  const std::map<std::string, std::string> expected = {
      {"/var/lib/pgagent", "750 root:pgagent"},
      {"/var/lib/pgagent/collectord", "700 pgagent-collector:pgagent"},
      {"/var/lib/pgagent/buffer", "700 pgagent-shipper:pgagent"},
      {"/etc/pgagent/credentials", "700 root:root"}};
  for (const auto& [path, mode] : expected) {
    const FileInfo f = Stat(path);
    ASSERT_TRUE(f.exists && f.is_dir) << path;
    EXPECT_EQ(Describe(f), mode) << path;
  }
}

TEST_F(InstalledDebPackageTest, EachDaemonUserReachesOnlyItsOwnStateAndNoSecret) {
  ASSERT_TRUE(WriteFileText("/etc/pgagent/credentials/api_key", "secret-for-test\n"));
  ASSERT_EQ(::chmod("/etc/pgagent/credentials/api_key", 0600), 0);
  auto as = [](const std::string& user, const std::string& command) {
    return RunCommand("runuser -u " + user + " -- " + command).exit_code;
  };
  EXPECT_EQ(as("pgagent-shipper", "test -r /etc/pgagent/pgagent.ini"), 0);
  EXPECT_EQ(as("pgagent-collector", "test -r /etc/pgagent/pgagent.ini"), 0);
  EXPECT_NE(as("pgagent-shipper", "cat /etc/pgagent/credentials/api_key"), 0);
  EXPECT_EQ(as("pgagent-shipper", "touch /var/lib/pgagent/buffer/probe"), 0);
  EXPECT_NE(as("pgagent-collector", "touch /var/lib/pgagent/buffer/probe2"), 0);
  EXPECT_EQ(as("pgagent-collector", "touch /var/lib/pgagent/collectord/probe"), 0);
  EXPECT_NE(as("pgagent-shipper", "touch /var/lib/pgagent/collectord/probe2"), 0);
  // Purge keeps what the administrator put into /etc/pgagent: this test's key is removed here.
  EXPECT_EQ(::unlink("/etc/pgagent/credentials/api_key"), 0);
}

TEST_F(DebPackageLifecycleTest, ReinstallKeepsAnEditedConfigAndItsMode) {
  const std::string edited = ReadFileText("/etc/pgagent/pgagent.ini") + "; edited by the admin\n";
  ASSERT_TRUE(WriteFileText("/etc/pgagent/pgagent.ini", edited));
  ASSERT_NO_FATAL_FAILURE(InstallPackage());
  EXPECT_EQ(ReadFileText("/etc/pgagent/pgagent.ini"), edited);
  EXPECT_EQ(Describe(Stat("/etc/pgagent/pgagent.ini")), "640 root:pgagent");
}

TEST_F(DebPackageLifecycleTest, RemoveKeepsConfigUsersAndBufferedData) {
  ASSERT_TRUE(WriteFileText("/var/lib/pgagent/buffer/data.mdb", "records"));
  const CommandResult r = RunDpkg(std::string("--remove ") + kPackage);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(PackageState(), "config-files");
  for (const auto& binary : kInstalledBinaries) EXPECT_FALSE(Stat(binary).exists) << binary;
  EXPECT_FALSE(Stat("/lib/systemd/system/pgagent.target").exists);
  EXPECT_TRUE(Stat("/etc/pgagent/pgagent.ini").exists);
  EXPECT_EQ(ReadFileText("/var/lib/pgagent/buffer/data.mdb"), "records");
  for (const auto& name : kUsers) EXPECT_TRUE(UserExists(name)) << name;
}

TEST_F(DebPackageLifecycleTest, PurgeRemovesUsersGroupDirectoriesAndEnablementLinks) {
  const CommandResult enable = RunCommand("systemctl --root=/ enable pgagent.target");
  ASSERT_EQ(enable.exit_code, 0) << enable.output;
  ASSERT_TRUE(Stat("/etc/systemd/system/multi-user.target.wants/pgagent.target").exists);
  ASSERT_TRUE(WriteFileText("/var/lib/pgagent/buffer/data.mdb", "records"));
  ASSERT_TRUE(WriteFileText("/etc/pgagent/pgagent.ini.dpkg-old", "; the previous version\n"));

  const CommandResult r = RunDpkg(std::string("--purge ") + kPackage);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(PackageState(), "not-installed");
  for (const auto& name : kUsers) EXPECT_FALSE(UserExists(name)) << name;
  EXPECT_FALSE(GroupExists("pgagent"));
  for (const std::string path : {"/etc/pgagent", "/var/lib/pgagent", "/run/pgagent",
                                 "/etc/systemd/system/multi-user.target.wants/pgagent.target",
                                 "/etc/systemd/system/pgagent.target.wants"}) {
    EXPECT_FALSE(Stat(path).exists) << path;
  }
}

// Purge removes what the package shipped or created, never what the administrator put into
// /etc/pgagent (a CA file, an instance's INI, credentials): those stay, and purge says so.
TEST_F(DebPackageLifecycleTest, PurgeKeepsTheFilesTheAdministratorPutIntoEtcPgagent) {
  ASSERT_TRUE(WriteFileText("/etc/pgagent/listener-ca.pem", "CA\n"));
  ASSERT_TRUE(WriteFileText("/etc/pgagent/main.ini", "[database]\nport = 5433\n"));
  ASSERT_EQ(::mkdir("/etc/pgagent/credentials/main", 0700), 0);
  ASSERT_TRUE(WriteFileText("/etc/pgagent/credentials/main/api_key", "key\n"));
  ASSERT_TRUE(WriteFileText("/etc/pgagent/pgagent.ini",
                            ReadFileText("/etc/pgagent/pgagent.ini") + "; edited\n"));
  const CommandResult r = RunDpkg(std::string("--purge ") + kPackage);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::cout << r.output;
  EXPECT_NE(r.output.find("/etc/pgagent/listener-ca.pem"), std::string::npos) << r.output;
  EXPECT_EQ(ReadFileText("/etc/pgagent/listener-ca.pem"), "CA\n");
  EXPECT_EQ(ReadFileText("/etc/pgagent/main.ini"), "[database]\nport = 5433\n");
  EXPECT_EQ(ReadFileText("/etc/pgagent/credentials/main/api_key"), "key\n");
  // The package's own conffile goes, edited or not (dpkg purges conffiles).
  EXPECT_FALSE(Stat("/etc/pgagent/pgagent.ini").exists);
  EXPECT_FALSE(Stat("/var/lib/pgagent").exists);
  RunCommand("rm -rf /etc/pgagent");  // this test's own files
}

}  // namespace
}  // namespace pgagent
