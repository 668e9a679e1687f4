// Reviews: the catalog's methods that write and read them (catalog.h).

#include "commerce/auth.h"
#include "commerce/catalog.h"
#include "commerce/validation.h"

namespace keel::commerce {
namespace {

using persistence::SqlParams;
using persistence::SqlRows;
using persistence::SqlTxn;

// A page ends at (rating, created_at, buyer_id) of its last review; "newest" pages
// ignore the rating.
struct ReviewCursor {
  int64_t rating = 0, created_at = 0;
  std::string buyer_id;
};

std::string EncodeCursor(const std::string& sort, const Review& last) {
  return Base64UrlEncode("r1|" + sort + "|" + std::to_string(last.rating) + "|" +
                         std::to_string(last.created_at) + "|" + last.buyer_id);
}

Result<ReviewCursor> DecodeCursor(const std::string& sort, const std::string& text) {
  const Status bad = Status::InvalidArgument(
      "cursor is not one this listing returned (the sort changed?)", "invalid_cursor");
  if (text.size() > 400) return bad;
  auto raw = Base64UrlDecode(text);
  if (!raw.ok()) return bad;
  std::vector<std::string> parts;
  size_t from = 0;
  for (int i = 0; i < 4; ++i) {
    size_t bar = raw->find('|', from);
    if (bar == std::string::npos) return bad;
    parts.push_back(raw->substr(from, bar - from));
    from = bar + 1;
  }
  if (parts[0] != "r1" || parts[1] != sort) return bad;
  ReviewCursor c;
  char* end = nullptr;
  c.rating = std::strtoll(parts[2].c_str(), &end, 10);
  c.created_at = std::strtoll(parts[3].c_str(), &end, 10);
  c.buyer_id = raw->substr(from);
  return c;
}

}  // namespace

Status Catalog::ValidateReview(const Review& r) {
  KEEL_RETURN_IF_ERROR(CheckRange("rating", r.rating, 1, 5));
  KEEL_RETURN_IF_ERROR(CheckText("title", r.title, 1, 200));
  return CheckText("body", r.body, 0, 5000);
}

Result<Review> Catalog::WriteReview(Review review, bool edit) {
  KEEL_RETURN_IF_ERROR(ValidateReview(review));
  KEEL_RETURN_IF_ERROR(db_->Transact([&](SqlTxn& t) -> Status {
    const Millis now = clock_->Now();
    KEEL_ASSIGN_OR_RETURN(SqlRows old, t.Query("SELECT rating, created_at FROM reviews WHERE "
                                               "item_id=$1 AND buyer_id=$2",
                                               {review.item_id, review.buyer_id}));
    if (edit && old.empty()) {
      return Status::NotFound("you have not reviewed this item: POST your review first",
                              "not_found");
    }
    if (!edit && !old.empty()) {
      return Status::AlreadyExists("you have reviewed this item: PUT edits your review",
                                   "review_exists");
    }
    review.updated_at = now;
    review.created_at = edit ? old[0].Int(1) : now;
    const int64_t delta = review.rating - (edit ? old[0].Int(0) : 0);
    // The item's rating moves with its reviews, and the outbox tells search.
    KEEL_ASSIGN_OR_RETURN(SqlRows v, t.Query("UPDATE items SET rating_sum = rating_sum + $1, "
                                             "review_count = review_count + $2, version = "
                                             "version + 1, updated_at = $3 WHERE id = $4 "
                                             "RETURNING version",
                                             {delta, int64_t{edit ? 0 : 1}, now, review.item_id}));
    if (v.empty()) return Status::NotFound("no item " + review.item_id, "not_found");
    KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO reviews(item_id, buyer_id, rating, title, body, "
                                "created_at, updated_at) VALUES($1,$2,$3,$4,$5,$6,$7) ON "
                                "CONFLICT(item_id, buyer_id) DO UPDATE SET rating=excluded.rating, "
                                "title=excluded.title, body=excluded.body, "
                                "updated_at=excluded.updated_at",
                                {review.item_id, review.buyer_id, review.rating, review.title,
                                 review.body, review.created_at, review.updated_at})
                             .status());
    return Outbox::Append(t, review.item_id, v[0].Int(0), "item_rated", now);
  }));
  NotifyEvents();
  return review;
}

Result<ReviewPage> Catalog::ListReviews(const std::string& item_id, const std::string& sort_in,
                                        const std::string& cursor, int size) {
  const std::string sort = sort_in.empty() ? "newest" : sort_in;
  if (sort != "newest" && sort != "rating") return FieldError("sort", "must be newest or rating");
  KEEL_RETURN_IF_ERROR(CheckRange("size", size, 1, 100));
  std::string where = "item_id=$1";
  SqlParams p = {item_id};
  if (!cursor.empty()) {
    KEEL_ASSIGN_OR_RETURN(ReviewCursor c, DecodeCursor(sort, cursor));
    const std::string tail = "(created_at < $2 OR (created_at = $2 AND buyer_id < $3))";
    where +=
        sort == "newest" ? " AND " + tail : " AND (rating < $4 OR (rating = $4 AND " + tail + "))";
    p.insert(p.end(), {c.created_at, c.buyer_id});
    if (sort == "rating") p.push_back(c.rating);
  }
  const std::string order = sort == "newest" ? "created_at DESC, buyer_id DESC"
                                             : "rating DESC, created_at DESC, buyer_id DESC";
  p.push_back(static_cast<int64_t>(size + 1));
  KEEL_ASSIGN_OR_RETURN(
      SqlRows r,
      db_->Query("SELECT item_id, buyer_id, title, body, rating, created_at, updated_at "
                 "FROM reviews WHERE " +
                     where + " ORDER BY " + order + " LIMIT $" + std::to_string(p.size()),
                 p));
  ReviewPage page;
  for (const auto& row : r) {
    page.reviews.push_back(
        {row.Text(0), row.Text(1), row.Text(2), row.Text(3), row.Int(4), row.Int(5), row.Int(6)});
  }
  if (static_cast<int>(page.reviews.size()) > size) {
    page.reviews.pop_back();
    page.next_cursor = EncodeCursor(sort, page.reviews.back());
  }
  return page;
}

}  // namespace keel::commerce
