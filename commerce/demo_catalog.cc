// The demo catalog (shop.h: SeedDemoCatalog): departments whose products, brands and
// attributes belong together, prices in each product's own range, and reviews whose
// text agrees with their stars, so that trying search gives sensible results.

#include <algorithm>
#include <random>

#include "commerce/shop.h"
#include "common/ids.h"
#include "common/json.h"

namespace keel::commerce {
namespace {

struct Attribute {
  const char* name;
  std::vector<const char*> values;
};

struct Product {
  const char* type;  // "Wireless Headphones"
  int64_t min_price, max_price;
};

struct Department {
  const char* category;
  std::vector<const char*> brands;
  std::vector<Product> products;
  std::vector<Attribute> attributes;
  std::vector<const char*> pitches;  // the description's second sentence
};

const std::vector<Department>& Departments() {
  static const std::vector<Department> d = {
      {"audio",
       {"Sony", "Bose", "Sennheiser", "JBL", "Audio-Technica", "Jabra"},
       {{"Wireless Headphones", 4999, 39999},
        {"Noise-Cancelling Headphones", 9999, 44999},
        {"Earbuds", 2999, 24999},
        {"Bluetooth Speaker", 2999, 29999},
        {"Soundbar", 14999, 89999},
        {"Turntable", 9999, 59999}},
       {{"color", {"black", "white", "silver", "blue"}},
        {"connectivity", {"bluetooth", "wired", "wifi"}}},
       {"Rich bass and clear highs for long listening sessions.",
        "Up to 30 hours of battery life and fast charging.",
        "Pairs in seconds and remembers your devices."}},
      {"computers",
       {"Lenovo", "Dell", "Logitech", "HP", "ASUS", "Keychron"},
       {{"Laptop", 49999, 249999},
        {"Mechanical Keyboard", 5999, 22999},
        {"Wireless Mouse", 1999, 12999},
        {"27-inch Monitor", 17999, 79999},
        {"USB-C Hub", 2499, 9999},
        {"Webcam", 3999, 19999}},
       {{"color", {"black", "silver", "white", "grey"}}, {"warranty", {"1 year", "2 years"}}},
       {"Built for a full working day without slowing down.",
        "Works with Windows, macOS and Linux out of the box.",
        "A quiet, solid build that fits any desk."}},
      {"kitchen",
       {"KitchenAid", "Breville", "Le Creuset", "OXO", "Cuisinart", "Lodge"},
       {{"Electric Kettle", 2999, 14999},
        {"Blender", 4999, 49999},
        {"Chef's Knife", 2999, 19999},
        {"Cast Iron Skillet", 1999, 29999},
        {"Coffee Grinder", 2499, 24999},
        {"Espresso Machine", 19999, 149999},
        {"Toaster", 2999, 19999}},
       {{"color", {"red", "black", "stainless", "cream"}},
        {"material", {"stainless steel", "cast iron", "ceramic"}}},
       {"Heats evenly and cleans up in a minute.", "Made to last for years of daily cooking.",
        "Dishwasher-safe parts and a compact footprint."}},
      {"books",
       {"Penguin", "HarperCollins", "Vintage", "O'Reilly", "Lonely Planet"},
       {{"Novel", 799, 2999},
        {"Cookbook", 1499, 4999},
        {"Field Guide", 1299, 3999},
        {"Biography", 1299, 3999},
        {"Travel Guide", 1499, 3499},
        {"Poetry Collection", 999, 2499}},
       {{"format", {"hardcover", "paperback", "ebook"}}, {"language", {"english", "spanish"}}},
       {"A favourite of readers and critics alike.", "Beautifully printed, with a new foreword.",
        "The edition most book clubs choose."}},
      {"sports",
       {"Nike", "Adidas", "Manduka", "Wilson", "Giro", "Hydro Flask"},
       {{"Running Shoes", 5999, 19999},
        {"Yoga Mat", 1999, 12999},
        {"Dumbbell Set", 2999, 29999},
        {"Bike Helmet", 3999, 24999},
        {"Tennis Racket", 4999, 29999},
        {"Water Bottle", 1499, 4999}},
       {{"color", {"black", "blue", "red", "green", "pink"}}, {"size", {"S", "M", "L", "XL"}}},
       {"Light, grippy and ready for every session.", "Tested by athletes through a full season.",
        "Sweat-proof and easy to clean."}},
      {"outdoors",
       {"Coleman", "Osprey", "Black Diamond", "MSR", "Patagonia", "REI Co-op"},
       {{"Camping Tent", 9999, 69999},
        {"Sleeping Bag", 4999, 39999},
        {"Hiking Backpack", 6999, 34999},
        {"Headlamp", 1999, 9999},
        {"Trekking Poles", 3999, 17999},
        {"Camp Stove", 3999, 19999}},
       {{"color", {"green", "orange", "grey", "blue"}}, {"season", {"3-season", "4-season"}}},
       {"Packs small and stands up to wind and rain.", "Trail-tested from the desert to the Alps.",
        "Sets up in minutes, even in the dark."}},
      {"beauty",
       {"CeraVe", "The Ordinary", "La Roche-Posay", "Neutrogena", "Burt's Bees"},
       {{"Vitamin C Serum", 999, 4999},
        {"Moisturizer", 1299, 5999},
        {"Sunscreen SPF 50", 999, 3999},
        {"Shampoo", 799, 2999},
        {"Lip Balm", 299, 1299},
        {"Face Cleanser", 899, 3499}},
       {{"size", {"30 ml", "50 ml", "100 ml", "200 ml"}},
        {"skin type", {"dry", "oily", "sensitive", "all"}}},
       {"Fragrance-free and gentle on sensitive skin.", "Dermatologist tested.",
        "Absorbs quickly without a greasy feel."}},
      {"toys",
       {"LEGO", "Ravensburger", "Melissa & Doug", "Hasbro", "Hape"},
       {{"Building Blocks Set", 1999, 19999},
        {"1000-Piece Puzzle", 1499, 3999},
        {"Plush Bear", 999, 4999},
        {"Remote Control Car", 2999, 14999},
        {"Board Game", 1999, 5999},
        {"Wooden Train Set", 2999, 12999}},
       {{"age", {"3+", "6+", "8+", "12+"}}, {"color", {"red", "blue", "yellow", "multicolor"}}},
       {"Hours of play for the whole family.", "Safe, sturdy pieces that survive every game.",
        "A gift that keeps coming out of the cupboard."}},
      {"home",
       {"IKEA", "West Elm", "Yankee Candle", "Brooklinen", "Umbra"},
       {{"Desk Lamp", 1999, 14999},
        {"Throw Blanket", 2999, 14999},
        {"Scented Candle", 999, 4999},
        {"Wall Clock", 1999, 9999},
        {"Ceramic Vase", 1499, 9999},
        {"Bath Towel Set", 2999, 12999}},
       {{"color", {"white", "grey", "green", "navy", "terracotta"}},
        {"material", {"cotton", "ceramic", "wool", "metal"}}},
       {"Brings warmth to any room.", "Designed in Scandinavia, made to be used every day.",
        "Soft, calm colours that go with everything."}},
      {"fashion",
       {"Levi's", "Uniqlo", "Converse", "Ray-Ban", "Fossil", "Columbia"},
       {{"Denim Jacket", 4999, 14999},
        {"Wool Sweater", 3999, 17999},
        {"Leather Wallet", 2499, 9999},
        {"Canvas Sneakers", 3999, 8999},
        {"Rain Jacket", 5999, 24999},
        {"Sunglasses", 4999, 24999}},
       {{"color", {"black", "navy", "brown", "white", "olive"}}, {"size", {"S", "M", "L", "XL"}}},
       {"A classic cut that never goes out of style.", "Soft from the first wear.",
        "Made from responsibly sourced materials."}},
  };
  return d;
}

const std::vector<const char*> kModels = {"Pro",  "Air",   "Max",    "Mini", "Lite",
                                          "Plus", "Sport", "Studio", "Go",   "Classic"};

// A review's title and body by its stars, 1..5.
struct ReviewText {
  const char* title;
  const char* body;  // "%s" is the product type
};
const ReviewText kReviewTexts[5][2] = {
    {{"Broke within a week", "The %s stopped working after a few days. Returned it."},
     {"Not as described", "This %s looks nothing like the photos."}},
    {{"Disappointed", "The %s works, but feels cheap for the price."},
     {"Expected more", "My old %s was better. Shipping was fast, though."}},
    {{"Does the job", "An average %s: nothing wrong, nothing special."},
     {"Okay for the price", "The %s is fine for occasional use."}},
    {{"Very good", "A very good %s, with one small gripe about the finish."},
     {"Happy with it", "The %s does what it says. Would buy again."}},
    {{"Exactly what I hoped for", "The best %s I have owned. Highly recommended."},
     {"Love it", "Great quality %s, arrived quickly, works perfectly."}},
};

std::string Format(const char* pattern, const std::string& type) {
  std::string s = pattern;
  if (auto at = s.find("%s"); at != std::string::npos) s.replace(at, 2, type);
  return s;
}

}  // namespace

Result<int64_t> SeedDemoCatalog(Shop& shop, int count, uint64_t seed) {
  KEEL_ASSIGN_OR_RETURN(int64_t existing, shop.catalog().Count());
  if (existing > 0) return 0;
  auto seller = shop.users().Register("demo-seller@keel.test", NewRandomUuid(), Role::kSeller);
  const std::string seller_id = seller.ok() ? seller->id : "demo-seller";
  std::mt19937_64 rng(seed);
  auto pick = [&](const auto& list) { return list[rng() % list.size()]; };
  int64_t made = 0;
  const int kBatch = 2000;
  for (int start = 0; start < count; start += kBatch) {
    std::vector<Item> items;
    std::vector<Review> reviews;
    std::vector<Inventory::RestockLine> stock;
    for (int i = start; i < std::min(count, start + kBatch); ++i) {
      const Department& dep = Departments()[rng() % Departments().size()];
      const Product& product = pick(dep.products);
      Item it;
      it.id = "item-" + std::to_string(i + 1);
      it.seller_id = seller_id;
      it.brand = pick(dep.brands);
      it.category = dep.category;
      json::object attrs;
      for (const auto& a : dep.attributes) attrs[a.name] = pick(a.values);
      const std::string first_attr(attrs.begin()->value().as_string());
      it.name = it.brand + " " + product.type + " " + pick(kModels) + " " +
                std::to_string(i % 9 + 1) + "00";
      it.description =
          "The " + it.brand + " " + product.type + ", " + first_attr + ". " + pick(dep.pitches);
      it.price = product.min_price +
                 static_cast<int64_t>(
                     rng() % static_cast<uint64_t>(product.max_price - product.min_price + 1));
      it.price = it.price / 100 * 100 + 99;  // 49.99, not 49.37
      it.currency = "USD";
      it.attributes = json::serialize(attrs);
      // Two items in five have reviews; each item has a quality its stars scatter around.
      if (rng() % 5 < 2) {
        const int quality = 2 + static_cast<int>(rng() % 4);  // 2..5
        const int n = 1 + static_cast<int>(rng() % 12);
        for (int k = 0; k < n; ++k) {
          int stars = std::clamp(quality + static_cast<int>(rng() % 3) - 1, 1, 5);
          const ReviewText& t = kReviewTexts[stars - 1][rng() % 2];
          reviews.push_back({it.id, "demo-buyer-" + std::to_string(k + 1), t.title,
                             Format(t.body, product.type), stars});
        }
      }
      stock.push_back({it.id, static_cast<int64_t>(rng() % 200), "initial:" + it.id});
      items.push_back(std::move(it));
    }
    KEEL_RETURN_IF_ERROR(shop.inventory().RestockMany(stock));
    KEEL_RETURN_IF_ERROR(shop.catalog().CreateMany(std::move(items), reviews));
    made += static_cast<int64_t>(stock.size());
  }
  return made;
}

}  // namespace keel::commerce
