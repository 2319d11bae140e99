// Loads text fixtures captured from this machine's /proc (see fixtures/README.md).
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace pgagent::system::testing {

inline std::string Fixture(const std::string& name) {
  const std::string path =
      std::string(PGAGENT_SOURCE_DIR) + "/tests/collectord/system/fixtures/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("missing fixture " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace pgagent::system::testing
