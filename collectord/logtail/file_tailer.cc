#include "collectord/logtail/file_tailer.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "collectord/logtail/fingerprint.h"
#include "common/log.h"

namespace pgagent::logtail {
namespace {

constexpr size_t kEndScanBytes = 64 * 1024;

bool IsCompressedName(std::string_view name) {
  for (std::string_view suffix : {".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z", ".zip"}) {
    if (name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix) {
      return true;
    }
  }
  return false;
}

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Fingerprint of the (up to kFingerprintBytes) bytes just before offset.
Result<std::pair<uint64_t, uint32_t>> FingerprintBefore(LogFile& file, uint64_t offset) {
  const uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(offset, kFingerprintBytes));
  char buf[kFingerprintBytes];
  PGAGENT_ASSIGN_OR_RETURN(size_t got, file.ReadAt(offset - len, buf, len));
  return std::make_pair(Fingerprint(std::string_view(buf, got)), static_cast<uint32_t>(got));
}

// True when `file` still holds, before saved.offset, the bytes the fingerprint was taken of.
Result<bool> StillMatches(LogFile& file, uint64_t size, uint64_t offset, uint64_t fingerprint,
                          uint32_t fingerprint_len) {
  if (size < offset || fingerprint_len > offset) return false;
  char buf[kFingerprintBytes];
  const uint32_t len = std::min<uint32_t>(fingerprint_len, kFingerprintBytes);
  PGAGENT_ASSIGN_OR_RETURN(size_t got, file.ReadAt(offset - len, buf, len));
  return got == len && Fingerprint(std::string_view(buf, got)) == fingerprint;
}

}  // namespace

std::string_view TailerStateName(TailerState state) {
  switch (state) {
    case TailerState::kStarting:
      return "starting";
    case TailerState::kFollowing:
      return "following";
    case TailerState::kMissing:
      return "missing";
    case TailerState::kPermissionDenied:
      return "permission_denied";
    case TailerState::kError:
      return "error";
  }
  return "unknown";
}

Result<std::unique_ptr<FileTailer>> FileTailer::Create(FileTailerOptions options, LogFileSystem& fs,
                                                       Clock& clock, OffsetStore* store) {
  if (options.read_chunk_bytes < kFingerprintBytes || options.max_line_bytes == 0 ||
      options.max_bytes_per_poll == 0) {
    return InvalidArgumentError("log tailer: chunk, line and poll sizes must be positive");
  }
  std::optional<FilenamePattern> pattern;
  if (options.path.empty()) {
    if (options.directory.empty()) {
      return InvalidArgumentError("log tailer: need a log path or a directory and pattern");
    }
    PGAGENT_ASSIGN_OR_RETURN(pattern, FilenamePattern::Compile(options.filename_pattern));
  }
  std::unique_ptr<FileTailer> tailer(
      new FileTailer(std::move(options), std::move(pattern), fs, clock, store));
  tailer->StartWatching();
  if (store != nullptr) {
    auto saved = store->Load();
    if (saved.ok()) {
      tailer->saved_ = *saved;
    } else {
      tailer->saved_corrupt_ = true;
      log::Warn("logtail.offset_state_unreadable",
                {{"file", store->file_path()},
                 {"error", saved.status().ToString()},
                 {"action", "reading the current log file from its beginning"}});
    }
  }
  return tailer;
}

FileTailer::FileTailer(FileTailerOptions options, std::optional<FilenamePattern> pattern,
                       LogFileSystem& fs, Clock& clock, OffsetStore* store)
    : options_(std::move(options)),
      pattern_(std::move(pattern)),
      fs_(fs),
      clock_(clock),
      store_(store),
      buffer_(new char[options_.read_chunk_bytes]),
      splitter_(options_.max_line_bytes),
      backoff_({options_.retry_initial, options_.retry_max, 2.0, 0.0}, nullptr) {}

FileTailer::~FileTailer() {
  Status status = FlushCommit();
  if (!status.ok()) {
    log::Warn("logtail.offset_save_failed", {{"error", status.ToString()}});
  }
}

