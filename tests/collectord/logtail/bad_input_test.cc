// Bad input on real files: a 10 MB line, runs of NUL bytes, invalid UTF-8, a partial last line
// completed after a restart, a reused inode, a file truncated while stopped, a corrupt state
// file. Nothing crashes, nothing after the bad input is lost, and the text handed on is valid
// UTF-8 (it serializes into a protobuf string field).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "collectord/logtail/file_tailer.h"
#include "pgagent/v1/records.pb.h"
#include "tests/collectord/logtail_unit/logtail_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::logtail {
namespace {

using namespace std::chrono_literals;
using testing::AppendFile;
using testing::TempDir;
using testing::WriteFile;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OffsetStore::Open(dir_.File("state"), "pg");
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
  }
  std::unique_ptr<FileTailer> Make(bool with_store = true, bool from_beginning = true) {
    FileTailerOptions o;
    o.path = path_;
    o.start_at_beginning = from_beginning;
    o.commit_interval = 0ms;
    auto t = FileTailer::Create(o, PosixLogFileSystem::Instance(), clock_,
                                with_store ? store_.get() : nullptr);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(t).value();
  }
  // Polls until a poll reads nothing (bounded); commits after each poll.
  std::vector<TailLine> Drain(FileTailer& t, bool commit = true) {
    std::vector<TailLine> all;
    for (int i = 0; i < 1000; ++i) {
      const uint64_t before = t.stats().bytes_read;
      t.Poll(&poll_);
      if (poll_.lines.empty() && t.stats().bytes_read == before) break;
      if (poll_.lines.empty()) continue;
      if (commit) {
        EXPECT_TRUE(t.Commit(*t.CursorAt(poll_.lines.back().end_offset)).ok());
      }
      for (auto& l : poll_.lines) all.push_back(std::move(l));
    }
    return all;
  }
  static std::vector<std::string> Texts(const std::vector<TailLine>& lines) {
    std::vector<std::string> out;
    for (const auto& l : lines) out.push_back(l.text);
    return out;
  }
  using Lines = std::vector<std::string>;

  TempDir dir_;
  std::string path_ = dir_.File("postgresql.log");
  FakeClock clock_;
  std::unique_ptr<OffsetStore> store_;
  TailPoll poll_;
};

TEST_F(BadInputTest, TenMegabyteLineIsCutAtTheCapFlaggedAndFollowingLinesAreIntact) {
  WriteFile(path_, "line 0\n" + std::string(10 << 20, 'x') + "\nline 2\n");
  auto t = Make();
  auto lines = Drain(*t);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "line 0");
  EXPECT_EQ(lines[1].text.size(), size_t{1} << 20);
  EXPECT_TRUE(lines[1].truncated);
  EXPECT_EQ(lines[1].end_offset, 7u + (10u << 20) + 1u);
  EXPECT_EQ(lines[2].text, "line 2");
  EXPECT_FALSE(lines[2].truncated);
  EXPECT_EQ(t->line_stats().truncated_lines, 1u);
}

TEST_F(BadInputTest, RunsOfNulBytesAreDroppedAndLinesAroundThemSurvive) {
  WriteFile(path_, "line 0\n" + std::string(4096, '\0') + "line 1\n" + std::string(100, '\0') +
                       "\nline 2\n");
  auto t = Make();
  EXPECT_EQ(Texts(Drain(*t)), (Lines{"line 0", "line 1", "", "line 2"}));
  EXPECT_EQ(t->line_stats().nul_bytes, 4196u);
}

TEST_F(BadInputTest, InvalidUtf8IsReplacedAndTheTextFitsAProtobufString) {
  WriteFile(path_, "line \xFF\xFE 0\nline \xE2\x82 1\nline \xC3\xA9 2\n");
  auto t = Make();
  auto lines = Drain(*t);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "line \xEF\xBF\xBD\xEF\xBF\xBD 0");
  EXPECT_EQ(lines[2].text, "line \xC3\xA9 2");
  EXPECT_EQ(t->line_stats().invalid_utf8_lines, 2u);
  for (const auto& l : lines) {
    pgagent::v1::LogEntry entry;
    entry.set_message(l.text);
    std::string wire;
    ASSERT_TRUE(entry.SerializeToString(&wire));
    pgagent::v1::LogEntry back;
    ASSERT_TRUE(back.ParseFromString(wire));
    EXPECT_EQ(back.message(), l.text);
  }
}

TEST_F(BadInputTest, PartialLastLineCompletedAfterARestartIsEmittedOnceAndWhole) {
  WriteFile(path_, "line 0\nline 1 begins");
  std::vector<std::string> all;
  {
    auto t = Make();
    for (auto& s : Texts(Drain(*t))) all.push_back(s);
    EXPECT_EQ(t->last_commit()->offset, 7u);  // before the partial line
  }
  AppendFile(path_, " and ends\nline 2\n");
  auto t = Make();
  for (auto& s : Texts(Drain(*t))) all.push_back(s);
  EXPECT_EQ(all, (Lines{"line 0", "line 1 begins and ends", "line 2"}));
}

TEST_F(BadInputTest, ReusedInodeWithOtherContentIsCaughtByTheFingerprint) {
  // Same device and inode, other bytes before the saved offset: what a reused inode number
  // looks like. (Rewriting in place keeps the inode deterministically; a fresh file may or may
  // not get the old number.)
  WriteFile(path_, "old 0\nold 1\nold 2\n");
  {
    auto t = Make();
    EXPECT_EQ(Drain(*t).size(), 3u);
  }
  const uint64_t inode = testing::InodeOf(path_);
  WriteFile(path_, "new 0\nnew 1\nnew 2\nnew 3\n");
  ASSERT_EQ(testing::InodeOf(path_), inode);
  auto t = Make();
  EXPECT_EQ(Texts(Drain(*t)), (Lines{"new 0", "new 1", "new 2", "new 3"}));
  EXPECT_EQ(t->stats().resume_mismatches, 1u);
}

TEST_F(BadInputTest, FileTruncatedWhileStoppedIsReadFromZero) {
  WriteFile(path_, "old 0\nold 1\nold 2\n");
  {
    auto t = Make();
    EXPECT_EQ(Drain(*t).size(), 3u);
  }
  ASSERT_EQ(::truncate(path_.c_str(), 0), 0);
  AppendFile(path_, "new 0\n");
  auto t = Make();
  EXPECT_EQ(Texts(Drain(*t)), Lines{"new 0"});
}

TEST_F(BadInputTest, CorruptStateFileIsReportedAndTheFileIsReadFromItsBeginning) {
  testing::LogCapture logs;
  WriteFile(path_, "a\nb\n");
  WriteFile(store_->file_path(), "pgagent-logtail-offset 1\ngarbage\n");
  auto t = Make(/*with_store=*/true, /*from_beginning=*/false);
  EXPECT_EQ(Texts(Drain(*t)), (Lines{"a", "b"}));
  EXPECT_EQ(logs.Count("logtail.offset_state_unreadable"), 1);
}

}  // namespace
}  // namespace pgagent::logtail
