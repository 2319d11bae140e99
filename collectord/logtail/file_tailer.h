// Follows one PostgreSQL log across every kind of rotation and hands out its lines, each with
// the file offset just after it. Poll-based: each Poll() costs one fstat of the open file,
// in path mode one stat of the path, in pattern mode a directory scan at most every
// directory_scan_interval (only when the open file is at its end), and when there is new data
// a 256-byte pread to check that the bytes before the read offset are unchanged. Memory is
// bounded: one Poll() returns at most max_bytes_per_poll bytes of lines, and a held partial
// line keeps at most max_line_bytes.
//
// Watching: when the LogFileSystem provides a FileWatcher (PosixLogFileSystem: inotify), the
// open file and its directory (path mode: the path's; pattern mode: log_directory) are
// watched, and a Poll() after one that read to the end with nothing pending (no rotation
// wait, queued file or retry) does nothing but one non-blocking read of the watcher while no
// change was reported: a quiet log costs no stat, fstat or directory scan, and wait_fd() lets
// the caller sleep until the log changes (quiet() says that nothing but the descriptor, or
// watch_recheck_interval, can make the next Poll() do work). A full poll still runs every
// watch_recheck_interval (changes inotify does not see: NFS, some FUSE file systems). When the
// watcher cannot be created or a watch fails (inotify unavailable, fs.inotify.max_user_watches
// reached), logtail.inotify_unavailable is logged once, stats().watch_fallbacks counts it and
// the tailer polls as without a watcher.
//
// What it follows:
//  - path mode (options.path): one file or symlink. Rename + create, delete + recreate and
//    symlink retarget are seen as a new (device, inode) behind the path (one stat of the path
//    per poll); each new file is opened at once and queued (up to kMaxQueuedFiles), so files
//    rotated several times while the tailer is behind are all read, in order. copytruncate
//    shows as the size shrinking below the read offset (or the bytes before it changing):
//    read again from 0.
//  - pattern mode (options.directory + options.filename_pattern, PostgreSQL's log_directory and
//    log_filename): the files matching the pattern, ordered by (mtime, name); the tailer moves
//    from a file to the next one in that order (after a restart too, from the saved file on:
//    none in between is skipped).
// The old file is always finished first: after a rotation is seen, it is read until it has not
// grown for rotate_wait (a writer may still append to a renamed file), its unterminated last
// line is emitted, and the Poll result says file_finished. Only the next Poll opens the new
// file (from offset 0).
//
// Offsets advance only on Commit(): the caller commits a cursor (from CursorAt) once the
// lines up to it were acknowledged downstream. The committed cursor is persisted through the
// OffsetStore; a new FileTailer resumes there (finding a rotated-away file by its inode, and
// catching inode reuse and truncation by the fingerprint). In path mode, files rotated after
// that one while the tailer was stopped (the log's name plus a suffix, not compressed, newer)
// are read next, oldest first, then the current file. Without saved state the first file
// is read from its end (options.start_at_beginning: from 0), unless it did not exist yet when
// the tailer started (then all of it is new and it is read from 0).
//
// copytruncate, at run time or while collectord was down: when the file shrank below the
// offset (or the bytes before it changed), its unread tail now exists only in the copy. The
// copy is found by name (the file's name plus a suffix, in its directory) and by the
// fingerprint of the bytes before the offset; it is read from that offset first, then the
// truncated file from 0. In pattern mode, a saved file renamed out of the pattern while
// collectord was down (log_filename = postgresql.log rotated by logrotate) is followed by
// its renamed siblings, oldest first, as in path mode, so no file between it and the newest
// is skipped.
//
// Whenever lines may have been skipped (no copy found, the saved file gone, more rotations
// than can be queued), a warning logtail.lines_skipped says so, with the bytes known to be
// skipped (a lower bound; "unknown" when the size cannot be known), and stats() count them
// (skip_events, skipped_bytes; collectord's health and pgagentctl status show them).
//
// Backpressure: while Pause()d, Poll() reads nothing (the log file is the buffer); in path
// mode it still stats the path and holds new files open, so rotations during a pause are kept. A
// missing or unreadable file is logged once per change of state and retried with exponential
// backoff driven by the Clock.
//
// Thread-safety: not thread-safe. One thread (collectord's log source loop) calls every method.
// The LogFileSystem, Clock and OffsetStore must outlive the FileTailer.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectord/logtail/filename_pattern.h"
#include "collectord/logtail/line_splitter.h"
#include "collectord/logtail/log_file_system.h"
#include "collectord/logtail/offset_store.h"
#include "collectord/logtail/tail_cursor.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/status.h"

namespace pgagent::logtail {

struct FileTailerOptions {
  // Path mode: the log file (or a symlink to it).
  std::string path;
  // Pattern mode, used when path is empty: PostgreSQL's log_directory and log_filename.
  std::string directory;
  std::string filename_pattern;