void FileTailer::Poll(TailPoll* out) {
  out->lines.clear();
  out->file_finished = false;
  out->restarted = false;
  if (paused_) {
    ++stats_.paused_polls;
    quiet_ = false;  // changes reported during the pause are read after it
    // Reading stops, but new files behind the path are still picked up (one stat), so that a
    // long pause spanning several rotations loses none of them.
    if (current_ && !pattern_mode() && ChangedSincePoll()) ObservePath();
    return;
  }
  if (quiet_ && QuietPoll(out)) return;
  quiet_ = false;
  if (clock_.Monotonic() < next_attempt_) return;
  if (switch_to_) {
    NextFile next = std::move(*switch_to_);
    switch_to_.reset();
    current_.reset();
    Status status = SwitchTo(std::move(next));
    if (!status.ok()) {
      NoteFailure(status, options_.path.empty() ? options_.directory : options_.path);
      return;
    }
    ++stats_.rotations;
  }
  if (!current_) {
    Status status = OpenFirst();
    if (!status.ok()) {
      NoteFailure(status, options_.path.empty() ? options_.directory : options_.path);
      return;
    }
  }
  UpdateWatch();  // before reading: a write after the read is then reported
  last_full_poll_ = clock_.Monotonic();
  out->file = TailedFile{current_->path, current_->device, current_->inode};
  bool at_eof = false;
  Status status = ReadNew(out, &at_eof);
  out->file = TailedFile{current_->path, current_->device, current_->inode};  // may be a copy
  if (!status.ok()) {
    NoteFailure(status, current_->path);
    return;
  }
  NoteFollowing();
  if (!pattern_mode()) ObservePath();
  if (at_eof) CheckRotation(out);
  quiet_ = CanBeQuiet(at_eof);
}

void FileTailer::StartWatching() {
  auto watcher = fs_.NewWatcher();
  if (!watcher.ok()) {
    DropWatcher(watcher.status());
    return;
  }
  watcher_ = std::move(watcher).value();
}

// Nothing reported since a poll that read to the end with nothing pending: nothing to do.
bool FileTailer::QuietPoll(TailPoll* out) {
  if (clock_.Monotonic() - last_full_poll_ >= options_.watch_recheck_interval) {
    scan_owed_ = true;
    return false;
  }
  auto changed = watcher_->TakeChanges();
  if (!changed.ok()) {
    DropWatcher(changed.status());
    return false;
  }
  if (changed->directory) scan_owed_ = true;
  if (changed->any()) return false;
  out->file = TailedFile{current_->path, current_->device, current_->inode};
  ++stats_.quiet_polls;
  return true;
}

// Paused: whether the path may have a new file behind it (always, without a watcher).
bool FileTailer::ChangedSincePoll() {
  if (!watcher_ || !watched_) return true;
  if (clock_.Monotonic() - last_full_poll_ >= options_.watch_recheck_interval) return true;
  auto changed = watcher_->TakeChanges();
  if (!changed.ok()) DropWatcher(changed.status());
  if (changed.ok() && changed->directory) scan_owed_ = true;
  return !changed.ok() || changed->any();
}

// Watches the open file and its directory, once per file.
void FileTailer::UpdateWatch() {
  if (!watcher_) return;
  const auto id = std::make_pair(current_->device, current_->inode);
  if (watched_ == id) return;
  watched_.reset();
  Status s = watcher_->WatchOnly(current_->path,
                                 pattern_mode() ? options_.directory : DirName(options_.path));
  if (s.ok()) {
    watched_ = id;
  } else if (s.code() != StatusCode::kNotFound) {  // gone under us: tried again next poll
    DropWatcher(s);
  }
}

bool FileTailer::CanBeQuiet(bool at_eof) const {
  return watcher_ && current_ && at_eof && state_ == TailerState::kFollowing && !switch_to_ &&
         queued_.empty() && !rotation_seen_ && !(pattern_mode() && scan_owed_) &&
         watched_ == std::make_pair(current_->device, current_->inode);
}

void FileTailer::DropWatcher(const Status& why) {
  watcher_.reset();
  watched_.reset();
  quiet_ = false;
  ++stats_.watch_fallbacks;
  log::Warn("logtail.inotify_unavailable",
            {{"error", why.ToString()},
             {"effect", "polling the log file instead (a few system calls per poll)"}});
}

