#pragma once
// SqlDatabase on one SQLite file (DIR/<service>.db): WAL, synchronous=FULL, a pool of
// connections; writers serialize on BEGIN IMMEDIATE, readers run beside them.

#include <memory>
#include <string>

#include "persistence/sql/sql_database.h"

namespace keel::persistence {

Result<std::unique_ptr<SqlDatabase>> OpenSqliteSqlDatabase(const std::string& dir,
                                                           const std::string& service,
                                                           const SqlOpenOptions& options);

}  // namespace keel::persistence
