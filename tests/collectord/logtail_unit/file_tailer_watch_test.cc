// FileTailer with a FileWatcher: a quiet log costs no file-system call, reported changes are
// read, what is not reported is read at the recheck, rotations and new pattern files are
// followed, a failing watcher falls back to polling. A FakeFileWatcher makes the reports;
// the files are real (a temporary directory), the clock a FakeClock. InotifyFileWatcher is
// tested on its own at the end (the kernel queues events before write() returns).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "collectord/logtail/file_tailer.h"
#include "collectord/logtail/file_watcher.h"
#include "tests/collectord/logtail_unit/logtail_test_util.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_file_watcher.h"

namespace pgagent::logtail {
namespace {

using namespace std::chrono_literals;
using testing::AppendFile;
using testing::LogCapture;
using testing::TempDir;
using testing::WriteFile;

// The real file system, counting every call, with a FakeFileWatcher (or a failing creation).
class WatchedFileSystem final : public LogFileSystem {
 public:
  Result<FileStat> Stat(const std::string& path) override {
    ++calls_;
    return PosixLogFileSystem::Instance().Stat(path);
  }
  Result<std::unique_ptr<LogFile>> Open(const std::string& path) override {
    ++calls_;
    PGAGENT_ASSIGN_OR_RETURN(auto file, PosixLogFileSystem::Instance().Open(path));
    return std::unique_ptr<LogFile>(new CountedFile(std::move(file), &calls_));
  }
  Result<std::vector<std::string>> ListDirectory(const std::string& dir) override {
    ++calls_;
    return PosixLogFileSystem::Instance().ListDirectory(dir);
  }
  Result<std::unique_ptr<FileWatcher>> NewWatcher() override {
    if (create_error_) return *create_error_;
    auto w = std::make_unique<FakeFileWatcher>();
    watcher_ = w.get();
    return std::unique_ptr<FileWatcher>(std::move(w));
  }
  void FailCreation(Status s) { create_error_ = std::move(s); }
  FakeFileWatcher& watcher() { return *watcher_; }
  int calls() const { return calls_; }

 private:
  class CountedFile final : public LogFile {
   public:
    CountedFile(std::unique_ptr<LogFile> f, int* calls) : f_(std::move(f)), calls_(calls) {}
    Result<size_t> ReadAt(uint64_t offset, char* buf, size_t n) override {
      ++*calls_;
      return f_->ReadAt(offset, buf, n);
    }
    Result<FileStat> Stat() override {
      ++*calls_;
      return f_->Stat();
    }

