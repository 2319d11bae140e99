// pgagentctl: asks pgagent-collectord and pgagent-shipperd how they are doing over their
// control sockets, inspects and manages shipperd's buffer, and checks the configuration
// and the connections to PostgreSQL and the listener. Command logic lives in *_cmd.cc;
// this file only declares the command line. Exit codes: tools/pgagentctl/ctl.h.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "common/cli.h"
#include "common/exit_codes.h"
#include "tools/pgagentctl/ctl.h"

namespace pgagent::ctl {
namespace {

struct Args {
  GlobalOptions global;
  bool version = false;
  uint32_t peek_limit = 0;
  std::string peek_kind;
  bool yes = false;
  uint32_t list_limit = 0;
  std::vector<uint64_t> requeue_ids;
  std::string check_path;
  bool print_values = false;
  bool send_test_record = false;
};

// The subcommands, to tell which one was given.
struct Commands {
  CLI::App* status = nullptr;
  CLI::App* queue_stats = nullptr;
  CLI::App* queue_peek = nullptr;
  CLI::App* queue_purge = nullptr;
  CLI::App* dl_list = nullptr;
  CLI::App* dl_requeue = nullptr;
  CLI::App* dl_purge = nullptr;
  CLI::App* check_config = nullptr;
  CLI::App* test_connection = nullptr;
};

Commands DeclareQueueCommands(CLI::App& app, Args& args) {
  Commands c;
  auto* queue = app.add_subcommand("queue", "shipperd's buffer")->require_subcommand(1);
  c.queue_stats = queue->add_subcommand("stats", "records, bytes, oldest age, by kind");
  c.queue_peek = queue->add_subcommand("peek", "decoded records from the head, as JSON");
  c.queue_peek->add_option("N", args.peek_limit, "how many (default 10, at most 1000)");
  c.queue_peek->add_option("--kind", args.peek_kind, "activity|statements|system|log|health");
  c.queue_purge = queue->add_subcommand("purge", "delete every buffered record");
  c.queue_purge->add_flag("--yes", args.yes, "confirm");
  auto* dead = app.add_subcommand("deadletter", "envelopes the listener refused for good")
                   ->require_subcommand(1);
  c.dl_list = dead->add_subcommand("list", "oldest first");
  c.dl_list->add_option("--limit", args.list_limit, "how many (default 20, at most 1000)");
  c.dl_requeue = dead->add_subcommand("requeue", "deliver again (all when no ids are given)");
  c.dl_requeue->add_option("IDS", args.requeue_ids, "dead-letter ids");
  c.dl_purge = dead->add_subcommand("purge", "delete every dead letter");
  c.dl_purge->add_flag("--yes", args.yes, "confirm");
  return c;
}

Commands DeclareCommandLine(CLI::App& app, Args& args) {
  app.fallthrough();  // --config / --json are accepted after the subcommand too
  app.add_option("--config,-c", args.global.config,
                 "INI config file (else $BITVILLE_PG_CONFIG_PATH, else " +
                     std::string(kDefaultConfigPath) + ")");
  app.add_option("--instance,-i", args.global.instance,
                 "the cluster of the template units pgagent-collectord@INSTANCE and "
                 "pgagent-shipperd@INSTANCE (config /etc/pgagent/INSTANCE.ini)");
  app.add_flag("--json", args.global.json, "print JSON (protobuf JSON mapping)");
  app.add_flag("--version", args.version, "print the version and exit");
  Commands c = DeclareQueueCommands(app, args);
  c.status = app.add_subcommand(
      "status", "health of both daemons; exit 0 healthy, 1 degraded, 2 down, 3 unknown");
  c.check_config = app.add_subcommand("check-config", "validate a config file as the daemons do");
  c.check_config->add_option("PATH", args.check_path,
                             "file to check (default: the --config resolution)");
  c.check_config->add_flag("--print", args.print_values, "also print every effective value");
  c.test_connection = app.add_subcommand("test-connection", "check PostgreSQL and the listener");
  c.test_connection->add_flag("--send-test-record", args.send_test_record,
                              "also POST one valid record (writes a row into the listener)");
  return c;
}

int Dispatch(const Commands& c, const Args& args) {
  const GlobalOptions& g = args.global;
  if (c.status->parsed()) return RunStatus(g);
  if (c.queue_stats->parsed()) return RunQueueStats(g);
  if (c.queue_peek->parsed()) return RunQueuePeek(g, args.peek_limit, args.peek_kind);
  if (c.queue_purge->parsed()) return RunQueuePurge(g, args.yes);
  if (c.dl_list->parsed()) return RunDeadLetterList(g, args.list_limit);
  if (c.dl_requeue->parsed()) return RunDeadLetterRequeue(g, args.requeue_ids);
  if (c.dl_purge->parsed()) return RunDeadLetterPurge(g, args.yes);
  if (c.check_config->parsed()) return RunCheckConfig(g, args.check_path, args.print_values);
  if (c.test_connection->parsed()) return RunTestConnection(g, args.send_test_record);
  return kExitUsage;
}

int Main(int argc, char** argv) {
  CLI::App app{"pgagentctl: status, buffer and checks of the pgagent daemons"};
  Args args;
  const Commands commands = DeclareCommandLine(app, args);
  try {
    app.parse(argc, argv);
    if (!args.version && app.get_subcommands().empty()) {
      throw CLI::RequiredError(
          "a command (status, queue, deadletter, check-config, test-connection)");
    }
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e, std::cout, std::cerr);
    return kExitUsage;
  }
  if (args.version) {
    std::printf("%s\n", VersionLine("pgagentctl").c_str());
    return kExitOk;
  }
  const std::string& instance = args.global.instance;
  if (instance.find_first_not_of(
          "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") !=
          std::string::npos ||
      instance.starts_with('.')) {
    std::fprintf(stderr, "pgagentctl: --instance %s: letters, digits, '_', '.', '-' only\n",
                 instance.c_str());
    return kExitUsage;
  }
  return Dispatch(commands, args);
}

}  // namespace
}  // namespace pgagent::ctl

int main(int argc, char** argv) { return pgagent::ctl::Main(argc, argv); }