Status FileTailer::SwitchTo(NextFile next) {
  if (next.file == nullptr) {
    PGAGENT_ASSIGN_OR_RETURN(next.file, fs_.Open(next.path));
  }
  return OpenAt(next.path, std::move(next.file), 0, false);
}

// Path mode: a new file behind the path is opened at once and queued, so that it stays
// readable (and in order) even if it is renamed or deleted before the open file is finished.
void FileTailer::ObservePath() {
  auto st = fs_.Stat(options_.path);
  if (!st.ok() || !st->regular) return;  // gone for now: keep reading the open file
  auto known = [&](uint64_t device, uint64_t inode) {
    if (device == current_->device && inode == current_->inode) return true;
    for (const NextFile& q : queued_) {
      if (q.device == device && q.inode == inode) return true;
    }
    return false;
  };
  if (known(st->device, st->inode)) return;
  if (queued_.size() >= kMaxQueuedFiles) {
    if (overflow_warned_ != std::make_pair(st->device, st->inode)) {
      overflow_warned_ = std::make_pair(st->device, st->inode);
      NoteSkipped(options_.path, st->size,
                  "more rotations than can be held open while reading is behind; this file "
                  "may be skipped");
    }
    return;
  }
  auto file = fs_.Open(options_.path);
  if (!file.ok()) return;  // retried on the next poll
  auto fst = (*file)->Stat();
  if (!fst.ok() || !fst->regular || known(fst->device, fst->inode)) return;
  queued_.push_back(NextFile{options_.path, std::move(file).value(), fst->device, fst->inode});
}

Status FileTailer::OpenFirst() {
  PGAGENT_ASSIGN_OR_RETURN(std::string target, ResolveTarget());
  if (saved_) {
    TailCursor saved = *saved_;
    PGAGENT_RETURN_IF_ERROR(OpenResumed(saved, target));
    saved_.reset();
    return Status::Ok();
  }
  PGAGENT_ASSIGN_OR_RETURN(auto file, fs_.Open(target));
  if (opened_any_ || missing_at_start_ || saved_corrupt_ || options_.start_at_beginning) {
    return OpenAt(target, std::move(file), 0, false);
  }
  return OpenAtEnd(target, std::move(file));
}

Status FileTailer::OpenResumed(const TailCursor& saved, const std::string& target) {
  PGAGENT_ASSIGN_OR_RETURN(auto file, fs_.Open(target));
  PGAGENT_ASSIGN_OR_RETURN(FileStat st, file->Stat());
  if (saved.SameFile(st.device, st.inode)) {
    PGAGENT_ASSIGN_OR_RETURN(bool same, StillMatches(*file, st.size, saved.offset,
                                                     saved.fingerprint, saved.fingerprint_len));
    if (same) return OpenAt(target, std::move(file), saved.offset, false);
    ++stats_.resume_mismatches;
    if (auto copy = FindCopy(target, saved.offset, saved.fingerprint, saved.fingerprint_len,
                             st.device, st.inode)) {
      // copytruncate while we were stopped: finish the copy, then the file from 0.
      ++stats_.copies_finished;
      log::Info("logtail.resuming_in_copy", {{"path", target},
                                             {"copy", copy->path},
                                             {"saved_offset", saved.offset},
                                             {"then", "the truncated file from its beginning"}});
      // Copies made after it (copytruncate again) come next, oldest first, then the file.
      if (auto copy_st = copy->file->Stat(); copy_st.ok()) {
        QueueRotatedSiblings(target, *copy_st, st);
      }
      queued_.push_back(NextFile{target, std::move(file), st.device, st.inode});
      return OpenAt(copy->path, std::move(copy->file), saved.offset, false);
    }
    NoteSkipped(target, std::nullopt,
                "the file was truncated or replaced while collectord was stopped and no rotated "
                "copy holds its unread part (after offset " +
                    std::to_string(saved.offset) + "); reading it from the beginning");
    return OpenAt(target, std::move(file), 0, false);
  }
  // Rotated while we were stopped: finish the old file first if it is still around.
  if (auto old_path = FindByInode(saved.device, saved.inode)) {
    auto old_file = fs_.Open(*old_path);
    if (old_file.ok()) {
      auto old_st = (*old_file)->Stat();
      auto same = old_st.ok() && saved.SameFile(old_st->device, old_st->inode)
                      ? StillMatches(**old_file, old_st->size, saved.offset, saved.fingerprint,
                                     saved.fingerprint_len)
                      : Result<bool>(false);
      if (same.ok() && *same) {
        if (!pattern_mode()) {
          QueueRotatedSiblings(options_.path, *old_st, st);
        } else if (!pattern_->Matches(BaseName(*old_path))) {
          // Renamed out of the pattern (logrotate on a fixed log_filename): the files rotated
          // after it are named like it was, and the pattern sees only the newest.
          QueueRotatedSiblings(saved.path, *old_st, st);
        }
        return OpenAt(*old_path, std::move(old_file).value(), saved.offset, false);
      }
      ++stats_.resume_mismatches;  // a reused inode number: not our old file
    }
  }
  NoteSkipped(saved.path, std::nullopt,
              "the file being read when collectord stopped is gone (deleted or rotated away "
              "while collectord was stopped); its lines after offset " +
                  std::to_string(saved.offset) + " are lost; reading " + target +
                  " from the beginning");
  return OpenAt(target, std::move(file), 0, false);
}

