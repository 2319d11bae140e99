// FileTailer decisions driven by a FakeClock on real files in a temporary directory: start
// position, backoff and warnings for missing / unreadable files, pause, rotation waits,
// truncation, commits.
#include "collectord/logtail/file_tailer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "collectord/logtail/fingerprint.h"
#include "tests/collectord/logtail_unit/logtail_test_util.h"
#include "tests/fakes/fake_clock.h"

namespace pgagent::logtail {
namespace {

using namespace std::chrono_literals;
using testing::AppendFile;
using testing::LogCapture;
using testing::TempDir;
using testing::WriteFile;

class FileTailerTest : public ::testing::Test {
 protected:
  FileTailerOptions Options() {
    FileTailerOptions o;
    o.path = dir_.File("postgresql.log");
    o.rotate_wait = 500ms;
    o.retry_initial = 1s;
    o.retry_max = 4s;
    o.commit_interval = 0ms;
    return o;
  }
  std::unique_ptr<FileTailer> Make(FileTailerOptions o, LogFileSystem* fs = nullptr,
                                   OffsetStore* store = nullptr) {
    auto t =
        FileTailer::Create(std::move(o), fs ? *fs : PosixLogFileSystem::Instance(), clock_, store);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(t).value() : nullptr;
  }
  std::vector<std::string> PollTexts(FileTailer& t) {
    t.Poll(&poll_);
    std::vector<std::string> out;
    for (const auto& l : poll_.lines) out.push_back(l.text);
    return out;
  }
  using Lines = std::vector<std::string>;

  TempDir dir_;
  FakeClock clock_;
  TailPoll poll_;
};

TEST_F(FileTailerTest, WithoutStateStartsAtTheEndOfAnExistingFile) {
  WriteFile(dir_.File("postgresql.log"), "old 1\nold 2\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{});
  AppendFile(dir_.File("postgresql.log"), "new 1\n");
  EXPECT_EQ(PollTexts(*t), Lines{"new 1"});
  EXPECT_EQ(poll_.lines[0].end_offset, 18u);
}

TEST_F(FileTailerTest, StartingAtTheEndKeepsTheLineBeingWrittenWhole) {
  WriteFile(dir_.File("postgresql.log"), "old 1\nhalf of a li");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{});
  AppendFile(dir_.File("postgresql.log"), "ne\n");
  EXPECT_EQ(PollTexts(*t), Lines{"half of a line"});
}

TEST_F(FileTailerTest, StartAtBeginningReadsTheWholeFile) {
  WriteFile(dir_.File("postgresql.log"), "old 1\nold 2\n");
  auto o = Options();
  o.start_at_beginning = true;
  auto t = Make(o);
  EXPECT_EQ(PollTexts(*t), (Lines{"old 1", "old 2"}));
}

TEST_F(FileTailerTest, MissingFileWarnsOnceAndRetriesWithDoublingBackoff) {
  LogCapture logs;
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{});
  EXPECT_EQ(t->state(), TailerState::kMissing);
  EXPECT_EQ(t->stats().open_failures, 1u);
  t->Poll(&poll_);  // before the backoff elapsed: no attempt
  EXPECT_EQ(t->stats().open_failures, 1u);
  clock_.Advance(1s);
  t->Poll(&poll_);
  EXPECT_EQ(t->stats().open_failures, 2u);
  clock_.Advance(1s);  // the delay is 2 s now
  t->Poll(&poll_);
  EXPECT_EQ(t->stats().open_failures, 2u);
  clock_.Advance(1s);
  t->Poll(&poll_);
  EXPECT_EQ(t->stats().open_failures, 3u);
  for (int i = 0; i < 5; ++i) {  // capped at retry_max
    clock_.Advance(4s);
    t->Poll(&poll_);
  }
  EXPECT_EQ(t->stats().open_failures, 8u);
  EXPECT_EQ(logs.Count("logtail.file_unavailable"), 1);
  EXPECT_EQ(t->stats().warnings, 1u);
}

TEST_F(FileTailerTest, FileCreatedAfterStartIsReadFromItsBeginning) {
  LogCapture logs;
  auto t = Make(Options());
  t->Poll(&poll_);
  EXPECT_EQ(t->state(), TailerState::kMissing);
  WriteFile(dir_.File("postgresql.log"), "first\nsecond\n");
  clock_.Advance(1s);
  EXPECT_EQ(PollTexts(*t), (Lines{"first", "second"}));
  EXPECT_EQ(t->state(), TailerState::kFollowing);
  EXPECT_EQ(logs.Count("logtail.file_available"), 1);
}

TEST_F(FileTailerTest, PermissionDeniedWarnsOnceThenRecoversWhenReadable) {
  // Root ignores chmod 000, so the denial is injected at the file-system interface.
  LogCapture logs;
  testing::FaultyFileSystem fs;
  WriteFile(dir_.File("postgresql.log"), "a\n");
  fs.SetFault(dir_.File("postgresql.log"), PermissionDeniedError("open: Permission denied"));
  auto o = Options();
  o.start_at_beginning = true;
  auto t = Make(o, &fs);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(PollTexts(*t), Lines{});
    clock_.Advance(5s);
  }
  EXPECT_EQ(t->state(), TailerState::kPermissionDenied);
  EXPECT_EQ(logs.Count("logtail.file_unavailable"), 1);
  EXPECT_EQ(logs.Count("permission_denied"), 1);
  fs.SetFault("", std::nullopt);
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  EXPECT_EQ(t->state(), TailerState::kFollowing);
}

