#include "collectord/pg/query_text.h"

#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

std::string Redact(std::string_view raw, bool maybe_cut, bool& failed) {
  RedactStats stats;
  std::string out = RedactSql(raw, &stats);
  if (!stats.failed || !maybe_cut) {
    failed = stats.failed;
    return out;
  }
  // The server may have cut the text inside a string literal or a comment.
  for (std::string_view closer : {"'", "*/"}) {
    RedactStats retry_stats;
    std::string retry = RedactSql(std::string(raw) + std::string(closer), &retry_stats);
    if (!retry_stats.failed) {
      failed = false;
      return retry;
    }
  }
  failed = true;
  return out;
}

}  // namespace

std::string_view Utf8Prefix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes;
  // Step back over continuation bytes (10xxxxxx) so that the cut lands before a lead byte.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

ProcessedQuery ProcessQueryText(const CorrelationExtractor* extractor,
                                std::string_view application_name, std::string_view raw,
                                bool maybe_cut_by_server, const QueryTextOptions& options) {
  ProcessedQuery out;
  if (extractor != nullptr) {
    out.correlation_id = extractor->Extract(application_name, raw);
    out.traceparent = extractor->TraceparentFromQuery(raw);
  }
  out.truncated = maybe_cut_by_server;
  if (raw == kInsufficientPrivilege || options.send_raw_query_text) {
    out.text = std::string(raw);
  } else {
    out.text = Redact(raw, maybe_cut_by_server, out.redaction_failed);
  }
  if (options.max_length > 0 && out.text.size() > options.max_length) {
    out.text = std::string(Utf8Prefix(out.text, options.max_length));
    out.truncated = true;
  }
  return out;
}

}  // namespace pgagent
