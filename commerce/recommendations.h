#pragma once
// GET /recommendations: what to show a signed-in buyer, from three layers.
//   relevance (weight kRelevance) = kCoPurchase * co-purchases of what they bought
//                                   (bought-together counts, over the most of any
//                                   candidate) + kCategory * their share of purchases
//                                   in the candidate's category
//   business  (weight kBusiness)  = trending / the most trending candidate
// Candidates: items bought with theirs, the most trending of their three favourite
// categories, and the most trending overall. What they bought already is left out.
// A buyer with no purchases gets what is trending.

#include <string>
#include <vector>

#include "commerce/shop.h"

namespace keel::commerce {

struct Recommendation {
  SearchHit item;
  double score = 0;
  std::string reason;  // "bought_together", "category" or "trending": the largest part
};

struct RecommendationWeights {
  static constexpr double kRelevance = 0.7, kBusiness = 0.3;  // the seeds' split
  static constexpr double kCoPurchase = 0.5, kCategory = 0.5;
};

Result<std::vector<Recommendation>> Recommend(Shop& shop, const std::string& buyer_id, size_t size);

}  // namespace keel::commerce