TEST_F(FileTailerTest, PausedTailerReadsNothingAndResumesWhereItStopped) {
  WriteFile(dir_.File("postgresql.log"), "");
  auto t = Make(Options());
  t->Poll(&poll_);
  AppendFile(dir_.File("postgresql.log"), "one\ntwo\n");
  t->Pause();
  const uint64_t before = t->stats().bytes_read;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(PollTexts(*t), Lines{});
  EXPECT_EQ(t->stats().bytes_read, before);
  EXPECT_EQ(t->stats().paused_polls, 3u);
  t->Resume();
  EXPECT_EQ(PollTexts(*t), (Lines{"one", "two"}));
}

TEST_F(FileTailerTest, RenamedFileIsFinishedAfterItStaysIdleBeforeTheNewOneIsRead) {
  const std::string path = dir_.File("postgresql.log");
  WriteFile(path, "");
  auto t = Make(Options());
  t->Poll(&poll_);  // opens the empty file at its end
  AppendFile(path, "a1\n");
  EXPECT_EQ(PollTexts(*t), Lines{"a1"});
  ASSERT_EQ(std::rename(path.c_str(), dir_.File("postgresql.log.1").c_str()), 0);
  WriteFile(path, "b1\n");
  EXPECT_EQ(PollTexts(*t), Lines{});  // rotation seen: waiting for the old file to go idle
  AppendFile(dir_.File("postgresql.log.1"), "a2 late\na3 unterminated");
  EXPECT_EQ(PollTexts(*t), Lines{"a2 late"});
  EXPECT_FALSE(poll_.file_finished);
  clock_.Advance(400ms);
  EXPECT_EQ(PollTexts(*t), Lines{});
  clock_.Advance(200ms);
  EXPECT_EQ(PollTexts(*t), Lines{"a3 unterminated"});
  EXPECT_TRUE(poll_.file_finished);
  EXPECT_EQ(poll_.file.path, path);
  EXPECT_EQ(PollTexts(*t), Lines{"b1"});
  EXPECT_FALSE(poll_.file_finished);
  EXPECT_EQ(poll_.file.inode, testing::InodeOf(path));
  EXPECT_EQ(t->stats().rotations, 1u);
}

