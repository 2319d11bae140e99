#include "collectord/logtail/line_splitter.h"

#include <algorithm>
#include <cstring>

#include "common/utf8.h"

namespace pgagent::logtail {
bool SanitizeLineText(std::string& text, uint64_t* nul_bytes, bool* invalid_utf8) {
  bool changed = false;
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    const size_t before = text.size();
    text.erase(std::remove(text.begin(), text.end(), '\0'), text.end());
    *nul_bytes += before - text.size();
    changed = true;
  }
  *invalid_utf8 = SanitizeUtf8(&text);
  return changed || *invalid_utf8;
}

LineSplitter::LineSplitter(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

void LineSplitter::Reset(uint64_t offset) {
  line_start_ = offset;
  fed_ = offset;
  partial_.clear();
  partial_truncated_ = false;
  skip_first_line_ = false;
}

void LineSplitter::ResetSkippingFirstLine(uint64_t offset) {
  Reset(offset);
  skip_first_line_ = true;
}

void LineSplitter::Emit(std::string text, bool truncated, uint64_t end_offset,
                        std::vector<TailLine>* out) {
  uint64_t nul = 0;
  bool invalid = false;
  SanitizeLineText(text, &nul, &invalid);
  stats_.nul_bytes += nul;
  if (invalid) ++stats_.invalid_utf8_lines;
  if (truncated) ++stats_.truncated_lines;
  ++stats_.lines;
  out->push_back(TailLine{std::move(text), truncated, end_offset});
}

void LineSplitter::Feed(std::string_view data, std::vector<TailLine>* out) {
  size_t pos = 0;
  while (pos < data.size()) {
    const char* nl =
        static_cast<const char*>(std::memchr(data.data() + pos, '\n', data.size() - pos));
    const size_t end = nl ? static_cast<size_t>(nl - data.data()) : data.size();
    std::string_view piece = data.substr(pos, end - pos);
    if (!skip_first_line_) {
      const size_t room = max_line_bytes_ - partial_.size();
      if (piece.size() > room) {
        partial_truncated_ = true;
        stats_.truncated_bytes += piece.size() - room;
      }
      partial_.append(piece.substr(0, std::min(room, piece.size())));
    }
    if (nl == nullptr) break;
    const uint64_t end_offset = fed_ + end + 1;
    if (skip_first_line_) {
      skip_first_line_ = false;
    } else {
      Emit(std::move(partial_), partial_truncated_, end_offset, out);
    }
    partial_.clear();
    partial_truncated_ = false;
    line_start_ = end_offset;
    pos = end + 1;
  }
  fed_ += data.size();
}

bool LineSplitter::FlushPartial(std::vector<TailLine>* out) {
  if (!has_partial()) return false;
  const bool emitted = !skip_first_line_;
  if (emitted) Emit(std::move(partial_), partial_truncated_, fed_, out);
  partial_.clear();
  partial_truncated_ = false;
  skip_first_line_ = false;
  line_start_ = fed_;
  return emitted;
}

}  // namespace pgagent::logtail
