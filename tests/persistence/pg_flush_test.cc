// The PostgreSQL store sends a batch's writes as one call of flush(), whose 40-odd
// array parameters the write buffer builds column by column. The two must agree name
// for name, or every column after a slip lands in the wrong place.

#include <gtest/gtest.h>

#include <pqxx/pqxx>

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

}  // namespace
}  // namespace keel::persistence