TEST_F(FileTailerTest, FilesRotatedSeveralTimesWhileBehindAreAllReadInOrder) {
  const std::string path = dir_.File("postgresql.log");
  WriteFile(path, "");
  auto o = Options();
  o.max_bytes_per_poll = 4096;
  o.read_chunk_bytes = 4096;
  auto t = Make(o);
  t->Poll(&poll_);
  AppendFile(path, std::string(3000, 'a') + "\n" + std::string(3000, 'a') + "\n");
  ASSERT_EQ(std::rename(path.c_str(), dir_.File("postgresql.log.1").c_str()), 0);
  WriteFile(path, "b\n");
  EXPECT_EQ(PollTexts(*t).size(), 1u);  // still behind in the first file; sees the second
  ASSERT_EQ(std::rename(path.c_str(), dir_.File("postgresql.log.2").c_str()), 0);
  WriteFile(path, "c\n");
  Lines all = {"a-line"};
  for (int i = 0; i < 20; ++i) {
    for (auto& s : PollTexts(*t)) all.push_back(s.size() > 10 ? "a-line" : s);
    clock_.Advance(600ms);
  }
  EXPECT_EQ(all, (Lines{"a-line", "a-line", "b", "c"}));
  EXPECT_EQ(t->stats().rotations, 2u);
}

TEST_F(FileTailerTest, RotationsDuringAPauseAreAllReadAfterResume) {
  const std::string path = dir_.File("postgresql.log");
  WriteFile(path, "");
  auto t = Make(Options());
  t->Poll(&poll_);
  t->Pause();
  AppendFile(path, "a\n");
  ASSERT_EQ(std::rename(path.c_str(), dir_.File("postgresql.log.1").c_str()), 0);
  WriteFile(path, "b\n");
  EXPECT_EQ(PollTexts(*t), Lines{});  // paused: nothing read, the new file is noted
  ASSERT_EQ(std::rename(path.c_str(), dir_.File("postgresql.log.2").c_str()), 0);
  WriteFile(path, "c\n");
  EXPECT_EQ(PollTexts(*t), Lines{});
  t->Resume();
  Lines all;
  for (int i = 0; i < 10; ++i) {
    for (auto& s : PollTexts(*t)) all.push_back(s);
    clock_.Advance(600ms);
  }
  EXPECT_EQ(all, (Lines{"a", "b", "c"}));
}

TEST_F(FileTailerTest, ShrunkFileIsReadAgainFromZero) {
  const std::string path = dir_.File("postgresql.log");
  WriteFile(path, "");
  auto t = Make(Options());
  t->Poll(&poll_);  // opens the empty file at its end
  AppendFile(path, "a\nb\n");
  EXPECT_EQ(PollTexts(*t), (Lines{"a", "b"}));
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  AppendFile(path, "c\n");
  EXPECT_EQ(PollTexts(*t), Lines{"c"});
  EXPECT_TRUE(poll_.restarted);
  EXPECT_EQ(poll_.lines[0].end_offset, 2u);
  EXPECT_EQ(t->stats().truncations, 1u);
}

TEST_F(FileTailerTest, FileRewrittenInPlacePastTheOffsetIsCaughtByTheFingerprint) {
  const std::string path = dir_.File("postgresql.log");
  WriteFile(path, "");
  auto t = Make(Options());
  t->Poll(&poll_);  // opens the empty file at its end
  AppendFile(path, "aaaa\nbbbb\n");
  EXPECT_EQ(PollTexts(*t), (Lines{"aaaa", "bbbb"}));
  const uint64_t inode = testing::InodeOf(path);
  WriteFile(path, "xxxx\nyyyy\nzzzz\n");  // O_TRUNC keeps the inode
  ASSERT_EQ(testing::InodeOf(path), inode);
  EXPECT_EQ(PollTexts(*t), (Lines{"xxxx", "yyyy", "zzzz"}));
  EXPECT_TRUE(poll_.restarted);
}

TEST_F(FileTailerTest, CursorCarriesIdentityAndFingerprintOfTheBytesBeforeIt) {
  const std::string path = dir_.File("postgresql.log");
  WriteFile(path, "");
  auto t = Make(Options());
  t->Poll(&poll_);  // opens the empty file at its end
  AppendFile(path, "hello\nworld\n");
  t->Poll(&poll_);
  auto c = t->CursorAt(poll_.lines[0].end_offset);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->path, path);
  EXPECT_EQ(c->inode, testing::InodeOf(path));
  EXPECT_EQ(c->offset, 6u);
  EXPECT_EQ(c->fingerprint_len, 6u);
  EXPECT_EQ(c->fingerprint, Fingerprint("hello\n"));
}

