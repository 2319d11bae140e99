// collectord's one-cycle modes on the command line: --dry-run, and not together with --once.
#include "common/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include "common/exit_codes.h"

namespace pgagent {
namespace {

using ::testing::HasSubstr;

TEST(DryRunOptionTest, DryRunIsACollectordOption) {
  CLI::App app{"test"};
  CommandLineOptions options;
  AddStandardOptions(app, options, /*with_once=*/true);
  const char* argv[] = {"pgagent-collectord", "--dry-run"};
  EXPECT_EQ(ParseCommandLine(app, options, "pgagent-collectord", 2, argv), std::nullopt);
  EXPECT_TRUE(options.dry_run);
  EXPECT_FALSE(options.once);
}

TEST(DryRunOptionTest, DryRunAndOnceTogetherAreAUsageError) {
  CLI::App app{"test"};
  CommandLineOptions options;
  AddStandardOptions(app, options, /*with_once=*/true);
  const char* argv[] = {"pgagent-collectord", "--dry-run", "--once"};
  testing::internal::CaptureStderr();
  EXPECT_EQ(ParseCommandLine(app, options, "pgagent-collectord", 3, argv), kExitUsage);
  EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("excludes"));
}

TEST(DryRunOptionTest, ShipperdHasNoDryRun) {
  CLI::App app{"test"};
  CommandLineOptions options;
  AddStandardOptions(app, options, /*with_once=*/false);
  const char* argv[] = {"pgagent-shipperd", "--dry-run"};
  testing::internal::CaptureStderr();
  EXPECT_EQ(ParseCommandLine(app, options, "pgagent-shipperd", 2, argv), kExitUsage);
  EXPECT_THAT(testing::internal::GetCapturedStderr(), HasSubstr("--dry-run"));
}

}  // namespace
}  // namespace pgagent
