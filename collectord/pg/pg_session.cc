#include "collectord/pg/pg_session.h"

namespace pgagent {

std::string TagQuery(std::string_view sql) {
  if (sql.starts_with(kPgagentQueryTag)) return std::string(sql);
  std::string out;
  out.reserve(kPgagentQueryTag.size() + sql.size());
  out.append(kPgagentQueryTag);
  out.append(sql);
  return out;
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
