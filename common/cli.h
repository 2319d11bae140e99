// The command line shared by pgagent-collectord and pgagent-shipperd (CLI11), and where the
// config file path comes from:
//   1. `--config PATH` or the first positional argument (explicit, so it wins; giving both
//      with different paths is an error),
//   2. else the environment variable BITVILLE_PG_CONFIG_PATH,
//   3. else, when BITVILLE_PG_* variables carry the settings, no file at all,
//   4. else an error.
// --python-agent-config PATH adds the Python agent's INI under it (common/config.h,
// ConfigFiles); the packaged units pass /etc/bitville/postgres-agent.ini.
// Typical main():
//   CLI::App app{"pgagent collector"};
//   CommandLineOptions options;
//   AddStandardOptions(app, options, /*with_once=*/true);
//   if (auto code = ParseCommandLine(app, options, "pgagent-collectord", argc, argv)) return *code;
//   auto loaded = LoadConfigFromCommandLine(options, ProcessEnvironment(), {});
//   if (!loaded.ok()) { std::fprintf(stderr, "%s\n", loaded.status().message().c_str());
//                       return kExitConfig; }
// Thread-safety: call from main() before starting threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/config.h"
#include "common/status.h"

namespace CLI {
class App;
}  // namespace CLI

namespace pgagent {

struct CommandLineOptions {
  std::string config_flag;        // --config PATH / -c PATH
  std::string config_positional;  // first positional argument
  std::string python_agent_config;  // --python-agent-config PATH
  bool once = false;              // --once: one cycle, records to stdout, exit (collectord)
  bool dry_run = false;           // --dry-run: one cycle, listener envelopes to stdout (collectord)
  bool version = false;           // --version
};

// Adds --config/-c, the positional config path, --version, and --once and --dry-run when
// `with_once`.
// `options` must outlive the parse.
void AddStandardOptions(CLI::App& app, CommandLineOptions& options, bool with_once);

// Parses argv into `options` (through the options added above). Returns nullopt to go on,
// or the code main() must return: kExitOk after --help or --version (printed to stdout),
// kExitUsage after a usage error (printed to stderr).
std::optional<int> ParseCommandLine(CLI::App& app, const CommandLineOptions& options,
                                    std::string_view program, int argc, const char* const* argv);

// "pgagent-collectord 0.1.0"
std::string VersionLine(std::string_view program);

// The config path by the precedence above ("" for the environment alone). kInvalidArgument
// when none is given or the flag and the positional argument disagree.
Result<std::string> ResolveConfigPath(const CommandLineOptions& options, const Environment& env);

// ResolveConfigPath() then LoadConfig(). Any error means exit kExitConfig.
Result<LoadedConfig> LoadConfigFromCommandLine(const CommandLineOptions& options,
                                               const Environment& env,
                                               const ConfigRequirements& requirements);

}  // namespace pgagent
