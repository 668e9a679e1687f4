#pragma once
// The PostgreSQL store's SQL: its prepared statements, the column lists they return,
// and the readers of those rows. Internal to persistence/postgres/.

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/postgres/postgres_store.h"

namespace keel::persistence::pg {

// The schema version the migrations end at (persistence/migrations.h).
int LatestVersion();
// Every prepared statement by name; {s} stands for the schema.
const std::map<std::string, std::string>& Statements();
std::string WithSchema(std::string sql, const std::string& schema);
// One connection with every statement prepared.
std::unique_ptr<pqxx::connection> Connect(const PostgresOptions& o);
// The NOTIFY channel of a schema's store.
std::string Channel(const std::string& schema);

std::string Bin(const pqxx::field& f);
// The execution columns (kExecCols order) starting at column `at`.
ExecutionRow ReadExecRowAt(const pqxx::row& r, int at);
ExecutionRow ReadExecRow(const pqxx::row& r);
TaskRow ReadTaskRow(const pqxx::row& r);
// Leases up to `limit` ready tasks in one statement ("lease"), oldest first.
std::vector<TaskRow> LeaseStatement(pqxx::transaction_base& t, std::string_view queue,
                                    TaskKind kind, std::string_view owner, Millis now, int limit);

// What flush() raises, with the conflicting writes' positions, when an execution insert
// finds its run taken or an update's expected version no longer matches ...
inline constexpr const char* kVersionConflictState = "KL001";
// ... and when a history append finds its (run, first event) taken.
inline constexpr const char* kHistoryConflictState = "KL002";

// Task ids come from the sequence in blocks, so inserting a task needs no round trip
// for its id. One per writer connection.
struct IdBlock {
  std::vector<int64_t> ids;
};

}  // namespace keel::persistence::pg
