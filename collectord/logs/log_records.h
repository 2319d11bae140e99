// Record-level parsers: one csvlog record, one jsonlog line, or one matched stderr line to
// the raw (not yet enriched or redacted) fields of a pgagent.v1.LogEntry. Used by
// LogEntryAssembler, which joins physical lines first and enriches afterwards.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "collectord/logs/stderr_prefix.h"
#include "pgagent/v1/records.pb.h"

namespace pgagent {

// Quote state after scanning `text` (starting inside quotes when in_quotes): true while a
// quoted csv field is still open, i.e. the record continues on the next line.
bool CsvQuoteStateAfter(std::string_view text, bool in_quotes);

// Splits one complete CSV record (may hold newlines inside quoted fields) into unquoted
// fields. Reuses the strings in *fields. Returns false when malformed (a quote inside an
// unquoted field, text after a closing quote, an unterminated quote).
bool SplitCsvRecord(std::string_view record, std::vector<std::string>* fields);

// Fills *entry from a csvlog record of 23 (PG 12), 24 (PG 13) or 26 (PG 14+) columns.
// Returns false for another column count, a malformed record or a malformed timestamp.
bool CsvlogRecordToEntry(std::string_view record, std::vector<std::string>* scratch,
                         pgagent::v1::LogEntry* entry, bool* unknown_zone);

// Fills *entry from one jsonlog line (a flat JSON object of strings and numbers; unknown
// keys are ignored). Returns false when the line is not such an object or lacks
// error_severity and message.
bool JsonlogLineToEntry(std::string_view line, pgagent::v1::LogEntry* entry, bool* unknown_zone);

// Fills *entry from a matched stderr line (prefix fields, level, first message line).
void StderrLineToEntry(const StderrLine& line, pgagent::v1::LogEntry* entry, bool* unknown_zone);

// "127.0.0.1(5432)" / "127.0.0.1:5432" / "[::1]:5432" -> the host alone; other text as is.
std::string_view HostWithoutPort(std::string_view host_port);

}  // namespace pgagent
