// The engine stores' migrations (persistence/migrations.h): embedded whole, in order,
// one numbering for both stores, and never edited once shipped. A new migration adds
// its file and its line below; a changed hash means an applied migration was edited,
// which databases already past it would never see: write a new migration instead.

#include "persistence/migrations.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <cstdio>
#include <map>
#include <string>

namespace keel::persistence {
namespace {

std::string Sha256(const std::string& text) {
  unsigned char out[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(out, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  std::string hex;
  char b[3];
  for (unsigned char c : out) {
    std::snprintf(b, sizeof b, "%02x", c);
    hex += b;
  }
  return hex;
}

const std::map<std::string, std::string> kShipped = {
    {"postgres/0001_engine_tables.sql",
     "1e09e0e44925149ab70b3eddfd291267cd49e7294fa6715f0846a743d3c20f48"},
    {"postgres/0002_request_ids.sql",
     "aab0579b29cf31ddcd9f22ad2ef53c3aa652632d8e19fad52cdbc08f0912b7d7"},
    {"postgres/0003_child_runs.sql",
     "54e76bd264e36a7560d041aadebfbd8ad1aed4269839243ba149102f180aa663"},
    {"postgres/0004_flush_function.sql",
     "4d16cad69891a4b1ee63011c954a19e65e46a1837cb19b08d80f382b11fb88a6"},
    {"postgres/0005_flush_skips_empty.sql",
     "158e7ade3236f384fb9201de66934b9a35408c5a870b4aadedad7bb19afa8930"},
    {"postgres/0006_flush_reports_conflicts.sql",
     "fc8583425405cd06d2597d8ca562f9e28a7f38204dcb0c86726aec29ca9f8a63"},
    {"postgres/0007_pollers.sql",
     "83a6cccb9037d0542a245852b5fd3758f555de898aa1f3b1b1ffef01a4439c23"},
    {"sqlite/0001_engine_tables.sql",
     "c644598861cd170b60e724a4e1228270a3b5f756fd592773335556536e965f44"},
    {"sqlite/0002_request_ids.sql",
     "2160552e1d2844d4a766ae78d1419dbd2e54bf6572d07dc8c8850d739a976f76"},
    {"sqlite/0003_child_runs.sql",
     "96d16d016a76f9d6792e8dff1ff69906e4d1cb58a3e1f70b06117e447a6dd7f2"},
    {"sqlite/0004_flush_function.sql",
     "1cead18b6bf856940fd420b9c3f6f36246f52e718fd647d35935d73ca1d64cba"},
    {"sqlite/0005_flush_skips_empty.sql",
     "e2274dd8235a3f9eafcecd7aacdad4c56cc505962ffac78908ab908812ccd197"},
    {"sqlite/0006_flush_reports_conflicts.sql",
     "317aa1e3548082d5db92f9b95fbcfbfe64f6b28ac1d5800fee286ece9e846899"},
    {"sqlite/0007_pollers.sql", "334859ce659b283ba75b28b18965cc4c7c5b81f3754dccc610ebe040f42dc6dd"},
};

TEST(MigrationsTest, ShippedMigrationsAreNeverEdited) {
  ASSERT_EQ(sodium_init() >= 0, true);
  for (const auto& [store, list] :
       {std::pair{"postgres", &PostgresMigrations()}, std::pair{"sqlite", &SqliteMigrations()}}) {
    for (const auto& m : *list) {
      const std::string key = std::string(store) + "/" + m.name;
      auto pinned = kShipped.find(key);
      ASSERT_NE(pinned, kShipped.end()) << key << " is new: pin its hash " << Sha256(m.sql);
      EXPECT_EQ(Sha256(m.sql), pinned->second)
          << key << " was edited after it shipped; add a new migration instead";
    }
  }
}

TEST(MigrationsTest, BothStoresKeepOneNumberingInFileOrder) {
  const auto& pg = PostgresMigrations();
  const auto& lite = SqliteMigrations();
  ASSERT_EQ(pg.size(), lite.size());
  for (size_t i = 0; i < pg.size(); ++i) {
    char prefix[24];
    std::snprintf(prefix, sizeof prefix, "%04zu_", i + 1);
    EXPECT_EQ(pg[i].name.rfind(prefix, 0), 0u) << pg[i].name;
    EXPECT_EQ(lite[i].name, pg[i].name) << "one change, one number, one name";
    EXPECT_FALSE(pg[i].sql.empty());
  }
}

}  // namespace
}  // namespace keel::persistence
