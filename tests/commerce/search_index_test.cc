// SearchIndex on both stores, below HTTP: doc values kept in step with writes made
// through another index instance (another process), the one-letter rule, ordering.

#include "commerce/search_index.h"

#include <gtest/gtest.h>

#include "tests/testing/backends.h"

namespace keel::commerce {
namespace {

class SearchIndexTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    if (!backend_) GTEST_SKIP();
    writer_ = OpenIndex();
    reader_ = OpenIndex();
  }
  std::unique_ptr<SearchIndex> OpenIndex() {
    auto db = persistence::OpenSqlDatabase(backend_->url(), "search", {});
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    auto index = SearchIndex::Open(std::move(db).value());
    EXPECT_TRUE(index.ok()) << index.status().ToString();
    return std::move(index).value();
  }
  static Item MakeItem(std::string id, std::string name, int64_t price, Millis created_at) {
    Item it;
    it.id = std::move(id);
    it.seller_id = "seller-1";
    it.name = std::move(name);
    it.description = "a thing";
    it.price = price;
    it.currency = "USD";
    it.category = "home";
    it.brand = "Acme";
    it.created_at = created_at;
    return it;
  }
  std::vector<std::string> Ids(const SearchQuery& q) {
    auto r = reader_->Search(q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> ids;
    if (r.ok()) {
      for (const auto& hit : r.value().items) ids.push_back(hit.item_id);
    }
    return ids;
  }

  std::unique_ptr<testutil::BackendInstance> backend_;
  std::unique_ptr<SearchIndex> writer_, reader_;
};

TEST_P(SearchIndexTest, AnotherInstanceSeesEveryCommittedChange) {
  ASSERT_TRUE(Ids({.term = "lamp"}).empty());  // the reader has loaded its doc values
  Item lamp = MakeItem("i1", "Desk lamp", 1000, 1);
  ASSERT_TRUE(writer_->UpsertMany({lamp, MakeItem("i2", "Floor lamp", 2000, 2)}).ok());
  EXPECT_EQ(Ids({.term = "lamp"}).size(), 2u);

  // A newer version moves the price out of range and is seen at once.
  lamp.version = 2;
  lamp.price = 5000;
  ASSERT_TRUE(writer_->Upsert(lamp).ok());
  EXPECT_EQ(Ids({.term = "lamp", .max_price = 3000}), std::vector<std::string>{"i2"});
  // An older version arriving late changes nothing.
  lamp.version = 1;
  lamp.price = 10;
  ASSERT_TRUE(writer_->Upsert(lamp).ok());
  EXPECT_EQ(Ids({.term = "lamp", .max_price = 3000}), std::vector<std::string>{"i2"});

  // Deactivated items leave search, and the facets.
  lamp.version = 3;
  lamp.status = "inactive";
  ASSERT_TRUE(writer_->Upsert(lamp).ok());
  auto r = reader_->Search({.term = "lamp"});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.value().items.size(), 1u);
  EXPECT_EQ(r.value().items[0].item_id, "i2");
  ASSERT_EQ(r.value().facets.at("brand").size(), 1u);
  EXPECT_EQ(r.value().facets.at("brand")[0].second, 1);
}

TEST_P(SearchIndexTest, OneLetterTermsMatchOnlyWholeWords) {
  ASSERT_TRUE(writer_
                  ->UpsertMany({MakeItem("i1", "Vitamin C tablets", 500, 1),
                                MakeItem("i2", "Ceramic cup", 700, 2)})
                  .ok());
  EXPECT_EQ(Ids({.term = "c"}), std::vector<std::string>{"i1"});
  EXPECT_EQ(Ids({.term = "ce"}), std::vector<std::string>{"i2"});
  EXPECT_EQ(Ids({.term = "vitamin c"}), std::vector<std::string>{"i1"});
}

TEST_P(SearchIndexTest, BrowsingPagesNewestFirstWithoutRepeats) {
  std::vector<Item> items;
  for (int i = 0; i < 30; ++i) {
    items.push_back(MakeItem("i" + std::to_string(100 + i), "thing", 100, 1000 + i / 3));
  }
  ASSERT_TRUE(writer_->UpsertMany(items).ok());
  std::vector<std::string> seen;
  std::string cursor;
  do {
    auto r = reader_->Search({.size = 7, .cursor = cursor});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const auto& hit : r.value().items) seen.push_back(hit.item_id);
    cursor = r.value().next_cursor;
  } while (!cursor.empty() && seen.size() < 100);
  ASSERT_EQ(seen.size(), 30u);
  // Newest first; equal times by id: i127 i128 i129 i124 ...
  EXPECT_EQ(seen[0], "i127");
  EXPECT_EQ(seen[2], "i129");
  EXPECT_EQ(seen[3], "i124");
  EXPECT_EQ(seen[29], "i102");
}

INSTANTIATE_TEST_SUITE_P(Backends, SearchIndexTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace keel::commerce