// Path mode, resuming in a rotated-away file: files rotated after it while we were stopped
// (named like the log plus a suffix, e.g. postgresql.log.1 or postgresql.log-20261127, not
// compressed, modified later than the old file) are queued in modification order, so that they
// are read before the current file.
void FileTailer::QueueRotatedSiblings(const std::string& base_path, const FileStat& old_file,
                                      const FileStat& current_file) {
  const std::string dir = DirName(base_path);
  const std::string base = BaseName(base_path);
  auto names = fs_.ListDirectory(dir);
  if (!names.ok()) return;
  std::vector<Candidate> siblings;
  for (const std::string& name : *names) {
    if (name.size() <= base.size() || name.rfind(base, 0) != 0 || IsCompressedName(name)) continue;
    const std::string path = dir + "/" + name;
    auto st = fs_.Stat(path);
    if (!st.ok() || !st->regular || st->mtime_ns < old_file.mtime_ns) continue;
    const bool known = (st->device == old_file.device && st->inode == old_file.inode) ||
                       (st->device == current_file.device && st->inode == current_file.inode);
    if (!known) siblings.push_back(Candidate{path, *st});
  }
  std::sort(siblings.begin(), siblings.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.stat.mtime_ns, a.path) < std::tie(b.stat.mtime_ns, b.path);
  });
  for (Candidate& c : siblings) {
    // One place stays free for the current file (path mode queues it as it sees it).
    if (queued_.size() + 1 >= kMaxQueuedFiles) {
      NoteSkipped(c.path, c.stat.size,
                  "more files were rotated while collectord was stopped than can be queued");
      continue;
    }
    auto file = fs_.Open(c.path);
    if (!file.ok()) continue;
    queued_.push_back(NextFile{c.path, std::move(file).value(), c.stat.device, c.stat.inode});
  }
}

Status FileTailer::OpenAt(const std::string& path, std::unique_ptr<LogFile> file, uint64_t offset,
                          bool skip_first_line) {
  PGAGENT_ASSIGN_OR_RETURN(FileStat st, file->Stat());
  if (!st.regular) return InvalidArgumentError("not a regular file: " + path);
  OpenFile open;
  open.file = std::move(file);
  open.path = path;
  open.device = st.device;
  open.inode = st.inode;
  open.mtime_ns = st.mtime_ns;
  open.read_offset = offset;
  current_ = std::move(open);
  if (skip_first_line) {
    splitter_.ResetSkippingFirstLine(offset);
  } else {
    splitter_.Reset(offset);
  }
  rotation_seen_.reset();
  opened_any_ = true;
  ++stats_.files_opened;
  return UpdateReadFingerprint();
}

