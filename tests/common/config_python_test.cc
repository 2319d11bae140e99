// The Python agent's files: read with Python configparser's rules (checked against python3's
// own configparser), chosen by where the file comes from or by [agent] ini_syntax, with a
// warning (never the value) wherever libinih would read a value differently; the Python
// agent's INI under pgagent's; starting from the environment alone; the example's placeholders.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/cli.h"
#include "common/config.h"
#include "common/ini_configparser.h"

namespace pgagent {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

class ConfigPythonTest : public ::testing::Test {
 protected:
  ConfigPythonTest() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "pgagent-py-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    dir_ = tmpl;
  }
  ~ConfigPythonTest() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& content) {
    const std::string file = dir_ + "/" + name;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
    chmod(file.c_str(), 0600);
    return file;
  }

  // What python3's configparser reads: "section\tkey\tvalue" lines, values with \n as "\\n".
  std::map<std::string, std::string> PythonReads(const std::string& file) {
    const std::string script = Write("dump.py",
                                     "import configparser, sys\n"
                                     "c = configparser.ConfigParser()\n"
                                     "c.read(sys.argv[1])\n"
                                     "for s in c.sections():\n"
                                     "    for k in c[s]:\n"
                                     "        v = c[s][k].replace('\\n', '\\\\n')\n"
                                     "        print(s.lower() + '\\t' + k + '\\t' + v)\n");
    std::map<std::string, std::string> values;
    FILE* pipe = ::popen(("python3 " + script + " " + file).c_str(), "r");
    if (pipe == nullptr) return values;
    char line[4096];
    while (std::fgets(line, sizeof(line), pipe) != nullptr) {
      std::string text(line);
      if (!text.empty() && text.back() == '\n') text.pop_back();
      const size_t a = text.find('\t');
      const size_t b = text.find('\t', a + 1);
      values[text.substr(0, b)] = text.substr(b + 1);
    }
    EXPECT_EQ(::pclose(pipe), 0);
    return values;
  }

  std::string dir_;
};

std::string Escaped(const std::string& v) {
  std::string out;
  for (char c : v) out += c == '\n' ? std::string("\\n") : std::string(1, c);
  return out;
}

TEST_F(ConfigPythonTest, ReadsEveryValueAsPythonsConfigparserDoes) {
  const std::string file = Write("agent.ini",
                                 "# a comment\n"
                                 "[DEFAULT]\n"
                                 "base = /var/lib\n"
                                 "project_id = shop\n"
                                 "\n"
                                 "[database]\n"
                                 "Password = pa%%ss ;word\n"
                                 "host: localhost\n"
                                 "user=mon ; not a comment\n"
                                 "dsn = first line\n"
                                 "   second line\n"
                                 "\n"
                                 "   ; a comment inside\n"
                                 "  third line\n"
                                 "\n"
                                 "[listener]\n"
                                 "url = https://l/%(project_id)s/ingest\n"
                                 "project_id = own\n"
                                 "path = %(base)s/x%%\n"
                                 "empty =\n"
                                 "  [agent]\n"
                                 "hostname = h # still the value\n");
  std::string content;
  {
    std::ifstream in(file);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto entries = ReadConfigparserIni(content, file);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  std::map<std::string, std::string> ours;
  for (const auto& e : *entries) ours[e.section + "\t" + e.key] = Escaped(e.value);
  const auto python = PythonReads(file);
  ASSERT_GE(python.size(), 10u);
  EXPECT_EQ(ours, python);
  EXPECT_EQ(ours["database\tpassword"], "pa%ss ;word");
}

TEST_F(ConfigPythonTest, ConfigparserErrorsNameTheLineButNeverTheValue) {
  for (const std::string& text : {std::string("[database]\npassword = 50%secret\n"),
                                  std::string("[database]\npassword = %(nokey)s-secret\n"),
                                  std::string("password = secret\n"),
                                  std::string("[database]\npassword = a\npassword = secret\n")}) {
    auto entries = ReadConfigparserIni(text, "/etc/bitville/postgres-agent.ini");
    ASSERT_FALSE(entries.ok()) << text;
    EXPECT_THAT(entries.status().message(), HasSubstr("/etc/bitville/postgres-agent.ini:"));
    EXPECT_THAT(entries.status().message(), Not(HasSubstr("secret"))) << text;
  }
}

TEST_F(ConfigPythonTest, ThePythonAgentsPasswordWorksAndTheDifferenceIsAWarningWithoutTheValue) {
  const std::string python = Write("postgres-agent.ini",
                                   "[database]\npassword = pa%%ss ;word\n"
                                   "[listener]\nurl = https://127.0.0.1:8443/ingest/postgres\n");
  auto loaded = LoadConfig(ConfigFiles{"", python}, {{"BITVILLE_PG_LISTENER_API_KEY", "k"}}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.password, "pa%ss ;word");
  EXPECT_THAT(
      loaded->warnings,
      Contains(AllOf(HasSubstr(python + ":2: [database] password: pgagent's INI syntax "
                                        "and Python's configparser read this value differently"),
                     HasSubstr("because it is the Python agent's file"), Not(HasSubstr("pa%")),
                     Not(HasSubstr(";word")))));
}

TEST_F(ConfigPythonTest, IniSyntaxKeyOrTheBitvilleDirectoryChooseConfigparser) {
  const std::string text =
      "[agent]\nini_syntax = configparser\n[database]\npassword = pa%%ss ;word\n";
  auto by_key = LoadConfig(Write("a.ini", text), {}, {});
  ASSERT_TRUE(by_key.ok()) << by_key.status().ToString();
  EXPECT_EQ(by_key->config.database.password, "pa%ss ;word");
  EXPECT_THAT(by_key->warnings, Contains(HasSubstr("because [agent] ini_syntax = configparser")));

  auto by_env = LoadConfig(Write("b.ini", "[database]\npassword = pa%%ss ;word\n"),
                           {{"BITVILLE_PG_AGENT_INI_SYNTAX", "configparser"}}, {});
  ASSERT_TRUE(by_env.ok()) << by_env.status().ToString();
  EXPECT_EQ(by_env->config.database.password, "pa%ss ;word");
}

TEST_F(ConfigPythonTest, PgagentsOwnFileKeepsLibinihsRulesAndWarnsWhereConfigparserDiffers) {
  auto loaded = LoadConfig(Write("pgagent.ini", "[database]\npassword = pa%%ss ;word\n"), {}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.password, "pa%%ss");
  EXPECT_THAT(loaded->warnings,
              Contains(AllOf(HasSubstr("[database] password"),
                             HasSubstr("set [agent] ini_syntax = configparser"))));
  auto plain = LoadConfig(Write("plain.ini", "[database]\nport = 5433\n"), {}, {});
  ASSERT_TRUE(plain.ok());
  EXPECT_THAT(plain->warnings, Not(Contains(HasSubstr("differently"))));
}

TEST_F(ConfigPythonTest, PgagentsFileWinsOverThePythonAgentsWithAWarning) {
  const std::string python = Write("py.ini", "[database]\nport = 5433\nuser = olduser\n");
  const std::string ours = Write("pgagent.ini", "[database]\nport = 5434\n");
  auto loaded = LoadConfig(ConfigFiles{ours, python}, {}, {});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.port, 5434);
  EXPECT_EQ(loaded->config.database.user, "olduser");
  EXPECT_THAT(loaded->warnings,
              Contains(HasSubstr(ours + ":2: [database] port: overrides " + python + ":2")));
  // The units name /etc/pgagent/pgagent.ini; deleted, the Python agent's file still works.
  auto only_python = LoadConfig(ConfigFiles{dir_ + "/deleted.ini", python}, {}, {});
  ASSERT_TRUE(only_python.ok()) << only_python.status().ToString();
  EXPECT_EQ(only_python->config.database.port, 5433);
  auto missing_python = LoadConfig(ConfigFiles{ours, dir_ + "/absent.ini"}, {}, {});
  ASSERT_TRUE(missing_python.ok()) << missing_python.status().ToString();
  EXPECT_EQ(missing_python->config.database.port, 5434);
}

