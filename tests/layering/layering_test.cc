// The layering rule (docs/architecture.md): proto <- common <- shared <- collectord | shipperd
// | tools, and no arrow points into a daemon. Checked on every #include "..." line of the
// source tree (tests/ and bench/ may use anything).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace pgagent {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = PGAGENT_SOURCE_DIR;

// For each folder of code, the top-level folders its includes may name.
const std::map<std::string, std::set<std::string>>& Allowed() {
  static const std::map<std::string, std::set<std::string>> allowed = {
      {"proto", {"proto", "pgagent"}},
      {"common", {"common", "pgagent"}},
      {"shared", {"common", "shared", "pgagent"}},
      {"collectord", {"common", "shared", "collectord", "pgagent"}},
      {"shipperd", {"common", "shared", "shipperd", "pgagent"}},
      {"tools", {"common", "shared", "tools", "pgagent"}},
  };
  return allowed;
}

struct Include {
  std::string file;
  int line = 0;
  std::string target;  // the quoted path
};

std::vector<Include> QuotedIncludes(const std::string& top) {
  std::vector<Include> includes;
  for (const auto& entry : fs::recursive_directory_iterator(kSource / top)) {
    const std::string ext = entry.path().extension().string();
    if (!entry.is_regular_file() || (ext != ".h" && ext != ".cc")) continue;
    std::ifstream in(entry.path());
    std::string text;
    for (int n = 1; std::getline(in, text); ++n) {
      const std::string prefix = "#include \"";
      if (text.rfind(prefix, 0) != 0) continue;
      const size_t end = text.find('"', prefix.size());
      if (end == std::string::npos) continue;
      includes.push_back({fs::relative(entry.path(), kSource).string(), n,
                          text.substr(prefix.size(), end - prefix.size())});
    }
  }
  return includes;
}

TEST(LayeringTest, IncludesPointOnlyDownTheLayers) {
  size_t checked = 0;
  for (const auto& [top, allowed] : Allowed()) {
    for (const Include& include : QuotedIncludes(top)) {
      ++checked;
      const std::string first = include.target.substr(0, include.target.find('/'));
      // A bare name ("foo.pb.h" next to the file) stays inside its own folder.
      if (include.target.find('/') == std::string::npos) continue;
      EXPECT_TRUE(allowed.count(first))
          << include.file << ":" << include.line << " includes \"" << include.target
          << "\": " << top << "/ may not depend on " << first << "/ (docs/architecture.md)";
    }
  }
  EXPECT_GT(checked, 300u);  // the walk saw the tree
}

TEST(LayeringTest, NoLibraryLinksAnotherBinarysLibraries) {
  const std::map<std::string, std::string> owner = {{"pgagent_shipper", "shipperd"},
                                                    {"pgagent_collector", "collectord"}};
  for (const std::string top : {"common", "shared", "collectord", "shipperd", "tools"}) {
    for (const auto& entry : fs::recursive_directory_iterator(kSource / top)) {
      if (entry.path().filename() != "CMakeLists.txt") continue;
      std::ifstream in(entry.path());
      std::string text;
      for (int n = 1; std::getline(in, text); ++n) {
        for (const auto& [prefix, folder] : owner) {
          if (folder == top) continue;
          EXPECT_EQ(text.find(prefix), std::string::npos)
              << fs::relative(entry.path(), kSource).string() << ":" << n << ": " << text;
        }
      }
    }
  }
}

}  // namespace
}  // namespace pgagent