// Starts just after the last complete line, so that no fragment of a line is emitted.
Status FileTailer::OpenAtEnd(const std::string& path, std::unique_ptr<LogFile> file) {
  PGAGENT_ASSIGN_OR_RETURN(FileStat st, file->Stat());
  const uint64_t scan = std::min<uint64_t>(st.size, kEndScanBytes);
  std::string tail(scan, '\0');
  PGAGENT_ASSIGN_OR_RETURN(size_t got, file->ReadAt(st.size - scan, tail.data(), scan));
  const size_t nl = std::string_view(tail.data(), got).rfind('\n');
  if (nl != std::string_view::npos)
    return OpenAt(path, std::move(file), st.size - scan + nl + 1, false);
  if (st.size <= kEndScanBytes) return OpenAt(path, std::move(file), 0, false);
  return OpenAt(path, std::move(file), st.size, true);
}

Result<std::string> FileTailer::ResolveTarget() {
  if (!pattern_mode()) {
    PGAGENT_ASSIGN_OR_RETURN(FileStat st, fs_.Stat(options_.path));
    if (!st.regular) return InvalidArgumentError("not a regular file: " + options_.path);
    return options_.path;
  }
  PGAGENT_ASSIGN_OR_RETURN(candidates_, ScanDirectory());
  last_scan_ = clock_.Monotonic();
  scan_owed_ = false;
  if (candidates_.empty()) {
    return NotFoundError("no file matching '" + pattern_->pattern() + "' in " + options_.directory);
  }
  return candidates_.back().path;
}

Result<std::vector<FileTailer::Candidate>> FileTailer::ScanDirectory() {
  PGAGENT_ASSIGN_OR_RETURN(auto names, fs_.ListDirectory(options_.directory));
  std::vector<Candidate> out;
  for (const std::string& name : names) {
    if (!pattern_->Matches(name)) continue;
    std::string path = options_.directory + "/" + name;
    auto st = fs_.Stat(path);
    if (!st.ok() || !st->regular) continue;  // vanished or not a file: not a candidate
    out.push_back(Candidate{std::move(path), *st});
  }
  std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
    return std::tie(a.stat.mtime_ns, a.path) < std::tie(b.stat.mtime_ns, b.path);
  });
  return out;
}

std::optional<std::string> FileTailer::FindByInode(uint64_t device, uint64_t inode) {
  std::vector<std::string> dirs;
  if (saved_) dirs.push_back(DirName(saved_->path));
  dirs.push_back(pattern_mode() ? options_.directory : DirName(options_.path));
  for (const std::string& dir : dirs) {
    auto names = fs_.ListDirectory(dir);
    if (!names.ok()) continue;
    for (const std::string& name : *names) {
      std::string path = dir + "/" + name;
      auto st = fs_.Stat(path);
      if (st.ok() && st->regular && st->device == device && st->inode == inode) return path;
    }
  }
  return std::nullopt;
}

// Pattern mode: the file after the open one in (mtime, name) order, if any.
std::optional<std::string> FileTailer::NextPatternFile() {
  const auto now = clock_.Monotonic();
  if (now - last_scan_ >= options_.directory_scan_interval) {
    auto scanned = ScanDirectory();
    if (!scanned.ok()) return std::nullopt;  // directory gone for now: keep the open file
    candidates_ = std::move(scanned).value();
    last_scan_ = now;
    scan_owed_ = false;
  }
  for (size_t i = 0; i < candidates_.size(); ++i) {
    const FileStat& st = candidates_[i].stat;
    if (st.device == current_->device && st.inode == current_->inode) {
      if (i + 1 < candidates_.size()) return candidates_[i + 1].path;
      return std::nullopt;
    }
  }
  // The open file no longer matches (deleted or renamed): move to the first newer file.
  for (const Candidate& c : candidates_) {
    if (c.stat.mtime_ns >= current_->mtime_ns) return c.path;
  }
  return std::nullopt;
}

