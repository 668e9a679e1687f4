// The PostgreSQL store sends a batch's writes as one call of flush(), whose 40-odd
// array parameters the write buffer builds column by column. The two must agree name
// for name, or every column after a slip lands in the wrong place.

#include <gtest/gtest.h>

#include <map>
#include <pqxx/pqxx>

#include "persistence/postgres/pg_sql.h"
#include "persistence/postgres/pg_write_buffer.h"
#include "tests/testing/backends.h"

namespace keel::persistence {
namespace {

TEST(PgFlushTest, TheWriteBufferSendsEveryParameterFlushDeclaresInItsOrder) {
  if (!testutil::RequirePostgres()) return;
  auto pg = testutil::AllBackends()[1].make();
  ASSERT_TRUE(pg);
  auto store = pg->Open(SystemClock::Default());  // creates the schema and flush()
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string& url = pg->url();
  const std::string schema = url.substr(url.rfind("schema=") + 7);

  pqxx::connection c(*testutil::TestPgUrl());
  pqxx::nontransaction w(c);
  auto r = w.exec_params(
      "SELECT array_to_string(p.proargnames, ',') FROM pg_proc p "
      "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND p.proname = 'flush'",
      schema);
  ASSERT_EQ(r.size(), 1u) << "one flush() in " << schema;
  std::string declared = r[0][0].c_str();

  std::string sent;
  for (const auto& name : pg::WriteBuffer::ParamNames()) sent += name + ",";
  sent += "n_channel,n_notes";
  EXPECT_EQ(sent, declared);
  EXPECT_EQ(pg::WriteBuffer().Params().size(), pg::WriteBuffer::ParamNames().size());
}

// A writer plans each statement once, generically, with sequential scans ruled out: a
// statement whose parameters cannot prove a partial index's condition scans the whole
// table on every run (a closing run's search for open children once did, and checkout
// on PostgreSQL ran at a tenth of its speed). Every keyed statement must find an index.
TEST(PgFlushTest, KeyedStatementsUseAnIndexUnderTheWritersGenericPlans) {
  if (!testutil::RequirePostgres()) return;
  auto pg = testutil::AllBackends()[1].make();
  ASSERT_TRUE(pg);
  ASSERT_TRUE(pg->Open(SystemClock::Default()).ok());
  const std::string& url = pg->url();
  const std::string schema = url.substr(url.rfind("schema=") + 7);
  pqxx::connection c(*testutil::TestPgUrl());
  pqxx::nontransaction w(c);
  w.exec(
      "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; "
      "SET enable_hashjoin = off; SET enable_mergejoin = off");
  const std::map<std::string, std::string> args = {
      {"get_exec", "'r'"},      {"get_current", "'w'"},     {"find_activity", "'r', 'a'"},
      {"open_children", "'r'"}, {"expired_runs", "0, 10"},  {"due_deadlines", "0, 10"},
      {"due_timers", "0, 10"},  {"has_ready", "'q', 1, 0"}, {"delete_timer_by_name", "'r', 't'"},
  };
  for (const auto& [name, values] : args) {
    auto sql = pg::Statements().find(name);
    ASSERT_NE(sql, pg::Statements().end()) << name;
    w.exec("PREPARE t_" + name + " AS " + pg::WithSchema(sql->second, schema));
    std::string plan;
    for (const auto& row : w.exec("EXPLAIN EXECUTE t_" + name + "(" + values + ")")) {
      plan += std::string(row[0].c_str()) + "\n";
    }
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << name << ":\n" << plan;
  }
}

}  // namespace
}  // namespace keel::persistence
