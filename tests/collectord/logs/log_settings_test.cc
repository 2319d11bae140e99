#include "collectord/logs/log_settings.h"

#include <gtest/gtest.h>

#include "collectord/logs/log_parser.h"

namespace pgagent {
namespace {

std::map<std::string, std::string> Settings(std::string destination) {
  return {{"log_destination", std::move(destination)},
          {"log_directory", "log"},
          {"log_filename", "postgresql-%Y-%m-%d_%H%M%S.log"},
          {"data_directory", "/var/lib/postgresql/15/main"},
          {"log_timezone", "Etc/UTC"},
          {"log_line_prefix", "%m [%p] %q%u@%d "},
          {"logging_collector", "on"}};
}

TEST(ChooseLogLocationTest, PrefersJsonlogThenCsvlogThenStderr) {
  auto json = ChooseLogLocation(Settings("stderr, csvlog,jsonlog"));
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->format, LogFormat::kJsonlog);
  EXPECT_EQ(json->path_pattern, "/var/lib/postgresql/15/main/log/postgresql-%Y-%m-%d_%H%M%S.json");
  auto csv = ChooseLogLocation(Settings("stderr,csvlog"));
  ASSERT_TRUE(csv.ok());
  EXPECT_EQ(csv->format, LogFormat::kCsvlog);
  EXPECT_EQ(csv->filename_pattern, "postgresql-%Y-%m-%d_%H%M%S.csv");
  auto err = ChooseLogLocation(Settings("stderr"));
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->format, LogFormat::kStderr);
  EXPECT_EQ(err->filename_pattern, "postgresql-%Y-%m-%d_%H%M%S.log");
  EXPECT_EQ(err->log_line_prefix, "%m [%p] %q%u@%d ");
  EXPECT_EQ(err->log_timezone, "Etc/UTC");
}

TEST(ChooseLogLocationTest, SuffixIsAppendedWhenTheNameDoesNotEndInDotLog) {
  auto s = Settings("csvlog");
  s["log_filename"] = "pg-%a";
  EXPECT_EQ(ChooseLogLocation(s)->filename_pattern, "pg-%a.csv");
}

TEST(ChooseLogLocationTest, AbsoluteDirectoryNeedsNoDataDirectory) {
  auto s = Settings("stderr");
  s["log_directory"] = "/var/log/postgresql/";
  s.erase("data_directory");
  auto r = ChooseLogLocation(s);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->directory, "/var/log/postgresql");
}

TEST(ChooseLogLocationTest, RelativeDirectoryWithoutDataDirectoryIsPermissionDenied) {
  auto s = Settings("stderr");
  s.erase("data_directory");
  EXPECT_EQ(ChooseLogLocation(s).status().code(), StatusCode::kPermissionDenied);
}

TEST(ChooseLogLocationTest, CollectorOffOrSyslogOnlyCannotBeFollowed) {
  auto off = Settings("stderr");
  off["logging_collector"] = "off";
  EXPECT_EQ(ChooseLogLocation(off).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ChooseLogLocation(Settings("syslog")).status().code(), StatusCode::kFailedPrecondition);
  auto missing = Settings("stderr");
  missing.erase("log_filename");
  EXPECT_EQ(ChooseLogLocation(missing).status().code(), StatusCode::kInvalidArgument);
}

TEST(ChooseLogLocationTest, OverridesPickFormatAndPrefix) {
  LogLocationOverrides o;
  o.format = LogFormat::kStderr;
  o.log_line_prefix = "%t [%p] ";
  auto r = ChooseLogLocation(Settings("stderr,jsonlog"), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->format, LogFormat::kStderr);
  EXPECT_EQ(r->log_line_prefix, "%t [%p] ");
  o.format = LogFormat::kCsvlog;
  EXPECT_EQ(ChooseLogLocation(Settings("stderr,jsonlog"), o).status().code(),
            StatusCode::kFailedPrecondition);
}

TEST(FetchLogSettingsTest, RunsTheQueryAndMapsRows) {
  std::string seen;
  auto r = FetchLogSettings([&](std::string_view sql) {
    seen = std::string(sql);
    return Result<std::vector<std::pair<std::string, std::string>>>(
        std::vector<std::pair<std::string, std::string>>{{"log_destination", "csvlog"}});
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(seen, kLogSettingsQuery);
  EXPECT_EQ(r->at("log_destination"), "csvlog");
  auto err = FetchLogSettings([](std::string_view) {
    return Result<std::vector<std::pair<std::string, std::string>>>(UnavailableError("down"));
  });
  EXPECT_EQ(err.status().code(), StatusCode::kUnavailable);
}

TEST(LogFormatTest, NamesRoundTrip) {
  for (LogFormat f :
       {LogFormat::kStderr, LogFormat::kCsvlog, LogFormat::kJsonlog, LogFormat::kSyslog}) {
    EXPECT_EQ(LogFormatFromName(LogFormatName(f)).value(), f);
  }
  EXPECT_FALSE(LogFormatFromName("eventlog").ok());
}

// The syslog daemon's configuration, not the server's, says which file holds the lines.
TEST(ChooseLogLocationTest, SyslogAloneAsksForTheSyslogFile) {
  auto only = ChooseLogLocation(Settings("syslog"));
  ASSERT_FALSE(only.ok());
  EXPECT_EQ(only.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(only.status().message().find("log_format = syslog"), std::string::npos);
  auto s = Settings("syslog");
  s["logging_collector"] = "off";  // usual with syslog: the same advice, not the collector's
  EXPECT_NE(ChooseLogLocation(s).status().message().find("log_path"), std::string::npos);
  LogLocationOverrides o;
  o.format = LogFormat::kSyslog;
  EXPECT_EQ(ChooseLogLocation(Settings("stderr,syslog"), o).status().code(),
            StatusCode::kFailedPrecondition);
  auto both = ChooseLogLocation(Settings("stderr,syslog"));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->format, LogFormat::kStderr);
}

TEST(FormatForConfiguredPathTest, IsSyslogWhenTheServerWritesNoFileItself) {
  EXPECT_EQ(FormatForConfiguredPath(Settings("syslog")), LogFormat::kSyslog);
  EXPECT_EQ(FormatForConfiguredPath(Settings(" Syslog ")), LogFormat::kSyslog);
  EXPECT_EQ(FormatForConfiguredPath(Settings("syslog,stderr")), LogFormat::kStderr);
  EXPECT_EQ(FormatForConfiguredPath(Settings("csvlog")), LogFormat::kStderr);
  EXPECT_EQ(FormatForConfiguredPath({}), LogFormat::kStderr);
}

TEST(ApplySyslogSettingsTest, TakesIdentAndSequenceNumbersFromTheServer) {
  LogParserOptions o;
  ApplySyslogSettings({}, &o);
  EXPECT_EQ(o.syslog_ident, "postgres");
  EXPECT_TRUE(o.syslog_sequence_numbers);
  ApplySyslogSettings({{"syslog_ident", "pg-main"}, {"syslog_sequence_numbers", "off"}}, &o);
  EXPECT_EQ(o.syslog_ident, "pg-main");
  EXPECT_FALSE(o.syslog_sequence_numbers);
}

}  // namespace
}  // namespace pgagent