Status FileTailer::ReadNew(TailPoll* out, bool* at_eof) {
  PGAGENT_ASSIGN_OR_RETURN(FileStat st, current_->file->Stat());
  const uint64_t copies = stats_.copies_finished;
  PGAGENT_ASSIGN_OR_RETURN(bool restarted, CheckTruncation(st));
  if (restarted) out->restarted = true;
  if (stats_.copies_finished != copies) {  // now reading the copy: its size, not the file's
    PGAGENT_ASSIGN_OR_RETURN(st, current_->file->Stat());
  }
  current_->mtime_ns = st.mtime_ns;
  current_->seen_size = st.size;
  size_t budget = options_.max_bytes_per_poll;
  bool read_any = false;
  while (budget > 0) {
    const size_t want = std::min(budget, options_.read_chunk_bytes);
    PGAGENT_ASSIGN_OR_RETURN(size_t got,
                             current_->file->ReadAt(current_->read_offset, buffer_.get(), want));
    if (got == 0) {
      *at_eof = true;
      break;
    }
    splitter_.Feed(std::string_view(buffer_.get(), got), &out->lines);
    current_->read_offset += got;
    stats_.bytes_read += got;
    budget -= got;
    read_any = true;
    if (got < want) {
      *at_eof = true;
      break;
    }
  }
  return read_any ? UpdateReadFingerprint() : Status::Ok();
}

// copytruncate (size below our offset) or a rewrite in place (the bytes before our offset
// changed): the file holds new content, read it from 0.
Result<bool> FileTailer::CheckTruncation(const FileStat& st) {
  OpenFile& f = *current_;
  bool rewritten = st.size < f.read_offset;
  if (!rewritten && st.size > f.read_offset && f.read_offset > 0) {
    PGAGENT_ASSIGN_OR_RETURN(bool same, StillMatches(*f.file, st.size, f.read_offset,
                                                     f.read_fingerprint, f.read_fingerprint_len));
    rewritten = !same;
  }
  if (!rewritten) return false;
  ++stats_.truncations;
  if (auto copy = FindCopy(f.path, f.read_offset, f.read_fingerprint, f.read_fingerprint_len,
                           f.device, f.inode)) {
    log::Info("logtail.file_truncated", {{"path", f.path},
                                         {"offset", f.read_offset},
                                         {"copy", copy->path},
                                         {"action", "finishing the copy, then the file from 0"}});
    ContinueInCopy(std::move(*copy));
    return false;  // the same content goes on in the copy
  }
  if (f.seen_size > f.read_offset || f.read_offset > 0) {
    NoteSkipped(f.path, f.seen_size > f.read_offset ? f.seen_size - f.read_offset : 0,
                "the file was truncated (copytruncate) and no rotated copy holds the part not "
                "read yet (after offset " +
                    std::to_string(f.read_offset) +
                    "); lines written just before the truncation may be lost");
  }
  f.read_offset = 0;
  splitter_.Reset(0);
  rotation_seen_.reset();
  PGAGENT_RETURN_IF_ERROR(UpdateReadFingerprint());
  return true;
}

void FileTailer::CheckRotation(TailPoll* out) {
  std::optional<std::string> next_path;
  if (pattern_mode() && queued_.empty()) next_path = NextPatternFile();
  if (!next_path && queued_.empty()) {
    rotation_seen_.reset();
    return;
  }
  const auto now = clock_.Monotonic();
  if (options_.rotate_wait.count() > 0) {
    if (!rotation_seen_ || rotation_seen_offset_ != current_->read_offset) {
      rotation_seen_ = now;  // (re)start waiting for the old file to go idle
      rotation_seen_offset_ = current_->read_offset;
      return;
    }
    if (now - *rotation_seen_ < options_.rotate_wait) return;
  }
  splitter_.FlushPartial(&out->lines);
  out->file_finished = true;
  if (next_path) {
    switch_to_ = NextFile{std::move(*next_path), nullptr, 0, 0};
  } else {
    switch_to_ = std::move(queued_.front());
    queued_.pop_front();
  }
  rotation_seen_.reset();
}

std::optional<FileTailer::NextFile> FileTailer::FindCopy(const std::string& path, uint64_t offset,
                                                         uint64_t fingerprint,
                                                         uint32_t fingerprint_len, uint64_t device,
                                                         uint64_t inode) {
  if (offset == 0) return std::nullopt;  // nothing was read: nothing to finish
  const std::string dir = DirName(path);
  const std::string base = BaseName(path);
  auto names = fs_.ListDirectory(dir);
  if (!names.ok()) return std::nullopt;
  std::optional<NextFile> best;
  int64_t best_mtime = 0;
  for (const std::string& name : *names) {
    if (name.size() <= base.size() || name.rfind(base, 0) != 0 || IsCompressedName(name)) continue;
    const std::string candidate = dir + "/" + name;
    auto file = fs_.Open(candidate);
    if (!file.ok()) continue;
    auto st = (*file)->Stat();
    if (!st.ok() || !st->regular || (st->device == device && st->inode == inode)) continue;
    auto same = StillMatches(**file, st->size, offset, fingerprint, fingerprint_len);
    if (!same.ok() || !*same || (best && st->mtime_ns < best_mtime)) continue;
    best_mtime = st->mtime_ns;
    best = NextFile{candidate, std::move(file).value(), st->device, st->inode};
  }
  return best;
}

