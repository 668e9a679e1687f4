#include "audit/audit.h"

#include <map>
#include <set>

#include "commerce/order_state.h"
#include "common/json.h"
#include "http/client.h"

namespace keel::audit {
namespace {

struct Intent {
  std::string id, order_id, status;
  int64_t amount_received = 0, amount_refunded = 0;
};

// Every PaymentIntent in the gateway's ledger, newest first, page by page.
Result<std::vector<Intent>> ReadLedger(const std::string& payments_url) {
  KEEL_ASSIGN_OR_RETURN(http::Url url, http::ParseHttpUrl(payments_url));
  std::vector<Intent> out;
  std::string after;
  for (int page = 0; page < 100'000; ++page) {
    std::string target =
        "/v1/payment_intents?limit=100" + (after.empty() ? "" : "&starting_after=" + after);
    KEEL_ASSIGN_OR_RETURN(http::ClientResponse r, http::HttpCall(url, "GET", target));
    if (r.status != 200) {
      return Status::Unavailable(
          "the gateway answered " + std::to_string(r.status) + " to " + target, "gateway_error");
    }
    KEEL_ASSIGN_OR_RETURN(json::value body, ParseJson(r.body));
    for (const auto& v : body.at("data").as_array()) {
      const auto& o = v.as_object();
      Intent i;
      i.id = std::string(o.at("id").as_string());
      i.status = std::string(o.at("status").as_string());
      i.amount_received = o.at("amount_received").as_int64();
      i.amount_refunded = o.at("amount_refunded").as_int64();
      if (const auto* m = o.at("metadata").as_object().if_contains("order_id");
          m && m->is_string()) {
        i.order_id = std::string(m->as_string());
      }
      out.push_back(std::move(i));
      after = out.back().id;
    }
    if (!body.at("has_more").as_bool()) break;
  }
  return out;
}

bool Shipped(const std::string& s) {
  return s == "confirmed" || s == "fulfilling" || s == "shipped" || s == "delivered";
}

}  // namespace

std::string ToString(const Violation& v) {
  return "invariant " + std::to_string(v.invariant) + " [" + v.subject + "]: " + v.message;
}

Result<std::vector<Violation>> Run(commerce::Shop& shop, const AuditOptions& opt) {
  std::vector<Violation> out;
  auto add = [&](int n, const std::string& subject, const std::string& message) {
    out.push_back({n, subject, message});
  };
  const Millis now = shop.clock()->Now();

  // Orders, with lines and histories.
  std::vector<commerce::Order> orders;
  std::string after;
  while (true) {
    KEEL_ASSIGN_OR_RETURN(auto ids, shop.orders().IdsAfter(after, 500));
    if (ids.empty()) break;
    for (const auto& id : ids) {
      KEEL_ASSIGN_OR_RETURN(commerce::Order o, shop.orders().Get(id));
      orders.push_back(std::move(o));
    }
    after = ids.back();
  }
  std::map<std::string, const commerce::Order*> by_id;
  for (const auto& o : orders) by_id[o.order_id] = &o;

  // 1. Stock.
  KEEL_ASSIGN_OR_RETURN(auto stock, shop.inventory().ListStock());
  KEEL_ASSIGN_OR_RETURN(auto active, shop.inventory().ListHolds("active"));
  std::map<std::string, int64_t> live_held;
  for (const auto& h : active) {
    if (h.expires_at > now) live_held[h.sku] += h.quantity;
  }
  std::map<std::string, int64_t> supplied;
  for (const auto& s : stock) {
    supplied[s.sku] = s.supplied;
    if (s.on_hand < 0 || s.committed < 0 || s.held < 0) {
      add(1, s.sku,
          "a negative term: on_hand " + std::to_string(s.on_hand) + ", committed " +
              std::to_string(s.committed) + ", held " + std::to_string(s.held));
    }
    if (s.committed + live_held[s.sku] > s.on_hand) {
      add(1, s.sku,
          "committed " + std::to_string(s.committed) + " + held " +
              std::to_string(live_held[s.sku]) + " > on_hand " + std::to_string(s.on_hand));
    }
    if (s.available != s.on_hand - s.committed - live_held[s.sku]) {
      add(1, s.sku,
          "available " + std::to_string(s.available) +
              " does not count only unexpired active holds");
    }
  }

  // 2. No oversell.
  std::map<std::string, int64_t> sold;
  for (const auto& o : orders) {
    if (!Shipped(o.status)) continue;
    for (const auto& l : o.lines) sold[l.item_id] += l.quantity;
  }
  for (const auto& [sku, units] : sold) {
    if (units > supplied[sku]) {
      add(2, sku,
          std::to_string(units) + " units in live orders, only " + std::to_string(supplied[sku]) +
              " ever supplied");
    }
  }

  // 3 and 4. Money.
  std::vector<Intent> ledger;
  if (!opt.payments_url.empty()) {
    KEEL_ASSIGN_OR_RETURN(ledger, ReadLedger(opt.payments_url));
  }
  std::map<std::string, std::vector<const Intent*>> paid;  // order -> succeeded intents
  for (const auto& i : ledger) {
    if (i.amount_refunded > i.amount_received) {
      add(3, i.id,
          "refunded " + std::to_string(i.amount_refunded) + " of " +
              std::to_string(i.amount_received) + " received");
    }
    if (i.status != "succeeded") continue;
    paid[i.order_id].push_back(&i);
    const bool refunded_in_full = i.amount_refunded == i.amount_received;
    auto it = by_id.find(i.order_id);
    if (it == by_id.end()) {
      if (!refunded_in_full) add(3, i.id, "a succeeded payment for no order (" + i.order_id + ")");
      continue;
    }
    if (!Shipped(it->second->status) && !refunded_in_full) {
      add(3, i.id,
          "order " + i.order_id + " is " + it->second->status +
              " but its payment is not refunded in full");
    }
  }
  for (const auto& [order_id, intents] : paid) {
    if (intents.size() > 1) {
      add(3, order_id, std::to_string(intents.size()) + " succeeded payments");
    }
  }

  std::set<std::string> keys;
  for (const auto& o : orders) {
    bool was_confirmed = false;
    for (const auto& e : o.history) was_confirmed |= e.to == "confirmed";
    // 4. Confirmed only with a payment of exactly its total.
    if (was_confirmed && !opt.payments_url.empty()) {
      bool ok = false;
      for (const Intent* i : paid[o.order_id]) ok |= i->amount_received == o.total;
      if (!ok)
        add(4, o.order_id, "confirmed without a succeeded payment of " + std::to_string(o.total));
    }
    // 5. Liveness.
    if (opt.quiescent && o.status == "pending_payment" &&
        now > o.created_at + opt.payment_window_ms + opt.liveness_bound_ms) {
      add(5, o.order_id, "still pending_payment long after its payment window");
    }
    // 7. One order per Idempotency-Key.
    if (!o.idempotency_key.empty() && !keys.insert(o.idempotency_key).second) {
      add(7, o.order_id, "a second order for Idempotency-Key " + o.idempotency_key);
    }
    // 8. Only along the graph, ending where the order says it is.
    std::string at;
    for (const auto& e : o.history) {
      const bool first = at.empty();
      if (first ? e.to != "pending_payment"
                : (e.from != at || !commerce::IsLegalTransition(e.from, e.to))) {
        add(8, o.order_id, "illegal transition " + e.from + " -> " + e.to);
      }
      at = e.to;
    }
    if (at != o.status) add(8, o.order_id, "status " + o.status + " but history ends at " + at);
    // 9. One "order confirmed" notification per confirmed order, none otherwise.
    KEEL_ASSIGN_OR_RETURN(auto notes, shop.notifications().ForOrder(o.order_id));
    int confirmed_notes = 0;
    for (const auto& n : notes) confirmed_notes += n.type == "order_confirmed";
    if (confirmed_notes != (was_confirmed ? 1 : 0)) {
      add(9, o.order_id,
          std::to_string(confirmed_notes) + " order_confirmed notifications for an order " +
              (was_confirmed ? "that was confirmed" : "never confirmed"));
    }
    // 10. Totals.
    int64_t lines = 0;
    for (const auto& l : o.lines) lines += l.quantity * l.unit_price;
    if (lines != o.subtotal || o.total != o.subtotal + o.shipping + o.tax) {
      add(10, o.order_id,
          "total " + std::to_string(o.total) + " is not lines " + std::to_string(lines) +
              " + shipping + tax");
    }
  }

  // 6. No leaked holds.
  if (opt.quiescent) {
    for (const auto& h : active) {
      if (h.expires_at <= now) continue;
      auto it = by_id.find(h.order_id);
      if (it == by_id.end() || it->second->status != "pending_payment") {
        add(6, h.hold_id,
            "an active hold of " + std::to_string(h.quantity) + " x " + h.sku + " for order " +
                h.order_id + " (" + (it == by_id.end() ? "no such order" : it->second->status) +
                ")");
      }
    }
  }
  return out;
}

}  // namespace keel::audit
