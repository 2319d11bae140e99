#include "tools/gen-example-config/example_config.h"

#include <sstream>
#include <string_view>

namespace pgagent {
namespace {

constexpr std::string_view kHeader =
    R"(; /etc/pgagent/pgagent.ini: configuration of pgagent-collectord and pgagent-shipperd.
;
; Generated from the daemons' key table (tools/gen-example-config); every key is listed, commented
; out, with its built-in default. To change a setting, remove the "; " in front of its line.
;
; Precedence for every key: environment variable > this file > built-in default. Each key has the
; variable named below (BITVILLE_PG_<SECTION>_<KEY>); the Python agent's old names still work.
; Check a changed file with `pgagentctl check-config`, then apply it with
; `systemctl reload pgagent-collectord pgagent-shipperd`; keys marked "Needs a restart" are applied
; by `systemctl restart pgagent.target` only.
;
; Secrets: do not write the database password or the API key in this file (it is readable by the
; group pgagent). Put them in root-only files that systemd hands to the daemons as credentials:
;   install -d -m 0700 /etc/pgagent/credentials
;   install -m 0600 /dev/stdin /etc/pgagent/credentials/db_password   (collector)
;   install -m 0600 /dev/stdin /etc/pgagent/credentials/api_key       (shipper)
;
; Syntax: "[section]", "key = value"; comments start a line with ";" or "#"; " ;" starts an inline
; comment; lines are limited to 198 characters.

)";

// Appends `text` as "; "-prefixed comment lines no wider than kExampleConfigWidth.
void AppendWrapped(std::ostringstream& out, std::string_view text) {
  const size_t width = kExampleConfigWidth - 2;
  std::string line;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(start, end - start);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out << "; " << line << '\n';
      line.clear();
    }
    if (!line.empty()) line += ' ';
    line += word;
    start = end + 1;
  }
  if (!line.empty()) out << "; " << line << '\n';
}

void AppendKey(std::ostringstream& out, const ConfigKeyInfo& key) {
  AppendWrapped(out, key.description + ".");
  std::string facts = "Env: " + key.env_var;
  if (!key.legacy_env_var.empty() && key.legacy_env_var != key.env_var)
    facts += " (or " + key.legacy_env_var + ")";
  facts += ". Value: " + key.value_hint + ".";
  if (key.restart_required) facts += " Needs a restart.";
  if (key.secret) facts += " Secret: prefer the systemd credential.";
  AppendWrapped(out, facts);
  out << "; " << key.key << " =";
  if (!key.default_value.empty()) out << ' ' << key.default_value;
  out << "\n\n";
}

}  // namespace

std::string ExampleConfigText(const std::vector<ConfigKeyInfo>& keys) {
  std::ostringstream out;
  out << kHeader;
  std::string section;
  for (const ConfigKeyInfo& key : keys) {
    if (key.section != section) {
      section = key.section;
      out << "[" << section << "]\n\n";
    }
    AppendKey(out, key);
  }
  std::string text = out.str();
  while (text.size() >= 2 && text.ends_with("\n\n")) text.pop_back();
  return text;
}

}  // namespace pgagent
