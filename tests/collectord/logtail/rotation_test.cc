// The rotation matrix on real files: a writer thread appends numbered lines ("line <n> ...")
// at >= 10k lines/s and rotates the log the way logrotate / PostgreSQL do, while the test
// thread follows it with a FileTailer (real clock) and commits after every poll. Every
// number must arrive exactly once. Restart tests destroy the tailer, rotate and write while it
// is stopped, and recreate it from the offset store: every number arrives, and the only
// duplicates are the lines of the uncommitted window, each exactly twice.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "collectord/logtail/file_tailer.h"
#include "tests/collectord/logtail_unit/logtail_test_util.h"

namespace pgagent::logtail {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

constexpr int kLinesPerBurst = 40;
// The writer keeps to a schedule of kTargetRate lines/s (sleeping only when ahead of it), so
// that a loaded machine does not push it below the asserted 10k lines/s.
constexpr double kTargetRate = 25000;

std::string LineText(int n) {
  std::string line = "line " + std::to_string(n) + " ";
  line.append(80 - std::min<size_t>(line.size(), 60), 'p');
  return line;
}

// Number in "line <n> ...", or -1.
int NumberOf(const std::string& text) {
  if (text.rfind("line ", 0) != 0) return -1;
  return std::atoi(text.c_str() + 5);
}

int OpenAppend(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) std::abort();
  return fd;
}

void WriteLines(int fd, int first, int count) {
  std::string data;
  for (int n = first; n < first + count; ++n) data += LineText(n) + "\n";
  if (::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) std::abort();
}

// Writes `total` lines in bursts; calls rotate(fd, next_line) every `rotate_every` lines, which
// returns the fd to continue with (it may write "late" lines to the old fd itself).
class Writer {
 public:
  using Rotate = std::function<int(int fd, int* next)>;
  Writer(std::string path, int total, int rotate_every, Rotate rotate)
      : path_(std::move(path)),
        total_(total),
        rotate_every_(rotate_every),
        rotate_(std::move(rotate)) {}
  ~Writer() { Join(); }