  // Without saved state, start at the beginning of the file instead of its end.
  bool start_at_beginning = false;
  size_t read_chunk_bytes = 256 * 1024;
  size_t max_line_bytes = 1024 * 1024;
  // Upper bound of the bytes one Poll() reads (bounds the lines it returns).
  size_t max_bytes_per_poll = 4 * 1024 * 1024;
  // After a rotation is seen, keep reading the old file until it has been idle this long.
  std::chrono::milliseconds rotate_wait{1000};
  // Pattern mode: how often the directory is listed to find new files.
  std::chrono::milliseconds directory_scan_interval{1000};
  // Retry delays for a missing or unreadable file (doubling up to retry_max).
  std::chrono::milliseconds retry_initial{1000};
  std::chrono::milliseconds retry_max{60000};
  // Committed cursors are persisted at most this often (FlushCommit() forces it).
  std::chrono::milliseconds commit_interval{1000};
  // With a FileWatcher: a full poll at least this often, reported change or not.
  std::chrono::milliseconds watch_recheck_interval{10000};
};

enum class TailerState { kStarting, kFollowing, kMissing, kPermissionDenied, kError };
std::string_view TailerStateName(TailerState state);

struct TailedFile {
  std::string path;
  uint64_t device = 0;
  uint64_t inode = 0;
};

// What one Poll() produced. Reused across polls by the caller to keep its buffers.
struct TailPoll {
  std::vector<TailLine> lines;  // all from `file`, in order
  TailedFile file;
  // No more lines will come from `file`: the next Poll() reads another file. Cursors for
  // `file` must be taken (CursorAt) before that next Poll().
  bool file_finished = false;
  // `file` was truncated (copytruncate) or rewritten before `lines` were read: they start
  // again at offset 0, and lines of earlier polls belong to the file's previous content.
  bool restarted = false;
};

struct TailerStats {
  uint64_t bytes_read = 0;
  uint64_t files_opened = 0;
  uint64_t rotations = 0;          // switches to a new file
  uint64_t truncations = 0;        // copytruncate / rewrite seen on the open file
  uint64_t resume_mismatches = 0;  // saved offset not usable (inode reuse, truncation)
  uint64_t open_failures = 0;
  uint64_t warnings = 0;  // "file unavailable" log lines written
  uint64_t paused_polls = 0;
  uint64_t commits = 0;
  uint64_t commit_failures = 0;
  uint64_t copies_finished = 0;  // copytruncate: the rotated copy was read before the file
  uint64_t skip_events = 0;      // "lines may have been skipped" warnings (logtail.lines_skipped)
  uint64_t skipped_bytes = 0;    // bytes known to be skipped by those (a lower bound)
  uint64_t quiet_polls = 0;      // polls the watcher answered: no change, nothing read
  uint64_t watch_fallbacks = 0;  // the watcher failed: polling took over
};

class FileTailer {
 public:
  // Loads the saved cursor from `store` (may be null: nothing is persisted). A corrupt state
  // file is logged and treated as "start the current file from 0" (duplicates, not loss).
  // kInvalidArgument for bad options (no path and no pattern, bad pattern, zero sizes).
  static Result<std::unique_ptr<FileTailer>> Create(FileTailerOptions options, LogFileSystem& fs,
                                                    Clock& clock, OffsetStore* store);
  // Persists the last committed cursor (errors are logged).
  ~FileTailer();
  FileTailer(const FileTailer&) = delete;
  FileTailer& operator=(const FileTailer&) = delete;

  // Reads what is new into *out (cleared first). Problems with the file (missing, permission
  // denied, read errors) are not returned: they change state() and are retried with backoff.
  void Poll(TailPoll* out);

  // The cursor for offset `end_offset` (an end_offset of a line from the last Poll) of the
  // file of the last Poll. kFailedPrecondition when no file is open; kUnavailable on read
  // errors.
  Result<TailCursor> CursorAt(uint64_t end_offset);
  // Records that everything up to `cursor` was acknowledged; persisted at most every
  // commit_interval. Returns the persist error, if one was attempted and failed (the cursor
  // stays pending and is retried on the next Commit/FlushCommit).
  Status Commit(const TailCursor& cursor);
  Status FlushCommit();
  std::optional<TailCursor> last_commit() const { return last_commit_; }

  void Pause() { paused_ = true; }
  void Resume() { paused_ = false; }
  bool paused() const { return paused_; }

  // The watcher's descriptor (readable when the log may have changed), or -1 when polling.
  int wait_fd() const { return watcher_ ? watcher_->fd() : -1; }
  // True when the next Poll() will do nothing unless wait_fd() is readable or
  // watch_recheck_interval has passed since the last full poll.
  bool quiet() const { return quiet_; }
  std::chrono::steady_clock::time_point next_recheck() const {
    return last_full_poll_ + options_.watch_recheck_interval;
  }

