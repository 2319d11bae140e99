#include "collectord/pg/query_text.h"

#include "collectord/sql/redact.h"

namespace pgagent {
namespace {

// A text the server may have cut (inside a literal, comment or dollar body) is redacted
// with truncated_input: the open token at the end is masked, not the whole text. Text the
// lexer still rejects comes back masked fail-closed (RedactSql), never raw.
std::string Redact(std::string_view raw, bool maybe_cut, bool& failed) {
  RedactOptions options;
  options.truncated_input = maybe_cut;
  RedactStats stats;
  std::string out = RedactSql(raw, options, &stats);
  failed = stats.failed;
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
