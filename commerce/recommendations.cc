#include "commerce/recommendations.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

namespace keel::commerce {

Result<std::vector<Recommendation>> Recommend(Shop& shop, const std::string& buyer_id,
                                              size_t size) {
  using W = RecommendationWeights;
  KEEL_ASSIGN_OR_RETURN(std::vector<std::string> bought, shop.orders().ItemsBoughtBy(buyer_id));
  const std::set<std::string> owned(bought.begin(), bought.end());

  // Co-purchases of what they bought, and their categories.
  std::unordered_map<std::string, double> co;
  for (const auto& id : bought) {
    KEEL_ASSIGN_OR_RETURN(auto pairs, shop.orders().BoughtTogether(id, 20));
    for (const auto& [other, count] : pairs) co[other] += static_cast<double>(count);
  }
  std::map<std::string, double> share;
  const std::vector<SearchHit> mine = shop.search().Lookup(bought);
  for (const auto& h : mine) share[h.category] += 1.0 / static_cast<double>(mine.size());
  std::vector<std::pair<double, std::string>> favourite;
  for (const auto& [cat, s] : share) favourite.emplace_back(-s, cat);
  std::sort(favourite.begin(), favourite.end());
  if (favourite.size() > 3) favourite.resize(3);

  // Candidates from the three layers.
  std::vector<std::string> ids;
  for (const auto& [id, n] : co) ids.push_back(id);
  std::vector<SearchHit> candidates = shop.search().Lookup(ids);
  for (const auto& [s, cat] : favourite) {
    for (auto& h : shop.search().Trending(cat, 20)) candidates.push_back(std::move(h));
  }
  for (auto& h : shop.search().Trending("", 50)) candidates.push_back(std::move(h));

  double max_co = 0, max_trending = 0;
  for (const auto& h : candidates) {
    max_co = std::max(max_co, co.count(h.item_id) ? co.at(h.item_id) : 0.0);
    max_trending = std::max(max_trending, h.trending);
  }
  std::vector<Recommendation> out;
  std::set<std::string> seen;
  for (const auto& h : candidates) {
    if (owned.count(h.item_id) || !seen.insert(h.item_id).second) continue;
    const double together = max_co > 0 && co.count(h.item_id) ? co.at(h.item_id) / max_co : 0;
    const double category = share.count(h.category) ? share.at(h.category) : 0;
    const double trending = max_trending > 0 ? h.trending / max_trending : 0;
    const double parts[] = {W::kRelevance * W::kCoPurchase * together,
                            W::kRelevance * W::kCategory * category, W::kBusiness * trending};
    const char* reasons[] = {"bought_together", "category", "trending"};
    const size_t top = std::max_element(std::begin(parts), std::end(parts)) - std::begin(parts);
    out.push_back({h, parts[0] + parts[1] + parts[2], reasons[top]});
  }
  std::sort(out.begin(), out.end(), [](const Recommendation& a, const Recommendation& b) {
    return a.score != b.score ? a.score > b.score : a.item.item_id < b.item.item_id;
  });
  if (out.size() > size) out.resize(size);
  return out;
}

}  // namespace keel::commerce
