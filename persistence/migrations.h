#pragma once
// The engine stores' schema migrations: the files persistence/sqlite/migrations/*.sql
// and persistence/postgres/migrations/*.sql, embedded at build time (CMakeLists.txt).
// Migration N (1-based, in file-name order) takes a store from schema version N-1 to N;
// both stores keep one numbering. PostgreSQL's files name the schema `{s}`.
//
// An applied migration is never edited: change the schema with a new file.
// tests/persistence/migrations_test.cc pins every file's SHA-256 to hold that.

#include <string>
#include <vector>

namespace keel::persistence {

struct Migration {
  std::string name;  // the file's name
  std::string sql;
};

const std::vector<Migration>& SqliteMigrations();
const std::vector<Migration>& PostgresMigrations();

}  // namespace keel::persistence