   private:
    std::unique_ptr<LogFile> f_;
    int* calls_;
  };
  int calls_ = 0;
  FakeFileWatcher* watcher_ = nullptr;
  std::optional<Status> create_error_;
};

class FileTailerWatchTest : public ::testing::Test {
 protected:
  FileTailerOptions Options() {
    FileTailerOptions o;
    o.path = dir_.File("postgresql.log");
    o.start_at_beginning = true;
    o.rotate_wait = 0ms;
    o.commit_interval = 0ms;
    o.watch_recheck_interval = 10s;
    return o;
  }
  std::unique_ptr<FileTailer> Make(FileTailerOptions o) {
    auto t = FileTailer::Create(std::move(o), fs_, clock_, nullptr);
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
  WatchedFileSystem fs_;
  TailPoll poll_;
};

TEST_F(FileTailerWatchTest, QuietLogCostsNoFileSystemCall) {
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  EXPECT_EQ(fs_.watcher().file(), dir_.File("postgresql.log"));
  EXPECT_EQ(fs_.watcher().directory(), dir_.path());
  EXPECT_TRUE(t->quiet());
  EXPECT_EQ(t->wait_fd(), FakeFileWatcher::kFd);
  const int calls = fs_.calls();
  for (int i = 0; i < 99; ++i) {  // 4.95 s: under the recheck interval
    clock_.Advance(50ms);
    EXPECT_EQ(PollTexts(*t), Lines{});
  }
  EXPECT_EQ(fs_.calls(), calls);
  EXPECT_EQ(t->stats().quiet_polls, 99u);
  EXPECT_EQ(poll_.file.path, dir_.File("postgresql.log"));  // CursorAt still works
  EXPECT_TRUE(t->CursorAt(2).ok());
}

TEST_F(FileTailerWatchTest, ReportedWriteIsRead) {
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  AppendFile(dir_.File("postgresql.log"), "b\n");
  fs_.watcher().Report(/*file=*/true, /*directory=*/false);
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
  EXPECT_TRUE(t->quiet());
  EXPECT_EQ(fs_.watcher().watch_calls(), 1) << "the same file is watched once";
}

// A file system whose changes the kernel does not report (NFS): read at the recheck.
TEST_F(FileTailerWatchTest, UnreportedWriteIsReadAtTheRecheck) {
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  AppendFile(dir_.File("postgresql.log"), "b\n");
  clock_.Advance(9s);
  EXPECT_EQ(PollTexts(*t), Lines{});
  clock_.Advance(1s);
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
}

TEST_F(FileTailerWatchTest, ReadingStopsAtThePollBudgetAndGoesOnWithoutAReport) {
  std::string big;
  for (int i = 0; i < 100; ++i) big += "line " + std::to_string(i) + "\n";
  WriteFile(dir_.File("postgresql.log"), big);
  FileTailerOptions o = Options();
  o.read_chunk_bytes = 256;
  o.max_bytes_per_poll = 256;
  auto t = Make(o);
  size_t lines = 0;
  for (int i = 0; i < 10 && lines < 100; ++i) lines += PollTexts(*t).size();
  EXPECT_EQ(lines, 100u);
}

TEST_F(FileTailerWatchTest, RotationReportedByTheDirectoryIsFollowed) {
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  ASSERT_EQ(std::rename(dir_.File("postgresql.log").c_str(), dir_.File("postgresql.log.1").c_str()),
            0);
  WriteFile(dir_.File("postgresql.log"), "b\n");
  fs_.watcher().Report(/*file=*/true, /*directory=*/true);
  t->Poll(&poll_);
  EXPECT_TRUE(poll_.file_finished);
  EXPECT_FALSE(t->quiet()) << "a file is queued";
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
  EXPECT_EQ(fs_.watcher().watch_calls(), 2) << "the new file is watched";
  EXPECT_TRUE(t->quiet());
}

TEST_F(FileTailerWatchTest, NewPatternFileReportedBeforeTheScanIsDueIsFoundAtTheScan) {
  WriteFile(dir_.File("postgresql-2026-11-27_100000.log"), "a\n");
  FileTailerOptions o = Options();
  o.path.clear();
  o.directory = dir_.path();
  o.filename_pattern = "postgresql-%Y-%m-%d_%H%M%S.log";
  o.directory_scan_interval = 1s;
  auto t = Make(o);
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  EXPECT_EQ(fs_.watcher().directory(), dir_.path());
  WriteFile(dir_.File("postgresql-2026-11-27_110000.log"), "b\n");
  fs_.watcher().Report(/*file=*/false, /*directory=*/true);
  EXPECT_EQ(PollTexts(*t), Lines{});  // the directory is not listed again yet
  EXPECT_FALSE(t->quiet()) << "a listing is owed";
  clock_.Advance(1s);
  t->Poll(&poll_);
  EXPECT_TRUE(poll_.file_finished);
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
}

TEST_F(FileTailerWatchTest, ChangesReportedDuringAPauseAreReadAfterIt) {
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  t->Pause();
  AppendFile(dir_.File("postgresql.log"), "b\n");
  fs_.watcher().Report(/*file=*/true, /*directory=*/false);
  EXPECT_EQ(PollTexts(*t), Lines{});  // paused: the report is taken, nothing read
  t->Resume();
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
}

TEST_F(FileTailerWatchTest, WatchLimitFallsBackToPollingWithOneWarning) {
  LogCapture logs;
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  fs_.watcher().FailWatches(ResourceExhaustedError("inotify watch limit"));
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  EXPECT_EQ(t->wait_fd(), -1);
  EXPECT_FALSE(t->quiet());
  EXPECT_EQ(t->stats().watch_fallbacks, 1u);
  EXPECT_EQ(logs.Count("logtail.inotify_unavailable"), 1);
  AppendFile(dir_.File("postgresql.log"), "b\n");  // no report: polling reads it
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
  EXPECT_EQ(logs.Count("logtail.inotify_unavailable"), 1);
}

TEST_F(FileTailerWatchTest, UnreadableWatcherFallsBackToPolling) {
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  fs_.watcher().FailReads(UnavailableError("inotify read: EIO"));
  AppendFile(dir_.File("postgresql.log"), "b\n");
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
  EXPECT_EQ(t->wait_fd(), -1);
  EXPECT_EQ(t->stats().watch_fallbacks, 1u);
}

TEST_F(FileTailerWatchTest, WatcherThatCannotBeCreatedMeansPolling) {
  LogCapture logs;
  fs_.FailCreation(ResourceExhaustedError("inotify instance limit"));
  WriteFile(dir_.File("postgresql.log"), "a\n");
  auto t = Make(Options());
  EXPECT_EQ(PollTexts(*t), Lines{"a"});
  AppendFile(dir_.File("postgresql.log"), "b\n");
  EXPECT_EQ(PollTexts(*t), Lines{"b"});
  EXPECT_EQ(t->wait_fd(), -1);
  EXPECT_EQ(logs.Count("logtail.inotify_unavailable"), 1);
}

TEST(InotifyFileWatcherTest, ReportsWritesToTheFileAndEntriesOfTheDirectory) {
  TempDir dir;
  WriteFile(dir.File("log"), "");
  auto w = InotifyFileWatcher::Create();
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_GE((*w)->fd(), 0);
  ASSERT_TRUE((*w)->WatchOnly(dir.File("log"), dir.path()).ok());
  auto none = (*w)->TakeChanges();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->any());
  AppendFile(dir.File("log"), "x\n");
  auto write = (*w)->TakeChanges();
  ASSERT_TRUE(write.ok());
  EXPECT_TRUE(write->file);
  EXPECT_FALSE(write->directory) << "writes to a file of the directory are not its changes";
  WriteFile(dir.File("log.1"), "");
  auto created = (*w)->TakeChanges();
  ASSERT_TRUE(created.ok());
  EXPECT_TRUE(created->directory);
  EXPECT_FALSE((*w)->TakeChanges()->any()) << "reports are drained";
}

TEST(InotifyFileWatcherTest, MissingPathIsNotFound) {
  TempDir dir;
  auto w = InotifyFileWatcher::Create();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->WatchOnly(dir.File("absent"), dir.path()).code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace pgagent::logtail
