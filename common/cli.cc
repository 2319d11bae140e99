#include "common/cli.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "common/exit_codes.h"

#ifndef PGAGENT_VERSION
#define PGAGENT_VERSION "unknown"
#endif

namespace pgagent {

void AddStandardOptions(CLI::App& app, CommandLineOptions& options, bool with_once) {
  app.add_option("--config,-c", options.config_flag,
                 "INI config file (else BITVILLE_PG_CONFIG_PATH)");
  app.add_option("config_path", options.config_positional, "INI config file, like --config");
  app.add_option("--python-agent-config", options.python_agent_config,
                 "the Python agent's INI (configparser syntax), read under --config; "
                 "skipped when missing");
  app.add_flag("--version", options.version, "print the version and exit");
  if (with_once) {
    app.add_flag("--once", options.once,
                 "run one cycle of every collector, print the records as JSON lines, exit");
    app.add_flag("--dry-run", options.dry_run,
                 "run one cycle of every collector, print the listener request bodies "
                 "shipperd would send for its records (one per line), send nothing, exit")
        ->excludes("--once");
  }
}

std::optional<int> ParseCommandLine(CLI::App& app, const CommandLineOptions& options,
                                    std::string_view program, int argc, const char* const* argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    app.exit(e);  // prints the help to stdout
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    app.exit(e, std::cout, std::cerr);
    return kExitUsage;
  }
  if (options.version) {
    std::printf("%s\n", VersionLine(program).c_str());
    return kExitOk;
  }
  return std::nullopt;
}

std::string VersionLine(std::string_view program) {
  return std::string(program) + " " + PGAGENT_VERSION;
}

Result<std::string> ResolveConfigPath(const CommandLineOptions& options, const Environment& env) {
  const std::string& flag = options.config_flag;
  const std::string& positional = options.config_positional;
  if (!flag.empty() && !positional.empty() && flag != positional) {
    return InvalidArgumentError("the config file is given twice: --config " + flag + " and " +
                                positional);
  }
  if (!flag.empty()) return flag;
  if (!positional.empty()) return positional;
  auto it = env.find("BITVILLE_PG_CONFIG_PATH");
  if (it != env.end() && !it->second.empty()) return it->second;
  if (EnvironmentCarriesSettings(env)) return std::string();
  if (!options.python_agent_config.empty()) return std::string();
  return InvalidArgumentError(
      "no config file: pass --config PATH or PATH, or set BITVILLE_PG_CONFIG_PATH");
}

Result<LoadedConfig> LoadConfigFromCommandLine(const CommandLineOptions& options,
                                               const Environment& env,
                                               const ConfigRequirements& requirements) {
  PGAGENT_ASSIGN_OR_RETURN(std::string path, ResolveConfigPath(options, env));
  return LoadConfig(ConfigFiles{path, options.python_agent_config}, env, requirements);
}

}  // namespace pgagent
