#include "persistence/sql/sql_database.h"

#include <filesystem>
#include <regex>

#include "persistence/open_store.h"
#include "persistence/postgres/postgres_sql_database.h"
#include "persistence/postgres/postgres_store.h"
#include "persistence/sqlite/sqlite_sql_database.h"

namespace keel::persistence {

int64_t SqlRow::Int(size_t i) const {
  const SqlValue& v = cols_.at(i);
  if (const auto* n = std::get_if<int64_t>(&v)) return *n;
  if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  if (const auto* s = std::get_if<std::string>(&v)) return std::strtoll(s->c_str(), nullptr, 10);
  return 0;
}

double SqlRow::Real(size_t i) const {
  const SqlValue& v = cols_.at(i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* n = std::get_if<int64_t>(&v)) return static_cast<double>(*n);
  if (const auto* s = std::get_if<std::string>(&v)) return std::strtod(s->c_str(), nullptr);
  return 0;
}

std::string SqlRow::Text(size_t i) const {
  const SqlValue& v = cols_.at(i);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* n = std::get_if<int64_t>(&v)) return std::to_string(*n);
  if (const auto* d = std::get_if<double>(&v)) return std::to_string(*d);
  return "";
}

Result<std::unique_ptr<SqlDatabase>> OpenSqlDatabase(const std::string& db_url,
                                                     const std::string& service,
                                                     const SqlOpenOptions& options) {
  static const std::regex ident("^[a-z][a-z0-9_]{0,30}$");
  if (!std::regex_match(service, ident)) {
    return Status::InvalidArgument("bad service database name '" + service + "'");
  }
  if (db_url.rfind("sqlite:", 0) == 0) {
    KEEL_ASSIGN_OR_RETURN(std::string dir, SqliteDirOf(db_url));
    return OpenSqliteSqlDatabase(dir, service, options);
  }
  if (db_url.rfind("postgresql://", 0) == 0 || db_url.rfind("postgres://", 0) == 0) {
    KEEL_ASSIGN_OR_RETURN(PostgresOptions po, ParsePostgresUrl(db_url));
    // keel_engine -> keel_<service>; a test's schema=t123 -> t123_<service>.
    std::string prefix = po.schema == "keel_engine" ? "keel" : po.schema;
    return OpenPostgresSqlDatabase(po.url, prefix + "_" + service, service, options);
  }
  return Status::InvalidArgument(
      "--db must be sqlite:DIR or postgresql://USER@HOST:PORT/DB, got '" + DisplayUrl(db_url) + "'",
      "bad_db_url");
}

Result<bool> SqlDatabaseExists(const std::string& db_url, const std::string& service) {
  if (db_url.rfind("sqlite:", 0) == 0) {
    KEEL_ASSIGN_OR_RETURN(std::string dir, SqliteDirOf(db_url));
    return std::filesystem::exists(std::filesystem::path(dir) / (service + ".db"));
  }
  if (db_url.rfind("postgresql://", 0) == 0 || db_url.rfind("postgres://", 0) == 0) {
    KEEL_ASSIGN_OR_RETURN(PostgresOptions po, ParsePostgresUrl(db_url));
    std::string prefix = po.schema == "keel_engine" ? "keel" : po.schema;
    return PostgresSchemaExists(po.url, prefix + "_" + service);
  }
  return Status::InvalidArgument(
      "--db must be sqlite:DIR or postgresql://USER@HOST:PORT/DB, got '" + DisplayUrl(db_url) + "'",
      "bad_db_url");
}

}  // namespace keel::persistence
