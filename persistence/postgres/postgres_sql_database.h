#pragma once
// SqlDatabase on one PostgreSQL schema: a pool of libpqxx connections whose
// search_path is that schema, statements prepared once per connection.

#include <memory>
#include <string>

#include "persistence/sql/sql_database.h"

namespace keel::persistence {

// `url` is a libpq URI without Keel's own parameters (see ParsePostgresUrl).
Result<std::unique_ptr<SqlDatabase>> OpenPostgresSqlDatabase(const std::string& url,
                                                             const std::string& schema,
                                                             const std::string& service,
                                                             const SqlOpenOptions& options);
// Whether `schema` exists on the server (nothing is created). db_unreachable and the
// like when the server cannot be asked.
Result<bool> PostgresSchemaExists(const std::string& url, const std::string& schema);

}  // namespace keel::persistence