TEST_F(ConfigPythonTest, StartsFromTheEnvironmentAloneWithoutAnyIniFile) {
  const Environment env = {{"BITVILLE_PG_DB_HOST", "127.0.0.1"},
                           {"BITVILLE_PG_LISTENER_API_KEY", "key"}};
  CommandLineOptions options;
  auto path = ResolveConfigPath(options, env);
  ASSERT_TRUE(path.ok()) << path.status().ToString();
  EXPECT_EQ(*path, "");
  auto loaded = LoadConfigFromCommandLine(options, env, ConfigRequirements{true});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->config.database.host, "127.0.0.1");
  EXPECT_THAT(loaded->warnings, Contains(HasSubstr("no config file; the settings come from")));
  // The packaged unit names /etc/pgagent/pgagent.ini: missing, it is a warning, not a stop.
  auto unit_path = LoadConfig(dir_ + "/pgagent.ini", env, ConfigRequirements{true});
  ASSERT_TRUE(unit_path.ok()) << unit_path.status().ToString();
  EXPECT_THAT(unit_path->warnings, Contains(HasSubstr(dir_ + "/pgagent.ini: not found")));
  // Without settings in the environment a missing file stays an error (a typo in --config),
  // also when a template unit set the instance's directories.
  EXPECT_FALSE(LoadConfig(dir_ + "/pgagent.ini", {}, {}).ok());
  EXPECT_FALSE(LoadConfig(dir_ + "/main.ini",
                          {{"BITVILLE_PG_IPC_RUNTIME_DIR", "/run/pgagent/main"},
                           {"BITVILLE_PG_BUFFER_PATH", "/var/lib/pgagent/main/buffer"}},
                          {})
                   .ok());
  EXPECT_FALSE(ResolveConfigPath(options, {}).ok());
}

TEST_F(ConfigPythonTest, TheExamplesPlaceholdersAreRejectedWithoutEchoingSecrets) {
  auto password =
      LoadConfig(Write("p.ini", "[database]\npassword = <your-password-here>\n"), {}, {});
  ASSERT_FALSE(password.ok());
  EXPECT_THAT(password.status().message(),
              AllOf(HasSubstr("p.ini:2: [database] password: the value is a placeholder"),
                    Not(HasSubstr("your-password"))));
  auto key = LoadConfig(Write("k.ini", "[listener]\napi_key = your_api_key_here\n"), {}, {});
  ASSERT_FALSE(key.ok());
  EXPECT_THAT(key.status().message(), HasSubstr("[listener] api_key: the value is a placeholder"));
  auto host = LoadConfig(Write("h.ini", "[database]\nhost = <db-host>\n"), {}, {});
  ASSERT_FALSE(host.ok());
  EXPECT_THAT(host.status().message(), HasSubstr("\"<db-host>\" is a placeholder"));
  // A log_line_prefix may well look like one.
  auto prefix = LoadConfig(Write("l.ini", "[collection]\nlog_line_prefix = <%t>\n"), {}, {});
  EXPECT_TRUE(prefix.ok()) << prefix.status().ToString();
}

}  // namespace
}  // namespace pgagent
