// pgagent-gen-example-config: prints the commented example configuration
// (packaging/pgagent.ini) generated from AllConfigKeys(). Regenerate the shipped file with
//   build/tools/gen-example-config/pgagent-gen-example-config > packaging/pgagent.ini
// tests/packaging checks that the shipped file is up to date.
#include <cstdio>

#include "common/config.h"
#include "tools/gen-example-config/example_config.h"

int main() {
  const std::string text = pgagent::ExampleConfigText(pgagent::AllConfigKeys());
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) return 1;
  return std::fflush(stdout) == 0 ? 0 : 1;
}
