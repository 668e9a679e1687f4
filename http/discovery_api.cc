// Discovery routes of the storefront (storefront_api.h): search, completions, reviews,
// the operators' synonyms, and the sellers' own items and orders.

#include <cmath>

#include "commerce/recommendations.h"
#include "commerce/validation.h"
#include "http/api_util.h"
#include "http/storefront_api.h"

namespace keel::http {
namespace {

using commerce::Principal;
using commerce::Role;

json::object HitJson(const commerce::SearchHit& h) {
  return json::object{{"id", h.item_id},
                      {"seller_id", h.seller_id},
                      {"name", h.name},
                      {"price", h.price},
                      {"currency", h.currency},
                      {"category", h.category},
                      {"brand", h.brand},
                      {"rating", RatingJson(h.rating_x100, h.review_count)},
                      {"review_count", h.review_count}};
}

json::object FacetsJson(const commerce::SearchResult& r) {
  json::object facets;
  for (const auto& [name, values] : r.facets) {
    json::array list;
    for (const auto& [value, count] : values) {
      list.push_back(json::object{{"value", value}, {"count", count}});
    }
    facets[name] = list;
  }
  json::array prices, ratings;
  for (const auto& b : r.prices) {
    const std::string value =
        std::to_string(b.from) + "-" + (b.to < 0 ? std::string() : std::to_string(b.to));
    prices.push_back(json::object{{"value", value},
                                  {"from", b.from},
                                  {"to", b.to < 0 ? json::value(nullptr) : json::value(b.to)},
                                  {"count", b.count}});
  }
  for (const auto& [stars, count] : r.ratings) {
    ratings.push_back(
        json::object{{"value", std::to_string(stars)}, {"min_rating", stars}, {"count", count}});
  }
  facets["price"] = prices;
  facets["rating"] = ratings;
  return facets;
}

Result<commerce::SearchQuery> ParseSearch(const ApiRequest& req) {
  commerce::SearchQuery q;
  q.term = req.Query("term");
  q.category = req.Query("category");
  q.brand = req.Query("brand");
  q.cursor = req.Query("cursor");
  q.sort = req.Query("sort");
  KEEL_ASSIGN_OR_RETURN(int64_t size, QueryInt(req, "size", 20));
  KEEL_RETURN_IF_ERROR(commerce::CheckRange("size", size, 1, 100));
  q.size = static_cast<int>(size);
  for (const char* name : {"min_price", "max_price", "min_rating"}) {
    if (req.Query(name).empty()) continue;
    KEEL_ASSIGN_OR_RETURN(int64_t v, QueryInt(req, name, 0));
    (std::string(name) == "min_price"   ? q.min_price
     : std::string(name) == "max_price" ? q.max_price
                                        : q.min_rating) = v;
  }
  for (const auto& [k, v] : req.query) {
    if (k.rfind("attr.", 0) == 0) q.attributes.emplace_back(k.substr(5), v);
  }
  return q;
}

json::object ReviewJson(const commerce::Review& r) {
  return json::object{{"item_id", r.item_id},
                      {"reviewer_id", r.buyer_id},
                      {"rating", r.rating},
                      {"title", r.title},
                      {"body", r.body},
                      {"verified_purchase", true},
                      {"created_at", r.created_at},
                      {"updated_at", r.updated_at}};
}

// A seller's page cursor: the last item id, opaque.
Result<std::string> SellerCursor(const std::string& cursor) {
  if (cursor.empty()) return std::string();
  auto raw = commerce::Base64UrlDecode(cursor);
  if (!raw.ok() || cursor.size() > 300) {
    return Status::InvalidArgument("cursor is not one this list returned", "invalid_cursor");
  }
  return *raw;
}

}  // namespace

void StorefrontApi::AddDiscoveryRoutes(Router& router) {
  using V = bhttp::verb;

  router.Add(V::get, "/items", [this](const ApiRequest& req) {
    HTTP_ASSIGN(commerce::SearchQuery q, ParseSearch(req));
    HTTP_ASSIGN(commerce::SearchResult r, shop_->search().Search(q));
    json::array items;
    for (const auto& h : r.items) items.push_back(HitJson(h));
    json::object corrected;
    for (const auto& [typed, used] : r.corrected) corrected[typed] = used;
    json::value next = r.next_cursor.empty() ? json::value(nullptr) : json::value(r.next_cursor);
    return JsonResponse(200, json::object{{"items", items},
                                          {"next_cursor", next},
                                          {"facets", FacetsJson(r)},
                                          {"corrected", corrected}});
  });

  router.Add(V::get, "/items/suggest", [this](const ApiRequest& req) {
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 8));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 20));
    const std::string prefix = req.Query("prefix");
    HTTP_ASSIGN(auto found, shop_->search().Suggest(prefix, static_cast<int>(size)));
    json::array out;
    for (const auto& s : found) {
      json::object o{{"text", s.text}, {"kind", s.kind}};
      if (!s.item_id.empty()) o["item_id"] = s.item_id;
      out.push_back(std::move(o));
    }
    return JsonResponse(200, json::object{{"prefix", prefix}, {"suggestions", out}});
  });

  // ---- recommendations: recently viewed, trending, personal ------------------------
  router.Add(V::get, "/items/trending", [this](const ApiRequest& req) {
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 100));
    const std::string category = req.Query("category");
    HTTP_CHECK(commerce::CheckText("category", category, 0, 100));
    json::array out;
    for (const auto& h : shop_->search().Trending(category, static_cast<size_t>(size))) {
      json::object j = HitJson(h);
      j["trending"] = h.trending;
      out.push_back(std::move(j));
    }
    return JsonResponse(200, json::object{{"category", category}, {"items", out}});
  });
  router.Add(V::get, "/me/recently-viewed", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, commerce::Signals::kRecentPerBuyer));
    HTTP_ASSIGN(std::vector<std::string> ids,
                shop_->signals().RecentlyViewed(p.user_id, static_cast<int>(size)));
    json::array out;
    for (const auto& h : shop_->search().Lookup(ids)) out.push_back(HitJson(h));
    return JsonResponse(200, json::object{{"items", out}});
  });
  router.Add(V::get, "/recommendations", [this](const ApiRequest& req) {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 10));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 50));
    HTTP_ASSIGN(auto recs, commerce::Recommend(*shop_, p.user_id, static_cast<size_t>(size)));
    json::array out;
    for (const auto& r : recs) {
      json::object j = HitJson(r.item);
      j["score"] = r.score;
      j["reason"] = r.reason;
      out.push_back(std::move(j));
    }
    return JsonResponse(200, json::object{{"items", out}});
  });

  // ---- reviews -------------------------------------------------------------------
  router.Add(V::get, "/items/{id}/reviews", [this](const ApiRequest& req) {
    const std::string id = req.path.at("id");
    HTTP_ASSIGN(commerce::Item item, shop_->catalog().Get(id));
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 100));
    HTTP_ASSIGN(commerce::ReviewPage page,
                shop_->catalog().ListReviews(id, req.Query("sort"), req.Query("cursor"),
                                             static_cast<int>(size)));
    json::array list;
    for (const auto& r : page.reviews) list.push_back(ReviewJson(r));
    json::value next =
        page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
    return JsonResponse(200,
                        json::object{{"item_id", id},
                                     {"rating", RatingJson(item.rating_x100(), item.review_count)},
                                     {"review_count", item.review_count},
                                     {"reviews", list},
                                     {"next_cursor", next}});
  });

  auto write_review = [this](const ApiRequest& req, bool edit) -> Response {
    HTTP_ASSIGN(Principal p, Authenticate(req));
    if (p.role != Role::kBuyer)
      return StatusResponse(Status::FailedPrecondition("only buyers review items", "forbidden"));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    commerce::Review r;
    r.item_id = req.path.at("id");
    r.buyer_id = p.user_id;
    HTTP_ASSIGN(std::optional<int64_t> rating, IntField(body, "rating", true));
    r.rating = *rating;
    HTTP_ASSIGN(r.title, StringField(body, "title", true));
    HTTP_ASSIGN(r.body, StringField(body, "body", false));
    HTTP_CHECK(commerce::Catalog::ValidateReview(r));
    HTTP_CHECK(shop_->catalog().Get(r.item_id).status());
    HTTP_ASSIGN(bool verified, shop_->orders().HasDelivered(p.user_id, r.item_id));
    if (!verified) {
      return ErrorResponse(403, "not_verified_purchase",
                           "only a buyer with a delivered order of this item may review it");
    }
    return WithIdempotency(
        req, p.user_id + (edit ? " PUT " : " POST ") + r.item_id + " review", [&] {
          HTTP_ASSIGN(commerce::Review made, shop_->catalog().WriteReview(r, edit));
          return JsonResponse(edit ? 200 : 201, ReviewJson(made));
        });
  };
  router.Add(V::post, "/items/{id}/reviews",
             [write_review](const ApiRequest& req) -> Reply { return write_review(req, false); });
  router.Add(V::put, "/items/{id}/reviews",
             [write_review](const ApiRequest& req) -> Reply { return write_review(req, true); });

  // ---- synonyms (operators) --------------------------------------------------------
  auto synonyms_json = [](const commerce::SearchIndex::SynonymGroups& groups) {
    json::array out;
    for (const auto& g : groups) {
      json::array words;
      for (const auto& w : g) words.push_back(json::value(w));
      out.push_back(std::move(words));
    }
    return json::object{{"groups", out}};
  };
  router.Add(V::get, "/v1/search/synonyms", [this, synonyms_json](const ApiRequest& req) {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    HTTP_ASSIGN(auto groups, shop_->search().Synonyms());
    return JsonResponse(200, synonyms_json(groups));
  });
  router.Add(V::put, "/v1/search/synonyms", [this, synonyms_json](const ApiRequest& req) {
    HTTP_CHECK(CheckAdminToken(req, opts_.admin_token));
    HTTP_ASSIGN(json::object body, ParseBodyObject(req.raw));
    const json::value* groups = body.if_contains("groups");
    if (!groups || !groups->is_array()) {
      return StatusResponse(commerce::FieldError("groups", "must be an array of word arrays"));
    }
    commerce::SearchIndex::SynonymGroups parsed;
    for (const auto& g : groups->as_array()) {
      if (!g.is_array()) {
        return StatusResponse(commerce::FieldError("groups", "must be an array of word arrays"));
      }
      auto& words = parsed.emplace_back();
      for (const auto& w : g.as_array()) {
        if (!w.is_string())
          return StatusResponse(commerce::FieldError("groups", "words are strings"));
        words.emplace_back(w.as_string());
      }
    }
    HTTP_CHECK(shop_->search().SetSynonyms(parsed));
    return JsonResponse(200, synonyms_json(parsed));
  });

  // ---- sellers -------------------------------------------------------------------
  auto seller_of = [this](const ApiRequest& req) -> Result<std::string> {
    KEEL_ASSIGN_OR_RETURN(Principal p, Authenticate(req));
    if (p.role == Role::kSeller) return p.user_id;
    if (p.role == Role::kAdmin && !req.Query("seller_id").empty()) return req.Query("seller_id");
    return Status::FailedPrecondition(
        p.role == Role::kAdmin ? "an admin names the seller: ?seller_id=" : "only sellers",
        "forbidden");
  };
  router.Add(V::get, "/seller/items", [this, seller_of](const ApiRequest& req) {
    HTTP_ASSIGN(std::string seller, seller_of(req));
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 100));
    HTTP_ASSIGN(std::string after, SellerCursor(req.Query("cursor")));
    HTTP_ASSIGN(std::vector<commerce::Item> items,
                shop_->catalog().ListBySeller(seller, after, static_cast<int>(size) + 1));
    json::array out;
    for (size_t i = 0; i < items.size() && static_cast<int64_t>(i) < size; ++i) {
      HTTP_ASSIGN(commerce::StockLevel level, shop_->inventory().Level(items[i].id));
      json::object j = ItemJson(items[i], level.available);
      j["stock"] = json::object{{"on_hand", level.on_hand},
                                {"committed", level.committed},
                                {"held", level.held},
                                {"available", level.available}};
      out.push_back(std::move(j));
    }
    json::value next = static_cast<int64_t>(items.size()) > size
                           ? json::value(commerce::Base64UrlEncode(items[size - 1].id))
                           : json::value(nullptr);
    return JsonResponse(200, json::object{{"items", out}, {"next_cursor", next}});
  });
  router.Add(V::get, "/seller/orders", [this, seller_of](const ApiRequest& req) {
    HTTP_ASSIGN(std::string seller, seller_of(req));
    HTTP_ASSIGN(int64_t size, QueryInt(req, "size", 20));
    HTTP_CHECK(commerce::CheckRange("size", size, 1, 100));
    HTTP_ASSIGN(commerce::OrderPage page,
                shop_->orders().ListForSeller(seller, req.Query("cursor"), static_cast<int>(size)));
    json::array out;
    for (const auto& o : page.orders) {
      json::array lines;
      int64_t subtotal = 0;
      for (const auto& l : o.lines) {
        lines.push_back(json::object{
            {"item_id", l.item_id}, {"quantity", l.quantity}, {"unit_price", l.unit_price}});
        subtotal += l.quantity * l.unit_price;
      }
      out.push_back(json::object{{"order_id", o.order_id},
                                 {"status", o.status},
                                 {"currency", o.currency},
                                 {"created_at", o.created_at},
                                 {"updated_at", o.updated_at},
                                 {"lines", lines},
                                 {"seller_subtotal", subtotal}});
    }
    json::value next =
        page.next_cursor.empty() ? json::value(nullptr) : json::value(page.next_cursor);
    return JsonResponse(200, json::object{{"orders", out}, {"next_cursor", next}});
  });
}

}  // namespace keel::http
