// Every journal event the README names is logged somewhere, and every "[section] key" the
// README, the units and the programs' messages name is a setting (AllConfigKeys()), so that an
// administrator following a message or the troubleshooting table finds what it names (the
// messages once said "set [logs] log_path", a section that does not exist).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/config.h"

namespace pgagent {
namespace {

namespace fs = std::filesystem;
const fs::path kSource = PGAGENT_SOURCE_DIR;

std::string Read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The program sources (not the tests: they may name wrong keys on purpose).
std::vector<fs::path> ProgramSources() {
  std::vector<fs::path> files;
  for (const char* dir : {"collectord", "shipperd", "common", "tools"}) {
    for (const auto& e : fs::recursive_directory_iterator(kSource / dir)) {
      const std::string ext = e.path().extension().string();
      if (ext == ".cc" || ext == ".h") files.push_back(e.path());
    }
  }
  return files;
}

std::string AllProgramSources() {
  std::string all;
  for (const auto& f : ProgramSources()) all += Read(f) + "\n";
  return all;
}

// Event names: `component.event` in backquotes, for the daemons' components.
std::set<std::string> ReadmeEvents() {
  const std::regex event(
      R"(`((?:delivery|collector|collectord|shipperd|logs|logtail|ingest|buffer|config|control|ipc|listener|metrics|transport)\.[a-z_]+)`)");
  std::set<std::string> events;
  const std::string readme = Read(kSource / "README.md");
  for (std::sregex_iterator it(readme.begin(), readme.end(), event), end; it != end; ++it) {
    events.insert((*it)[1].str());
  }
  return events;
}

struct Named {
  std::string section, key, where;
};

// "[section] key" mentions; "[section]" followed by a word that is not a key name (e.g. "[agent]
// section") is not one. Placeholders of the format ("[section] key") are skipped.
std::vector<Named> SettingMentions(const std::string& text, const std::string& where) {
  const std::regex mention(R"(\[([a-z_]+)\] ([a-z_]+[a-z0-9_]*))");
  std::vector<Named> found;
  for (std::sregex_iterator it(text.begin(), text.end(), mention), end; it != end; ++it) {
    const std::string section = (*it)[1].str();
    const std::string word = (*it)[2].str();
    if (section == "section" || section == "default") continue;
    // "the [database] settings", "[ipc] changes need a restart": prose, not a key.
    if (word == "section" || word == "settings" || word == "changes" || word == "and" ||
        word == "keys") {
      continue;
    }
    found.push_back({section, word, where});
  }
  return found;
}

bool IsKey(const std::string& section, const std::string& key) {
  for (const auto& info : AllConfigKeys()) {
    if (info.section == section && info.key == key) return true;
  }
  return false;
}

bool IsSection(const std::string& section) {
  for (const auto& info : AllConfigKeys()) {
    if (info.section == section) return true;
  }
  return false;
}

TEST(DocsNamesTest, EveryEventTheReadmeNamesIsLogged) {
  const std::string sources = AllProgramSources();
  const std::set<std::string> events = ReadmeEvents();
  EXPECT_GE(events.size(), 5u) << "the README's event names were not found";
  for (const auto& event : events) {
    EXPECT_NE(sources.find("\"" + event + "\""), std::string::npos)
        << "README.md names the event `" << event << "`, which no program logs";
  }
}

TEST(DocsNamesTest, EverySettingTheReadmeAndTheUnitsNameExists) {
  std::vector<Named> mentions = SettingMentions(Read(kSource / "README.md"), "README.md");
  for (const auto& unit : fs::directory_iterator(kSource / "systemd")) {
    for (auto& m : SettingMentions(Read(unit.path()), unit.path().filename().string())) {
      mentions.push_back(m);
    }
  }
  EXPECT_GE(mentions.size(), 10u);
  for (const auto& m : mentions) {
    EXPECT_TRUE(IsSection(m.section)) << m.where << " names the section [" << m.section << "]";
    if (IsSection(m.section)) {
      EXPECT_TRUE(IsKey(m.section, m.key))
          << m.where << " names [" << m.section << "] " << m.key << ", which is not a setting";
    }
  }
}

TEST(DocsNamesTest, EverySettingTheProgramsMessagesNameExists) {
  size_t count = 0;
  for (const auto& file : ProgramSources()) {
    for (const auto& m : SettingMentions(Read(file), file.lexically_relative(kSource).string())) {
      ++count;
      EXPECT_TRUE(IsKey(m.section, m.key))
          << m.where << " names [" << m.section << "] " << m.key << ", which is not a setting";
    }
  }
  EXPECT_GE(count, 20u);
}

}  // namespace
}  // namespace pgagent
