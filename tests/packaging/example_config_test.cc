// The shipped example configuration packaging/pgagent.ini (/etc/pgagent/pgagent.ini): it is
// what tools/gen-example-config generates, lists every key of AllConfigKeys() with its
// default and environment variable, and loads as the built-in defaults, commented or not.
#include "tools/gen-example-config/example_config.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>

#include "common/config.h"
#include "tests/packaging/shell.h"

namespace pgagent {
namespace {

using testing::ReadFileText;
using testing::TempDir;
using testing::WriteFileText;

const std::string kExamplePath = std::string(PGAGENT_SOURCE_DIR) + "/packaging/pgagent.ini";

// section -> key -> the text after "; key =" (trimmed), for every commented key line.
using CommentedKeys = std::map<std::string, std::map<std::string, std::string>>;

bool IsKnownKey(const std::string& section, const std::string& key) {
  for (const ConfigKeyInfo& info : AllConfigKeys()) {
    if (info.section == section && info.key == key) return true;
  }
  return false;
}

// The key name of a line "; key = value" or "; key =", or "" for any other line.
std::string CommentedKeyName(const std::string& line) {
  if (!line.starts_with("; ")) return "";
  const size_t eq = line.find(" =", 2);
  if (eq == std::string::npos) return "";
  const std::string name = line.substr(2, eq - 2);
  if (name.empty() ||
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos) {
    return "";
  }
  return name;
}

CommentedKeys ParseCommentedKeys(const std::string& text) {
  CommentedKeys keys;
  std::istringstream in(text);
  std::string line;
  std::string section;
  while (std::getline(in, line)) {
    if (line.starts_with("[") && line.ends_with("]")) {
      section = line.substr(1, line.size() - 2);
      continue;
    }
    const std::string name = CommentedKeyName(line);
    if (name.empty() || !IsKnownKey(section, name)) continue;
    std::string value = line.substr(2 + name.size() + 2);
    if (value.starts_with(" ")) value.erase(0, 1);
    keys[section][name] = value;
  }
  return keys;
}

// `text` with the "; " removed in front of every key line.
std::string Uncommented(const std::string& text) {
  std::istringstream in(text);
  std::ostringstream out;
  std::string line;
  std::string section;
  while (std::getline(in, line)) {
    if (line.starts_with("[") && line.ends_with("]")) section = line.substr(1, line.size() - 2);
    const std::string name = CommentedKeyName(line);
    out << (!name.empty() && IsKnownKey(section, name) ? line.substr(2) : line) << '\n';
  }
  return out.str();
}

TEST(ExampleConfigTest, ShippedFileIsWhatTheGeneratorWrites) {
  const std::string shipped = ReadFileText(kExamplePath);
  ASSERT_FALSE(shipped.empty()) << kExamplePath;
  EXPECT_EQ(shipped, ExampleConfigText(AllConfigKeys()))
      << "packaging/pgagent.ini is stale; regenerate it with\n"
         "  build/tools/gen-example-config/pgagent-gen-example-config > packaging/pgagent.ini";
}

TEST(ExampleConfigTest, ListsEveryKeyWithItsDefaultAndEnvironmentVariable) {
  const std::string shipped = ReadFileText(kExamplePath);
  const CommentedKeys listed = ParseCommentedKeys(shipped);
  size_t count = 0;
  for (const ConfigKeyInfo& info : AllConfigKeys()) {
    ++count;
    const std::string where = "[" + info.section + "] " + info.key;
    ASSERT_TRUE(listed.contains(info.section)) << where;
    const auto& section = listed.at(info.section);
    ASSERT_TRUE(section.contains(info.key)) << where << " is missing";
    EXPECT_EQ(section.at(info.key), info.default_value) << where;
    EXPECT_NE(shipped.find(info.env_var), std::string::npos) << info.env_var;
    if (!info.legacy_env_var.empty()) {
      EXPECT_NE(shipped.find(info.legacy_env_var), std::string::npos) << info.legacy_env_var;
    }
  }
  EXPECT_GT(count, 50u);
}

TEST(ExampleConfigTest, LinesFitLibinihLimit) {
  std::istringstream in(ReadFileText(kExamplePath));
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    EXPECT_LE(line.size(), 198u) << "line " << number;
  }
}

TEST(ExampleConfigTest, LoadsAsTheBuiltInDefaults) {
  auto loaded = LoadConfig(kExamplePath, Environment{}, ConfigRequirements{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->config == Config{});
  for (const auto& w : loaded->warnings) ADD_FAILURE() << "warning: " << w;
}

TEST(ExampleConfigTest, UncommentingEveryKeyStillLoadsAsTheBuiltInDefaults) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const auto path = dir.path() / "pgagent.ini";
  const std::string text = Uncommented(ReadFileText(kExamplePath));
  ASSERT_TRUE(WriteFileText(path, text));
  auto loaded = LoadConfig(path.string(), Environment{}, ConfigRequirements{});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString() << "\n" << text;
  EXPECT_TRUE(loaded->config == Config{});
  for (const auto& w : loaded->warnings) ADD_FAILURE() << "warning: " << w;
}

}  // namespace
}  // namespace pgagent