  void Start() {
    thread_ = std::thread([this] { Run(); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  bool done() const { return done_.load(); }
  double lines_per_second() const { return rate_.load(); }

 private:
  void Run() {
    auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration in_rotation{0};  // not counted in the rate
    int fd = OpenAppend(path_);
    int next = 0;
    int next_rotation = rotate_every_;
    while (next < total_) {
      int count = std::min(kLinesPerBurst, total_ - next);
      if (rotate_ && next + count > next_rotation) count = next_rotation - next;
      WriteLines(fd, next, count);
      next += count;
      if (rotate_ && next == next_rotation && next < total_) {
        const auto before = std::chrono::steady_clock::now();
        fd = rotate_(fd, &next);
        next_rotation = next + rotate_every_;
        in_rotation += std::chrono::steady_clock::now() - before;
      }
      std::this_thread::sleep_until(
          start + in_rotation +
          std::chrono::microseconds(static_cast<int64_t>(next * 1e6 / kTargetRate)));
    }
    ::close(fd);
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start - in_rotation)
            .count();
    rate_ = total_ / secs;
    done_ = true;
  }

  std::string path_;
  int total_;
  int rotate_every_;
  Rotate rotate_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<double> rate_{0};
};

class RotationTest : public ::testing::Test {
 protected:
  FileTailerOptions PathOptions(const std::string& path) {
    FileTailerOptions o;
    o.path = path;
    o.start_at_beginning = true;
    o.rotate_wait = 100ms;
    o.directory_scan_interval = 20ms;
    o.retry_initial = 10ms;
    o.retry_max = 50ms;
    o.commit_interval = 0ms;
    return o;
  }

  std::unique_ptr<FileTailer> Make(const FileTailerOptions& o, OffsetStore* store) {
    auto t = FileTailer::Create(o, PosixLogFileSystem::Instance(), SystemClock::Instance(), store);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return std::move(t).value();
  }

  // One poll; records the numbers; commits the end of what it read when `commit`.
  size_t PollOnce(FileTailer& t, bool commit) {
    t.Poll(&poll_);
    for (const auto& line : poll_.lines) {
      const int n = NumberOf(line.text);
      EXPECT_GE(n, 0) << "unexpected line: " << line.text.substr(0, 100);
      ++seen_[n];
      last_batch_.push_back(n);
    }
    if (commit && !poll_.lines.empty()) {
      auto cursor = t.CursorAt(poll_.lines.back().end_offset);
      EXPECT_TRUE(cursor.ok()) << cursor.status().ToString();
      if (cursor.ok()) {
        EXPECT_TRUE(t.Commit(*cursor).ok());
      }
      last_batch_.clear();
    }
    consumed_ = t.line_offset();
    return poll_.lines.size();
  }

  // Polls (committing) until `done` holds or 30 s passed.
  void TailUntil(FileTailer& t, const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      if (PollOnce(t, true) == 0) std::this_thread::sleep_for(1ms);
    }
  }

  int Received() const {
    int total = 0;
    for (const auto& [n, count] : seen_) total += count;
    return total;
  }

  void ExpectEveryNumberOnce(int total) {
    EXPECT_EQ(static_cast<int>(seen_.size()), total);
    int missing = 0, duplicated = 0;
    for (int n = 0; n < total; ++n) {
      auto it = seen_.find(n);
      if (it == seen_.end()) {
        ++missing;
      } else if (it->second != 1) {
        ++duplicated;
      }
    }
    EXPECT_EQ(missing, 0);
    EXPECT_EQ(duplicated, 0);
  }

  void RunMatrixCase(const std::string& path, int total, int rotate_every, Writer::Rotate rotate,
                     FileTailerOptions options) {
    auto tailer = Make(options, nullptr);
    tailer->Poll(&poll_);
    Writer writer(path, total, rotate_every, std::move(rotate));
    writer.Start();
    TailUntil(*tailer, [&] { return writer.done() && Received() >= total; });
    writer.Join();
    ExpectEveryNumberOnce(total);
    EXPECT_GE(writer.lines_per_second(), 10000.0);
    EXPECT_GE(tailer->stats().rotations + tailer->stats().truncations,
              static_cast<uint64_t>(total / rotate_every - 1));
    RecordProperty("writer_lines_per_second", static_cast<int>(writer.lines_per_second()));
  }

  TempDir dir_;
  TailPoll poll_;
  std::map<int, int> seen_;
  std::vector<int> last_batch_;  // numbers read since the last commit
  std::atomic<uint64_t> consumed_{0};
  int rotations_ = 0;
};

TEST_F(RotationTest, RenameAndCreateDeliversEveryLineOnce) {
  const std::string path = dir_.File("postgresql.log");
  RunMatrixCase(
      path, 60000, 10000,
      [&](int fd, int* next) {
        const std::string old = path + "." + std::to_string(++rotations_);
        if (std::rename(path.c_str(), old.c_str()) != 0) std::abort();
        WriteLines(fd, *next, 25);  // the server keeps writing to the renamed file for a moment
        *next += 25;
        ::close(fd);
        return OpenAppend(path);
      },
      PathOptions(path));
}

TEST_F(RotationTest, CopyTruncateDeliversEveryLineOnce) {
  // copytruncate loses whatever was not read before the truncate (it lives only in the copy),
  // for every tailer; the writer therefore truncates once the tailer has read all it wrote.
  const std::string path = dir_.File("postgresql.log");
  RunMatrixCase(
      path, 60000, 10000,
      [&](int fd, int*) {
        const auto size = std::filesystem::file_size(path);
        for (int i = 0; i < 10000 && consumed_.load() < size; ++i) std::this_thread::sleep_for(1ms);
        std::filesystem::copy_file(path, path + "." + std::to_string(++rotations_));
        if (::ftruncate(fd, 0) != 0) std::abort();
        return fd;
      },
      PathOptions(path));
}

TEST_F(RotationTest, DeleteAndRecreateDeliversEveryLineOnce) {
  const std::string path = dir_.File("postgresql.log");
  RunMatrixCase(
      path, 60000, 10000,
      [&](int fd, int* next) {
        if (::unlink(path.c_str()) != 0) std::abort();
        WriteLines(fd, *next, 25);  // still written through the open descriptor
        *next += 25;
        ::close(fd);
        return OpenAppend(path);
      },
      PathOptions(path));
}

TEST_F(RotationTest, SymlinkRetargetDeliversEveryLineOnce) {
  const std::string link = dir_.File("current.log");
  const std::string first = dir_.File("data-0.log");
  testing::WriteFile(first, "");
  std::filesystem::create_symlink(first, link);
  RunMatrixCase(
      link, 60000, 10000,
      [&](int fd, int* next) {
        const std::string target = dir_.File("data-" + std::to_string(++rotations_) + ".log");
        int new_fd = OpenAppend(target);
        const std::string tmp = dir_.File("current.log.tmp");
        std::filesystem::create_symlink(target, tmp);
        std::filesystem::rename(tmp, link);  // atomic retarget
        WriteLines(fd, *next, 25);
        *next += 25;
        ::close(fd);
        return new_fd;
      },
      PathOptions(link));
}

TEST_F(RotationTest, NewFilesFollowingLogFilenameDeliverEveryLineOnce) {
  auto name = [&](int i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "postgresql-2026-11-27_10%02d00.log", i);
    return dir_.File(buf);
  };
  testing::WriteFile(name(0), "");
  testing::WriteFile(dir_.File("postgresql-2026-11-27_100000.csv"), "not,ours\n");
  FileTailerOptions o = PathOptions("");
  o.directory = dir_.path();
  o.filename_pattern = "postgresql-%Y-%m-%d_%H%M%S.log";
  RunMatrixCase(
      name(0), 60000, 10000,
      [&](int fd, int*) {
        ::close(fd);
        return OpenAppend(name(++rotations_));
      },
      o);
}

