#include "collectord/pg/pg_session.h"

namespace pgagent {

std::string TagQuery(std::string_view sql) {
  std::string out;
  out.reserve(kPgagentQueryTag.size() + sql.size() + kPgagentQueryTrailer.size());
  if (!sql.starts_with(kPgagentQueryTag)) out.append(kPgagentQueryTag);
  out.append(sql);
  if (!sql.ends_with(kPgagentQueryTrailer)) out.append(kPgagentQueryTrailer);
  return out;
}

bool IsPgagentQuery(std::string_view text) {
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == ';')) {
    text.remove_suffix(1);
  }
  return text.starts_with(kPgagentQueryTag) || text.ends_with(kPgagentQueryTrailer);
}

int PgResult::ColumnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return static_cast<int>(i);
  }
  return -1;
}

const PgValue& PgResult::Get(size_t row, std::string_view column) const {
  static const PgValue kNull;
  int index = ColumnIndex(column);
  if (index < 0 || static_cast<size_t>(index) >= rows[row].size()) return kNull;
  return rows[row][static_cast<size_t>(index)];
}

}  // namespace pgagent
