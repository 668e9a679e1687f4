#include "persistence/open_store.h"

#include "persistence/postgres/postgres_store.h"
#include "persistence/sqlite/sqlite_store.h"

namespace keel::persistence {

std::string DisplayUrl(const std::string& url) { return RedactUrl(url); }

Result<std::string> SqliteDirOf(const std::string& url) {
  if (url.rfind("sqlite:", 0) != 0) {
    return Status::InvalidArgument("not a sqlite: URL: " + url, "bad_db_url");
  }
  std::string dir = url.substr(7);
  if (dir.rfind("//", 0) == 0) dir = dir.substr(2);
  if (dir.empty()) return Status::InvalidArgument("sqlite: URL without a dir", "bad_db_url");
  return dir;
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& url, const OpenOptions& options) {
  if (url.rfind("sqlite:", 0) == 0) {
    KEEL_ASSIGN_OR_RETURN(std::string dir, SqliteDirOf(url));
    SqliteOptions so;
    so.dir = dir;
    so.migrate = options.migrate;
    so.synchronous = options.synchronous;
    so.clock = options.clock;
    return OpenSqliteStore(so);
  }
  if (url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0) {
    KEEL_ASSIGN_OR_RETURN(PostgresOptions po, ParsePostgresUrl(url));
    po.migrate = options.migrate;
    po.clock = options.clock;
    po.connect_retry_ms = options.connect_retry_ms;
    return OpenPostgresStore(po);
  }
  return Status::InvalidArgument(
      "--db must be sqlite:DIR or postgresql://USER@HOST:PORT/DB, got '" + url + "'", "bad_db_url");
}

}  // namespace keel::persistence