// Restart: read part, leave a window uncommitted, stop; rotate and write while stopped;
// restart from the offset store.
class RestartTest : public RotationTest {
 protected:
  // rotate_while_stopped returns how many lines (numbered from 25000) it wrote itself.
  void RunRestartCase(const std::function<int()>& rotate_while_stopped,
                      bool old_file_survives = true) {
    const std::string path = dir_.File("postgresql.log");
    // Pattern mode is what log_path = auto follows: log_directory + log_filename.
    auto options = [&] {
      FileTailerOptions o = PathOptions(path);
      if (pattern_mode_) {
        o.path.clear();
        o.directory = dir_.path();
        o.filename_pattern = "postgresql.log";
      }
      return o;
    };
    auto store = OffsetStore::Open(dir_.File("state"), "pg");
    ASSERT_TRUE(store.ok());
    testing::WriteFile(path, "");
    int fd = OpenAppend(path);
    {
      auto tailer = Make(options(), store->get());
      tailer->Poll(&poll_);
      int next = 0;
      for (; next < 20000; next += 500) {
        WriteLines(fd, next, 500);
        PollOnce(*tailer, true);
      }
      WriteLines(fd, next, 700);  // read but never acknowledged
      next += 700;
      PollOnce(*tailer, false);
      ASSERT_EQ(last_batch_.size(), 700u);
      WriteLines(fd, next, 300);  // written, never read before the stop
      next += 300;
    }  // tailer destroyed: collectord stopped
    ::close(fd);
    const int extra = rotate_while_stopped();
    const int total = 25000 + extra;
    fd = OpenAppend(path);
    WriteLines(fd, 21000, 4000);
    ::close(fd);
    const std::vector<int> window = last_batch_;
    auto tailer = Make(options(), store->get());
    if (!old_file_survives) {
      TailUntil(*tailer, [&] { return Received() >= 25000 - 300; });
      EXPECT_EQ(static_cast<int>(seen_.size()), 25000 - 300);
      for (int n = 0; n < 25000; ++n) {
        const bool lost = n >= 20700 && n < 21000;  // never read before the stop
        EXPECT_EQ(seen_.count(n) ? seen_[n] : 0, lost ? 0 : 1) << n;
      }
      return;
    }
    TailUntil(*tailer, [&] { return Received() >= total + static_cast<int>(window.size()); });
    EXPECT_EQ(static_cast<int>(seen_.size()), total);
    std::set<int> twice;
    for (const auto& [n, count] : seen_) {
      EXPECT_LE(count, 2) << n;
      if (count == 2) twice.insert(n);
    }
    EXPECT_EQ(twice, std::set<int>(window.begin(), window.end()));
  }

  bool pattern_mode_ = false;
};

TEST_F(RestartTest, RenameWhileStoppedFinishesTheOldFileThenReadsTheNewOne) {
  const std::string path = dir_.File("postgresql.log");
  RunRestartCase([&] {
    std::filesystem::rename(path, path + ".1");
    testing::WriteFile(path, "");
    return 0;
  });
}

TEST_F(RestartTest, TwoRotationsWhileStoppedAreReadOldestFirst) {
  const std::string path = dir_.File("postgresql.log");
  RunRestartCase([&] {
    std::filesystem::rename(path, path + "-a");
    int fd = OpenAppend(path);
    WriteLines(fd, 25000, 2000);
    ::close(fd);
    std::filesystem::rename(path, path + "-b");
    testing::WriteFile(path + "-c.gz", "compressed, never read\n");
    testing::WriteFile(path, "");
    return 2000;
  });
}

TEST_F(RestartTest, WithoutRotationResumesAtTheCommittedOffset) {
  RunRestartCase([] { return 0; });
}

TEST_F(RestartTest, DeleteWhileStoppedFindsNothingOldAndReadsTheNewFileFromZero) {
  // A deleted file's unread lines are gone for any reader: here the acknowledged lines arrive
  // once, the new file arrives whole, and only the old file's unacknowledged tail is missing.
  // That is said in a warning.
  testing::LogCapture journal;
  const std::string path = dir_.File("postgresql.log");
  RunRestartCase(
      [&] {
        std::filesystem::remove(path);
        testing::WriteFile(path, "");
        return 0;
      },
      /*old_file_survives=*/false);
  EXPECT_EQ(journal.Count("\"event\":\"logtail.lines_skipped\""), 1);
  EXPECT_EQ(journal.Count("\"level\":\"warn\""), 1);
}