  TailerState state() const { return state_; }
  const TailerStats& stats() const { return stats_; }
  const LineStats& line_stats() const { return splitter_.stats(); }
  // Offset after the last line handed out, in the open file (0 when none is open).
  uint64_t line_offset() const { return splitter_.line_start_offset(); }

 private:
  struct OpenFile {
    std::unique_ptr<LogFile> file;
    std::string path;
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t mtime_ns = 0;
    uint64_t read_offset = 0;
    uint64_t read_fingerprint = 0;  // of the bytes just before read_offset
    uint32_t read_fingerprint_len = 0;
    uint64_t seen_size = 0;  // size at the last read: what is known to exist
  };
  // A file to read after the open one; `file` is null when it is opened at the switch.
  struct NextFile {
    std::string path;
    std::unique_ptr<LogFile> file;
    uint64_t device = 0;
    uint64_t inode = 0;
  };
  // Path mode: files seen behind the path, held open until their turn.
  static constexpr size_t kMaxQueuedFiles = 16;
  struct Candidate {
    std::string path;
    FileStat stat;
  };

  FileTailer(FileTailerOptions options, std::optional<FilenamePattern> pattern, LogFileSystem& fs,
             Clock& clock, OffsetStore* store);

  bool pattern_mode() const { return pattern_.has_value(); }
  Status OpenFirst();
  Status OpenResumed(const TailCursor& saved, const std::string& target);
  Status OpenAt(const std::string& path, std::unique_ptr<LogFile> file, uint64_t offset,
                bool skip_first_line);
  Status OpenAtEnd(const std::string& path, std::unique_ptr<LogFile> file);
  Status SwitchTo(NextFile next);
  Result<std::string> ResolveTarget();
  Result<std::vector<Candidate>> ScanDirectory();
  std::optional<std::string> FindByInode(uint64_t device, uint64_t inode);
  std::optional<std::string> NextPatternFile();
  void ObservePath();
  void QueueRotatedSiblings(const std::string& base_path, const FileStat& old_file,
                            const FileStat& current_file);
  // The copy of `path` (same directory, its name plus a suffix) holding, just before
  // `offset`, the bytes of the fingerprint; never the file (device, inode) itself.
  std::optional<NextFile> FindCopy(const std::string& path, uint64_t offset, uint64_t fingerprint,
                                   uint32_t fingerprint_len, uint64_t device, uint64_t inode);
  // The open file was truncated: continue in `copy` at the same offset (same bytes), then
  // read the truncated file from 0.
  void ContinueInCopy(NextFile copy);
  // Warns that lines may have been skipped. `bytes` is a lower bound; nullopt: unknown.
  void NoteSkipped(std::string_view path, std::optional<uint64_t> bytes, std::string_view reason);
  Status ReadNew(TailPoll* out, bool* at_eof);
  Result<bool> CheckTruncation(const FileStat& st);
  void CheckRotation(TailPoll* out);
  Status UpdateReadFingerprint();
  void NoteFailure(const Status& status, std::string_view path);
  void NoteFollowing();
  // Watching (see the header comment).
  void StartWatching();
  bool QuietPoll(TailPoll* out);
  bool ChangedSincePoll();
  void UpdateWatch();
  bool CanBeQuiet(bool at_eof) const;
  void DropWatcher(const Status& why);

  FileTailerOptions options_;
  std::optional<FilenamePattern> pattern_;
  LogFileSystem& fs_;
  Clock& clock_;
  OffsetStore* store_;

  std::unique_ptr<char[]> buffer_;
  LineSplitter splitter_;
  std::optional<OpenFile> current_;
  std::optional<TailCursor> saved_;  // loaded state, applied at the first open
  bool saved_corrupt_ = false;
  bool opened_any_ = false;
  bool missing_at_start_ = false;
  std::optional<NextFile> switch_to_;
  std::deque<NextFile> queued_;
  std::optional<std::pair<uint64_t, uint64_t>> overflow_warned_;  // (device, inode) not queued

  std::optional<std::chrono::steady_clock::time_point> rotation_seen_;
  uint64_t rotation_seen_offset_ = 0;
  std::chrono::steady_clock::time_point last_scan_{};
  std::vector<Candidate> candidates_;

  std::chrono::steady_clock::time_point next_attempt_{};
  Backoff backoff_;  // no jitter: one tailer per host
  TailerState state_ = TailerState::kStarting;
  bool paused_ = false;

  std::unique_ptr<FileWatcher> watcher_;
  std::optional<std::pair<uint64_t, uint64_t>> watched_;  // (device, inode) of the watched file
  bool quiet_ = false;
  bool scan_owed_ = false;  // pattern mode: the directory changed since its last listing
  std::chrono::steady_clock::time_point last_full_poll_{};

  std::optional<TailCursor> pending_commit_;
  std::optional<TailCursor> last_commit_;
  std::optional<std::chrono::steady_clock::time_point> last_save_;
  TailerStats stats_;
};

}  // namespace pgagent::logtail
