// Property test of the redactors (issue 14): random SQL, random multi-line log fields and
// random auto_explain plans, every literal a unique marker, through each redactor alone and
// through whole entries in stderr, csvlog and jsonlog. The property: no marker ever comes out.
// Markers sit only where a literal can be (quoted strings, dollar bodies, comments, numbers in
// SQL, key/row/parameter values, quoted values in messages); words outside quotes are not data.
//
// CI runs a fixed seed and a bounded number of rounds. Longer runs (a new seed each time):
//   PGAGENT_REDACTION_ROUNDS=200000 PGAGENT_REDACTION_SEED=$RANDOM
//   build/tests/collectord/logs/collector_logs_test --gtest_filter='RedactionProperty*'
// (both variables in the environment of the test binary).
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "collectord/logs/explain_redact.h"
#include "collectord/logs/log_entry_assembler.h"
#include "collectord/logs/log_redact.h"
#include "collectord/sql/redact.h"
#include "common/json_util.h"

namespace pgagent {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  // A fresh marker: "ZQ" + letters/digits, never produced by anything but this generator.
  std::string Marker() {
    std::string m = "ZQ" + std::to_string(next_++);
    for (int k = 0; k < 3; ++k) m.push_back(static_cast<char>('a' + Pick(26)));
    markers_.push_back(m);
    return m;
  }
  // A numeric marker (for SQL, where numbers are literals).
  std::string NumberMarker() {
    std::string m = "97" + std::to_string(100000000 + next_++) + std::to_string(Pick(10));
    markers_.push_back(m);
    return m;
  }
  // Text that is multi-line now and then (a newline inside a value).
  std::string Value() {
    std::string v = Marker();
    if (Pick(3) == 0) v += (Pick(2) ? "\n" : "\n    ") + Marker();
    if (Pick(4) == 0) v += " (" + Marker() + ")";
    return v;
  }

  // SQL as a client sent it; now and then cut inside a literal at the end (a syntax error's
  // STATEMENT, a capped line). Only at the very end of a field: before other text, an open
  // literal would make the rest something else than literals, not what markers stand for.
  std::string Sql() { return CompleteSql() + (Pick(8) == 0 ? " WHERE x = '" + Value() : ""); }

  // SQL that lexes (what the server ran: a deadlock's queries, a prepared statement, ...).
  std::string CompleteSql() {
    std::string out = Pick(2) ? "SELECT a, b1 FROM t" : "INSERT INTO t2 (c) VALUES (";
    const size_t n = 1 + Pick(6);
    for (size_t i = 0; i < n; ++i) out += Sep() + SqlPiece();
    return out;
  }

  std::string Message() {
    switch (Pick(9)) {
      case 0:
        return "invalid input syntax for type integer: \"" + Value() + "\"";
      case 1:
        return "syntax error at or near \"'" + Value() + "'\" at character 3";
      case 2:
        return "unterminated quoted string at or near \"'" + Value() + "\"";
      case 3:
        return "could not connect: host=h password=" + Marker() + " user=u";
      case 4:
        return "duplicate key value violates unique constraint \"t_pkey\"";
      case 5:
        return "statement: " + Sql();
      case 6:
        return "duration: 0.5 ms" + std::string(Pick(2) ? "  " : " ") + "statement: " + Sql();
      case 7:
        return "duration: 1.25 ms  plan:\n" + Plan();
      default:
        return "execute <unnamed>: " + Sql();
    }
  }

  std::string Detail() {
    switch (Pick(7)) {
      case 0:
        return "Key (k, lower(e))=(" + Value() + ", " + Value() + ") already exists.";
      case 1:
        return "Failing row contains (" + Value() + ", null, " + Value() + ").";
      case 2:
        return "parameters: $1 = '" + Value() + "', $2 = NULL, $3 = '" + Value() + "'";
      case 3:
        return "prepare: PREPARE p AS " + Sql();
      case 4:
        return "Token \"" + Value() + "\" is invalid.";
      case 5:
        return "Process 11 waits for ShareLock on transaction 7; blocked by process 12.\n"
               "Process 11: " +
               CompleteSql() + "\nProcess 12: " + Sql();
      default:
        return "Key (k)=(" + Value() + ") is not present in table \"parent\".";
    }
  }

  // Free text as in a HINT or DETAIL (no SQL).
  std::string Hint() {
    switch (Pick(4)) {
      case 0:
        return "Key (k)=(" + Value() + ") already exists.";
      case 1:
        return "Failing row contains (" + Value() + ").";
      case 2:
        return "parameters: $1 = '" + Value() + "'";
      default:
        return "Token \"" + Value() + "\" is invalid.";
    }
  }

  std::string Context() {
    std::string out;
    const size_t n = 1 + Pick(3);
    for (size_t i = 0; i < n; ++i) {
      if (i > 0) out += "\n";
      switch (Pick(5)) {
        case 0:
          out += "SQL statement \"" + CompleteSql() + "\"";
          break;
        case 1:
          out += "PL/pgSQL function f(text) line 3 at SQL statement";
          break;
        case 2:
          out += "unnamed portal with parameters: $1 = '" + Value() + "'";
          break;
        case 3:
          out += "COPY t, line 1, column a: \"" + Value() + "\"";
          break;
        default:
          out += "JSON data, line 1: {\"a\": " + Marker() + "...";
          break;
      }
    }
    return out;
  }