TEST_F(RestartTest, CopyTruncateWhileStoppedFinishesTheCopyThenTheTruncatedFile) {
  testing::LogCapture journal;
  const std::string path = dir_.File("postgresql.log");
  RunRestartCase([&] {
    std::filesystem::copy_file(path, path + ".1");
    EXPECT_EQ(::truncate(path.c_str(), 0), 0);
    return 0;
  });
  EXPECT_EQ(journal.Count("logtail.resuming_in_copy"), 1);
  EXPECT_EQ(journal.Count("logtail.lines_skipped"), 0);
}

TEST_F(RestartTest, CopyTruncateTwiceWhileStoppedFindsTheCopyByItsFingerprint) {
  const std::string path = dir_.File("postgresql.log");
  RunRestartCase([&] {
    std::filesystem::copy_file(path, path + ".1");
    EXPECT_EQ(::truncate(path.c_str(), 0), 0);
    int fd = OpenAppend(path);
    WriteLines(fd, 25000, 2000);
    ::close(fd);
    // logrotate again: .1 -> .2, copy, truncate. Only the lines of the first copy after the
    // saved offset and those of the second copy are new; the second copy is not read before
    // the first (it is newer) and the truncated file comes last.
    std::filesystem::rename(path + ".1", path + ".2");
    std::filesystem::copy_file(path, path + ".1");
    EXPECT_EQ(::truncate(path.c_str(), 0), 0);
    return 2000;
  });
}

TEST_F(RestartTest, TwoRenamesWhileStoppedInPatternModeReadEveryFileInOrder) {
  // log_path = auto with log_filename = postgresql.log and logrotate renaming it: the saved
  // file and the middle one no longer match the pattern.
  testing::LogCapture journal;
  pattern_mode_ = true;
  const std::string path = dir_.File("postgresql.log");
  RunRestartCase([&] {
    std::filesystem::rename(path, path + ".1");
    int fd = OpenAppend(path);
    WriteLines(fd, 25000, 2000);
    ::close(fd);
    std::filesystem::rename(path + ".1", path + ".2");
    std::filesystem::rename(path, path + ".1");
    testing::WriteFile(path, "");
    return 2000;
  });
  EXPECT_EQ(journal.Count("logtail.lines_skipped"), 0);
}

TEST_F(RotationTest, CopyTruncateWhileReadingIsBehindFinishesTheCopyFirst) {
  // Paused (collectord's window full): the file is the buffer. A copytruncate meanwhile must
  // not lose the part that was not read yet: it is read from the copy.
  const std::string path = dir_.File("postgresql.log");
  testing::WriteFile(path, "");
  auto tailer = Make(PathOptions(path), nullptr);
  int fd = OpenAppend(path);
  WriteLines(fd, 0, 1000);
  while (Received() < 1000) PollOnce(*tailer, true);
  tailer->Pause();
  WriteLines(fd, 1000, 5000);
  PollOnce(*tailer, true);
  std::filesystem::copy_file(path, path + ".1");
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  WriteLines(fd, 6000, 500);  // less than was read: the truncation shows as a smaller size
  ::close(fd);
  tailer->Resume();
  TailUntil(*tailer, [&] { return Received() >= 6500; });
  ExpectEveryNumberOnce(6500);
  EXPECT_EQ(tailer->stats().copies_finished, 1u);
  EXPECT_EQ(tailer->stats().skip_events, 0u);
}

TEST_F(RotationTest, ATruncationWithoutACopyIsAWarningWithTheUnreadByteCount) {
  testing::LogCapture journal;
  const std::string path = dir_.File("postgresql.log");
  testing::WriteFile(path, "");
  auto tailer = Make(PathOptions(path), nullptr);
  int fd = OpenAppend(path);
  WriteLines(fd, 0, 100);
  while (Received() < 100) PollOnce(*tailer, true);
  WriteLines(fd, 100, 50);  // seen by a read, then paused before more
  ASSERT_EQ(::ftruncate(fd, 0), 0);
  WriteLines(fd, 1000, 10);
  ::close(fd);
  TailUntil(*tailer, [&] { return seen_.count(1009) > 0; });
  EXPECT_EQ(tailer->stats().skip_events, 1u);
  EXPECT_EQ(journal.Count("logtail.lines_skipped"), 1);
}

}  // namespace
}  // namespace pgagent::logtail