void FileTailer::ContinueInCopy(NextFile copy) {
  OpenFile& f = *current_;
  queued_.push_front(NextFile{f.path, std::move(f.file), f.device, f.inode});
  f.file = std::move(copy.file);
  f.path = copy.path;
  f.device = copy.device;
  f.inode = copy.inode;
  rotation_seen_.reset();
  ++stats_.copies_finished;
}

void FileTailer::NoteSkipped(std::string_view path, std::optional<uint64_t> bytes,
                             std::string_view reason) {
  ++stats_.skip_events;
  if (bytes) stats_.skipped_bytes += *bytes;
  log::Warn("logtail.lines_skipped",
            {{"path", path},
             {"skipped_bytes", bytes ? std::to_string(*bytes) : std::string("unknown")},
             {"reason", reason},
             {"effect", "log lines may be missing from the listener"}});
}

Status FileTailer::UpdateReadFingerprint() {
  OpenFile& f = *current_;
  PGAGENT_ASSIGN_OR_RETURN(auto fp, FingerprintBefore(*f.file, f.read_offset));
  f.read_fingerprint = fp.first;
  f.read_fingerprint_len = fp.second;
  return Status::Ok();
}

Result<TailCursor> FileTailer::CursorAt(uint64_t end_offset) {
  if (!current_) return FailedPreconditionError("no log file is open");
  PGAGENT_ASSIGN_OR_RETURN(auto fp, FingerprintBefore(*current_->file, end_offset));
  TailCursor cursor;
  cursor.path = current_->path;
  cursor.device = current_->device;
  cursor.inode = current_->inode;
  cursor.offset = end_offset;
  cursor.fingerprint = fp.first;
  cursor.fingerprint_len = fp.second;
  return cursor;
}

Status FileTailer::Commit(const TailCursor& cursor) {
  pending_commit_ = cursor;
  last_commit_ = cursor;
  ++stats_.commits;
  if (store_ == nullptr) return Status::Ok();
  const auto now = clock_.Monotonic();
  if (last_save_ && now - *last_save_ < options_.commit_interval) return Status::Ok();
  return FlushCommit();
}

Status FileTailer::FlushCommit() {
  if (store_ == nullptr || !pending_commit_) return Status::Ok();
  Status status = store_->Save(*pending_commit_);
  if (!status.ok()) {
    ++stats_.commit_failures;
    return status;
  }
  pending_commit_.reset();
  last_save_ = clock_.Monotonic();
  return Status::Ok();
}

void FileTailer::NoteFailure(const Status& status, std::string_view path) {
  ++stats_.open_failures;
  // A file that appears after we started holds only new lines: read it from the beginning.
  if (!opened_any_ && status.code() == StatusCode::kNotFound) missing_at_start_ = true;
  TailerState state = TailerState::kError;
  if (status.code() == StatusCode::kNotFound) state = TailerState::kMissing;
  if (status.code() == StatusCode::kPermissionDenied) state = TailerState::kPermissionDenied;
  if (state != state_) {
    ++stats_.warnings;
    log::Warn("logtail.file_unavailable",
              {{"path", path},
               {"state", TailerStateName(state)},
               {"error", status.ToString()},
               {"action", "retrying with backoff; no log lines are read meanwhile"}});
  }
  state_ = state;
  next_attempt_ = clock_.Monotonic() + backoff_.NextDelay();
}

void FileTailer::NoteFollowing() {
  if (state_ != TailerState::kFollowing && state_ != TailerState::kStarting) {
    log::Info("logtail.file_available", {{"path", current_->path}});
  }
  state_ = TailerState::kFollowing;
  backoff_.Reset();
  next_attempt_ = {};
}

}  // namespace pgagent::logtail