  std::string Plan() {
    switch (Pick(4)) {
      case 0:
        return TextPlan();
      case 1:
        return JsonPlan();
      case 2:
        return YamlPlan();
      default:
        return XmlPlan();
    }
  }

  size_t Pick(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  const std::vector<std::string>& markers() const { return markers_; }
  void ClearMarkers() { markers_.clear(); }

 private:
  std::string Sep() {
    switch (Pick(6)) {
      case 0:
        return "\n";
      case 1:
        return "\n        ";
      default:
        return " ";
    }
  }

  std::string SqlPiece() {
    switch (Pick(15)) {
      case 0:
        return "'" + Value() + "'";
      case 1:
        return "E'" + Marker() + "\\'" + Marker() + "'";
      case 2:
        return "'" + Marker() + "''" + Marker() + "'";
      case 3:
        return "$$" + Value() + "$$";
      case 4:
        return "$fn$ " + Value() + " $fn$";
      case 5:
        return "/* " + Value() + " */";
      case 6:
        return "-- " + Marker() + "\n";
      case 7:
        return NumberMarker();
      case 8:
        return "-" + NumberMarker() + ".5";
      case 9:
        return "IN ('" + Marker() + "', " + NumberMarker() + ")";
      case 10:
        return "U&'" + Marker() + "'";
      case 11:
        return "\"Quoted Ident\" = $1";
      case 12:
        return "/* password=" + Marker() + " */";
      case 13:
        return "PASSWORD '" + Marker() + "'";
      default:
        return "AND col_2 <> ?";
    }
  }

  std::string TextPlan() {
    std::string q = CompleteSql();
    return "Query Text: " + q +
           "\nSeq Scan on public.t  (cost=0.00..35.50 rows=10 width=32) (actual "
           "time=0.010..0.011 rows=1 loops=1)\n  Output: '" +
           Value() + "'::text, " + NumberMarker() + "\n  Filter: (t.k = '" + Value() +
           "'::text)\n  Rows Removed by "
           "Filter: 2\n  Buffers: shared hit=3";
  }
  std::string JsonPlan() {
    std::string out = "{\n  \"Query Text\": ";
    AppendJsonString(out, CompleteSql());
    out +=
        ",\n  \"Plan\": {\n    \"Node Type\": \"Seq Scan\",\n    \"Actual Rows\": 1,\n"
        "    \"Output\": [";
    AppendJsonString(out, "'" + Value() + "'::text");
    out += "],\n    \"Filter\": ";
    AppendJsonString(out, "(k = '" + Value() + "'::text) OR (n > " + NumberMarker() + ")");
    return out + "\n  }\n}";
  }
  std::string YamlPlan() {
    std::string q;
    AppendJsonString(q, CompleteSql());
    std::string f;
    AppendJsonString(f, "(k = '" + Value() + "'::text)");
    return "Query Text: " + q +
           "\nPlan: \n  Node Type: \"Seq Scan\"\n  Actual Rows: 1\n"
           "  Filter: " +
           f;
  }
  std::string XmlPlan() {
    std::string q = CompleteSql();
    std::string escaped;
    for (char c : q)
      escaped += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
    return "<explain xmlns=\"http://www.postgresql.org/2009/explain\">\n  <Query-Text>" + escaped +
           "</Query-Text>\n  <Plan>\n    <Actual-Rows>1</Actual-Rows>\n    <Output>\n      <Item>" +
           NumberMarker() + "</Item>\n    </Output>\n    <Filter>(k = '" + Value() +
           "'::text)</Filter>\n  </Plan>\n</explain>";
  }

  std::mt19937_64 rng_;
  uint64_t next_ = 0;
  std::vector<std::string> markers_;
};

class RedactionPropertyTest : public ::testing::Test {
 protected:
  void ExpectNoMarker(const std::string& out, const std::string& input) {
    for (const std::string& m : gen_.markers()) {
      if (out.find(m) != std::string::npos) {
        ADD_FAILURE() << "marker " << m << " leaked (seed " << seed_ << ")\ninput:\n"
                      << input << "\noutput:\n"
                      << out;
        ++leaks_;
        return;
      }
    }
  }
  const uint64_t seed_ = EnvOr("PGAGENT_REDACTION_SEED", 14);
  const uint64_t rounds_ = EnvOr("PGAGENT_REDACTION_ROUNDS", 2000);
  Generator gen_{seed_};
  int leaks_ = 0;
};

TEST_F(RedactionPropertyTest, NoMarkerSurvivesAnySingleRedactor) {
  for (uint64_t round = 0; round < rounds_ && leaks_ < 3; ++round) {
    gen_.ClearMarkers();
    const std::string sql = gen_.Sql();
    ExpectNoMarker(RedactSql(sql), sql);
    ExpectNoMarker(MaskFailClosed(sql), sql);
    FieldRedactStats stats;
    const std::string message = gen_.Message();
    ExpectNoMarker(MaskFailClosed(message), message);
    const std::string hint = gen_.Hint();
    ExpectNoMarker(RedactLogText(hint, &stats), hint);
    const std::string detail = gen_.Detail();
    ExpectNoMarker(RedactLogDetail(detail, &stats), detail);
    ExpectNoMarker(MaskFailClosed(detail), detail);
    const std::string context = gen_.Context();
    ExpectNoMarker(RedactLogContext(context, &stats), context);
    ExpectNoMarker(MaskFailClosed(context), context);
    const std::string plan = gen_.Plan();
    auto redacted = RedactExplainPlan("\n" + plan, &stats);
    ASSERT_TRUE(redacted.has_value()) << plan;
    ExpectNoMarker(*redacted, plan);
  }
  std::cout << "[ rounds ] " << rounds_ << " (seed " << seed_ << ")\n";
}

// One entry with every free-text field set, written as PostgreSQL writes it in each format.
struct Fields {
  std::string message, detail, hint, context, statement, query;
};

std::string StderrText(const Fields& f) {
  const std::string p = "2026-11-27 10:26:01.123 UTC [7] a@d psql ";
  auto tabbed = [](std::string v) {
    for (size_t i = v.find('\n'); i != std::string::npos; i = v.find('\n', i + 2))
      v.insert(i + 1, "\t");
    return v;
  };
  return p + "ERROR:  " + tabbed(f.message) + "\n" + p + "DETAIL:  " + tabbed(f.detail) + "\n" + p +
         "HINT:  " + tabbed(f.hint) + "\n" + p + "QUERY:  " + tabbed(f.query) + "\n" + p +
         "CONTEXT:  " + tabbed(f.context) + "\n" + p + "STATEMENT:  " + tabbed(f.statement) + "\n";
}

std::string CsvText(const Fields& f) {
  auto q = [](const std::string& v) {
    std::string out = "\"";
    for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    return out + "\"";
  };
  return "2026-11-27 10:26:01.123 UTC,\"a\",\"d\",7,\"h:1\",s.1,1,\"SELECT\",2026-11-27 10:25:00 "
         "UTC,3/1,0,ERROR,XX000," +
         q(f.message) + "," + q(f.detail) + "," + q(f.hint) + "," + q(f.query) + ",," +
         q(f.context) + "," + q(f.statement) +
         ",,,\"psql\",\"client "
         "backend\",,0\n";
}

std::string JsonText(const Fields& f) {
  std::string out =
      "{\"timestamp\":\"2026-11-27 10:26:01.123 UTC\",\"pid\":7,\"error_severity\":"
      "\"ERROR\"";
  auto add = [&](const char* key, const std::string& v) {
    out += std::string(",\"") + key + "\":";
    AppendJsonString(out, v);
  };
  add("message", f.message);
  add("detail", f.detail);
  add("hint", f.hint);
  add("internal_query", f.query);
  add("context", f.context);
  add("statement", f.statement);
  return out + "}\n";
}

TEST_F(RedactionPropertyTest, NoMarkerSurvivesWholeEntriesInEveryFormat) {
  struct Format {
    LogFormat format;
    std::string (*render)(const Fields&);
  };
  const Format formats[] = {{LogFormat::kStderr, StderrText},
                            {LogFormat::kCsvlog, CsvText},
                            {LogFormat::kJsonlog, JsonText}};
  std::vector<std::unique_ptr<LogParser>> parsers;
  for (const Format& f : formats) {
    LogParserOptions o;
    o.format = f.format;
    o.log_line_prefix = "%m [%p] %q%u@%d %a ";
    auto p = LogParser::Create(o);
    ASSERT_TRUE(p.ok());
    parsers.push_back(std::move(*p));
  }
  const uint64_t rounds = rounds_ / 4 + 1;
  for (uint64_t round = 0; round < rounds && leaks_ < 3; ++round) {
    gen_.ClearMarkers();
    Fields f{gen_.Message(), gen_.Detail(), gen_.Hint(), gen_.Context(), gen_.Sql(), gen_.Sql()};
    for (size_t k = 0; k < parsers.size(); ++k) {
      const std::string text = formats[k].render(f);
      LogEntryAssembler assembler(*parsers[k]);
      std::vector<AssembledEntry> out;
      uint64_t offset = 0;
      for (size_t p = 0; p < text.size();) {
        const size_t nl = text.find('\n', p);
        offset = nl + 1;
        assembler.Push(LogLine{std::string_view(text).substr(p, nl - p), false, offset}, {}, &out);
        p = nl + 1;
      }
      assembler.Flush(&out);
      ASSERT_FALSE(out.empty());
      for (const auto& a : out) ExpectNoMarker(a.entry.DebugString(), text);
      // The entry was understood: nothing came out as unparsed text.
      EXPECT_EQ(assembler.stats().unparsed, 0u) << text;
    }
  }
}

}  // namespace
}  // namespace pgagent