TEST_F(FileTailerTest, CommitsArePersistedAtMostOncePerCommitInterval) {
  auto store = OffsetStore::Open(dir_.File("state"), "pg");
  ASSERT_TRUE(store.ok());
  const std::string path = dir_.File("postgresql.log");
  WriteFile(path, "");
  auto o = Options();
  o.commit_interval = 1s;
  auto t = Make(o, nullptr, store->get());
  t->Poll(&poll_);
  AppendFile(path, "1\n2\n3\n");
  t->Poll(&poll_);
  ASSERT_TRUE(t->Commit(*t->CursorAt(2)).ok());
  EXPECT_EQ((*store)->Load()->value().offset, 2u);
  ASSERT_TRUE(t->Commit(*t->CursorAt(4)).ok());
  EXPECT_EQ((*store)->Load()->value().offset, 2u);
  clock_.Advance(1s);
  ASSERT_TRUE(t->Commit(*t->CursorAt(6)).ok());
  EXPECT_EQ((*store)->Load()->value().offset, 6u);
  ASSERT_TRUE(t->Commit(*t->CursorAt(4)).ok());
  ASSERT_TRUE(t->FlushCommit().ok());
  EXPECT_EQ((*store)->Load()->value().offset, 4u);
}

TEST_F(FileTailerTest, PatternModeMovesToTheNextFileOfTheLogFilenamePattern) {
  WriteFile(dir_.File("postgresql-2026-11-27_100000.log"), "");
  WriteFile(dir_.File("unrelated.txt"), "noise\n");
  FileTailerOptions o = Options();
  o.path.clear();
  o.directory = dir_.path();
  o.filename_pattern = "postgresql-%Y-%m-%d_%H%M%S.log";
  o.rotate_wait = 0ms;
  o.directory_scan_interval = 1s;
  auto t = Make(o);
  t->Poll(&poll_);
  AppendFile(dir_.File("postgresql-2026-11-27_100000.log"), "a\n");
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  WriteFile(dir_.File("postgresql-2026-11-27_110000.log"), "b\n");
  EXPECT_EQ(PollTexts(*t), Lines{});  // directory not listed again yet
  clock_.Advance(1s);
  t->Poll(&poll_);
  EXPECT_TRUE(poll_.file_finished);
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
  EXPECT_EQ(poll_.file.path, dir_.File("postgresql-2026-11-27_110000.log"));
}

TEST_F(FileTailerTest, PatternModeRestartReadsEveryFileCreatedWhileStoppedInOrder) {
  auto store = OffsetStore::Open(dir_.File("state"), "pg");
  ASSERT_TRUE(store.ok());
  auto name = [&](int hour) {
    return dir_.File("postgresql-2026-11-27_" + std::to_string(hour) + "0000.log");
  };
  WriteFile(name(10), "");
  FileTailerOptions o = Options();
  o.path.clear();
  o.directory = dir_.path();
  o.filename_pattern = "postgresql-%Y-%m-%d_%H%M%S.log";
  o.rotate_wait = 0ms;
  o.directory_scan_interval = 0ms;
  {
    auto t = Make(o, nullptr, store->get());
    t->Poll(&poll_);
    AppendFile(name(10), "a1\n");
    EXPECT_EQ(PollTexts(*t), Lines{"a1"});
    ASSERT_TRUE(t->Commit(*t->CursorAt(poll_.lines.back().end_offset)).ok());
  }
  AppendFile(name(10), "a2\n");
  WriteFile(name(11), "b1\n");
  WriteFile(name(12), "c1\n");
  auto t = Make(o, nullptr, store->get());
  Lines all;
  for (int i = 0; i < 8; ++i) {
    for (auto& s : PollTexts(*t)) all.push_back(s);
  }
  EXPECT_EQ(all, (Lines{"a2", "b1", "c1"}));
}

}  // namespace
}  // namespace pgagent::logtail
