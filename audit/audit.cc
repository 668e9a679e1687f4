#include "audit/audit.h"

#include <algorithm>
#include <map>
#include <set>

#include "commerce/order_state.h"
#include "common/json.h"
#include "engine/payload.h"
#include "sims/payments/payments_sim.h"

namespace keel::audit {
namespace {

using sims::LedgerIntent;

bool ConfirmedOrLater(const std::string& s) {
  return s == "confirmed" || s == "fulfilling" || s == "shipped" || s == "delivered";
}

// What one audit reads, once.
struct Facts {
  Millis now = 0;
  std::vector<commerce::Order> orders;
  std::map<std::string, const commerce::Order*> by_id;
  std::vector<commerce::StockLevel> stock;
  std::vector<commerce::Hold> active;
  std::map<std::string, int64_t> confirmed_notes;  // order -> order_confirmed notifications
  std::vector<LedgerIntent> ledger;
  bool money = false;  // a ledger was read
  // Checkout runs (engine store): workflow id -> the run's row and its input.
  struct Checkout {
    persistence::ExecutionRow run;
    json::value input;  // null when the history is gone
  };
  std::map<std::string, Checkout> checkouts;  // by order id
  bool engine = false;
  std::vector<commerce::Promotion> promotions;
  std::vector<commerce::Redemption> redemptions;
};

using Add = std::function<void(int, const std::string&, const std::string&)>;

// 1. Per SKU: committed + unexpired active holds <= on_hand; no negative term; an
// expired hold never reduces availability.
void CheckStock(const Facts& f, const Add& add) {
  std::map<std::string, int64_t> live_held;
  for (const auto& h : f.active) {
    if (h.expires_at > f.now) live_held[h.sku] += h.quantity;
  }
  for (const auto& s : f.stock) {
    const int64_t held = live_held.count(s.sku) ? live_held.at(s.sku) : 0;
    if (s.on_hand < 0 || s.committed < 0 || s.held < 0) {
      add(1, s.sku,
          "a negative term: on_hand " + std::to_string(s.on_hand) + ", committed " +
              std::to_string(s.committed) + ", held " + std::to_string(s.held));
    }
    if (s.committed + held > s.on_hand) {
      add(1, s.sku,
          "committed " + std::to_string(s.committed) + " + held " + std::to_string(held) +
              " > on_hand " + std::to_string(s.on_hand));
    }
    if (s.available != s.on_hand - s.committed - held) {
      add(1, s.sku,
          "available " + std::to_string(s.available) +
              " does not count only unexpired active holds");
    }
  }
}

// 2. Units in confirmed-or-later orders per SKU <= units ever supplied.
void CheckOversell(const Facts& f, const Add& add) {
  std::map<std::string, int64_t> sold, supplied;
  for (const auto& s : f.stock) supplied[commerce::BaseSku(s.sku)] += s.supplied;  // + shards
  for (const auto& o : f.orders) {
    if (!ConfirmedOrLater(o.status)) continue;
    for (const auto& l : o.lines) sold[l.item_id] += l.quantity;
  }
  for (const auto& [sku, units] : sold) {
    if (units > supplied[sku]) {
      add(2, sku,
          std::to_string(units) + " units in live orders, only " + std::to_string(supplied[sku]) +
              " ever supplied");
    }
  }
}

// 3. Every succeeded payment belongs to a confirmed-or-later order or is refunded in
// full; at most one per order; refunds never exceed what was received.
// 4. No order was confirmed without a succeeded payment of exactly its total.
void CheckMoney(const Facts& f, const Add& add) {
  std::map<std::string, std::vector<const LedgerIntent*>> paid;
  for (const auto& i : f.ledger) {
    if (i.amount_refunded > i.amount_received) {
      add(3, i.id,
          "refunded " + std::to_string(i.amount_refunded) + " of " +
              std::to_string(i.amount_received) + " received");
    }
    if (i.status != "succeeded") continue;
    paid[i.order_id].push_back(&i);
    const bool refunded_in_full = i.amount_refunded == i.amount_received;
    auto it = f.by_id.find(i.order_id);
    if (it == f.by_id.end()) {
      if (!refunded_in_full) {
        add(3, i.id, "a succeeded payment for no order (" + i.order_id + ")");
      }
      continue;
    }
    if (!ConfirmedOrLater(it->second->status) && !refunded_in_full) {
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
  for (const auto& o : f.orders) {
    bool was_confirmed = false;
    for (const auto& e : o.history) was_confirmed |= e.to == "confirmed";
    if (!was_confirmed) continue;
    bool exact = false;
    for (const LedgerIntent* i : paid[o.order_id]) exact |= i->amount_received == o.total;
    if (!exact) {
      add(4, o.order_id, "confirmed without a succeeded payment of " + std::to_string(o.total));
    }
  }
}

// 5. No pending_payment order outlives its window (plus the bound).
void CheckLiveness(const Facts& f, const AuditOptions& opt, const Add& add) {
  for (const auto& o : f.orders) {
    if (o.status == "pending_payment" &&
        f.now > o.created_at + opt.payment_window_ms + opt.liveness_bound_ms) {
      add(5, o.order_id,
          "still pending_payment " + std::to_string((f.now - o.created_at) / 1000) +
              " s after it was made; its window is " +
              std::to_string(opt.payment_window_ms / 1000) + " s");
    }
  }
}

// 6. Every unexpired active hold belongs to a pending_payment order.
void CheckLeakedHolds(const Facts& f, const Add& add) {
  for (const auto& h : f.active) {
    if (h.expires_at <= f.now) continue;
    auto it = f.by_id.find(h.order_id);
    if (it == f.by_id.end() || it->second->status != "pending_payment") {
      add(6, h.hold_id,
          "an active hold of " + std::to_string(h.quantity) + " x " + h.sku + " for order " +
              h.order_id + " (" + (it == f.by_id.end() ? "no such order" : it->second->status) +
              ")");
    }
  }
}

// 7. One order per Idempotency-Key, and per checkout of a cart: a cart's next order
// is made only once the one before it has left pending_payment.
void CheckOnePerCheckout(const Facts& f, const Add& add) {
  std::map<std::string, const commerce::Order*> by_key;
  std::map<std::string, std::vector<const commerce::Order*>> by_cart;
  for (const auto& o : f.orders) {
    if (!o.idempotency_key.empty()) {
      auto [it, fresh] = by_key.emplace(o.idempotency_key, &o);
      if (!fresh) {
        add(7, o.order_id,
            "a second order for Idempotency-Key " + o.idempotency_key + " (the first is " +
                it->second->order_id + ")");
      }
    }
    if (!o.cart_id.empty()) by_cart[o.cart_id].push_back(&o);
  }
  auto left_pending = [&](const commerce::Order& o) {
    for (const auto& e : o.history) {
      if (!e.from.empty() || e.to != "pending_payment") return e.at;
    }
    return f.now + 1;  // still pending
  };
  for (auto& [cart, orders] : by_cart) {
    std::sort(orders.begin(), orders.end(), [](auto* a, auto* b) {
      return a->created_at != b->created_at ? a->created_at < b->created_at
                                            : a->order_id < b->order_id;
    });
    for (size_t i = 1; i < orders.size(); ++i) {
      const commerce::Order& before = *orders[i - 1];
      if (orders[i]->created_at < left_pending(before)) {
        add(7, orders[i]->order_id,
            "made from cart " + cart + " while order " + before.order_id +
                " of the same cart was still pending_payment");
      }
    }
  }
}

// 8. Orders move only along the declared graph, and stop at terminal states.
void CheckGraph(const Facts& f, const Add& add) {
  for (const auto& o : f.orders) {
    std::string at;
    bool first = true;
    for (const auto& e : o.history) {
      const bool ok = first ? e.from.empty() && commerce::IsInitialStatus(e.to)
                            : e.from == at && commerce::IsLegalTransition(e.from, e.to);
      if (!ok) {
        add(8, o.order_id,
            "illegal transition " + (e.from.empty() ? std::string("(new)") : e.from) + " -> " +
                e.to);
      }
      at = e.to;
      first = false;
    }
    if (at != o.status) add(8, o.order_id, "status " + o.status + " but history ends at " + at);
  }
}

// 9. Exactly one "order confirmed" notification per confirmed order, none for others.
void CheckNotifications(const Facts& f, const Add& add) {
  for (const auto& o : f.orders) {
    bool was_confirmed = false;
    for (const auto& e : o.history) was_confirmed |= e.to == "confirmed";
    auto it = f.confirmed_notes.find(o.order_id);
    const int64_t n = it == f.confirmed_notes.end() ? 0 : it->second;
    if (n != (was_confirmed ? 1 : 0)) {
      add(9, o.order_id,
          std::to_string(n) + " order_confirmed notifications for an order " +
              (was_confirmed ? "that was confirmed" : "never confirmed"));
    }
  }
  for (const auto& [order_id, n] : f.confirmed_notes) {
    if (!f.by_id.count(order_id)) {
      add(9, order_id, std::to_string(n) + " order_confirmed notifications for no order");
    }
  }
}

// 10. Lines carry the snapshot's prices (the checkout's input), and total = lines −
// discount + shipping + tax.
void CheckPrices(const Facts& f, const Add& add) {
  for (const auto& o : f.orders) {
    int64_t lines = 0;
    for (const auto& l : o.lines) lines += l.quantity * l.unit_price;
    if (lines != o.subtotal || !commerce::AddsUp(o)) {
      add(10, o.order_id,
          "total " + std::to_string(o.total) + " is not lines " + std::to_string(lines) +
              " - discount " + std::to_string(o.discount) + " + shipping " +
              std::to_string(o.shipping) + " + tax " + std::to_string(o.tax));
    }
    if (!f.engine || o.lines.empty()) continue;
    auto it = f.checkouts.find(o.order_id);
    if (it == f.checkouts.end() || !it->second.input.is_object()) continue;  // retention
    const json::value* snap = it->second.input.as_object().if_contains("lines");
    if (!snap || !snap->is_array()) continue;
    std::map<std::string, std::pair<int64_t, int64_t>> want;  // item -> (qty, price)
    for (const auto& l : snap->as_array()) {
      if (!l.is_object()) continue;
      const auto& lo = l.as_object();
      if (lo.contains("item_id") && lo.contains("quantity") && lo.contains("unit_price")) {
        want[std::string(lo.at("item_id").as_string())] = {
            lo.at("quantity").to_number<int64_t>(), lo.at("unit_price").to_number<int64_t>()};
      }
    }
    for (const auto& l : o.lines) {
      auto w = want.find(l.item_id);
      if (w == want.end()) {
        add(10, o.order_id, "line " + l.item_id + " is not in the checkout's snapshot");
      } else if (w->second.second != l.unit_price || w->second.first != l.quantity) {
        add(10, o.order_id,
            "line " + l.item_id + " is " + std::to_string(l.quantity) + " x " +
                std::to_string(l.unit_price) + "; the snapshot says " +
                std::to_string(w->second.first) + " x " + std::to_string(w->second.second));
      }
    }
    if (o.lines.size() != want.size()) {
      add(10, o.order_id,
          std::to_string(o.lines.size()) + " lines, the snapshot has " +
              std::to_string(want.size()));
    }
  }
}

// 12. Every checkout the API started resolves to an order (pending_payment or
// further, or rejected with its reason). Sagas recorded before orders came first
// may instead have closed as rejected without one; GET /orders/{id} answers those
// from the run.
void CheckCheckoutsResolve(const Facts& f, const AuditOptions& opt, const Add& add) {
  for (const auto& [order_id, c] : f.checkouts) {
    if (f.by_id.count(order_id)) continue;
    const auto& run = c.run;
    if (run.status == persistence::ExecutionStatus::kRunning) {
      if (f.now - run.start_time > opt.liveness_bound_ms) {
        add(12, order_id,
            "checkout " + run.workflow_id + " has run " +
                std::to_string((f.now - run.start_time) / 1000) + " s without making its order");
      }
      continue;
    }
    proto::Payload p;
    p.ParseFromString(run.result);
    auto result = FromPayload(p);
    const bool rejected = result.ok() && result->is_object() &&
                          result->as_object().contains("status") &&
                          result->at("status") == "rejected";
    if (!rejected) {
      add(12, order_id,
          "checkout " + run.workflow_id + " closed (" +
              persistence::ExecutionStatusName(run.status) + ") without an order");
    }
  }
}

// 11. Promotions: no more counted redemptions than max_redemptions, nor per buyer
// than per_buyer_limit, and the promotion's count agrees; each counted redemption
// belongs to an order with that code and discount, which went through (or is still
// being paid for: quiet systems only); each order with a discount that went through
// has its redemption counted.
void CheckPromotions(const Facts& f, const AuditOptions& opt, const Add& add) {
  std::map<std::string, int64_t> live;
  std::map<std::pair<std::string, std::string>, int64_t> per_buyer;
  std::map<std::string, const commerce::Redemption*> by_order;
  for (const auto& r : f.redemptions) {
    if (r.state != "redeemed") continue;
    ++live[r.code];
    ++per_buyer[{r.code, r.buyer_id}];
    by_order[r.order_id] = &r;
  }
  for (const auto& p : f.promotions) {
    const int64_t n = live.count(p.code) ? live.at(p.code) : 0;
    if (p.max_redemptions > 0 && n > p.max_redemptions) {
      add(11, p.code,
          std::to_string(n) + " redemptions of at most " + std::to_string(p.max_redemptions));
    }
    if (n != p.redeemed) {
      add(11, p.code,
          "counts " + std::to_string(p.redeemed) + " redemptions; there are " + std::to_string(n));
    }
    for (auto it = per_buyer.lower_bound({p.code, ""});
         it != per_buyer.end() && it->first.first == p.code; ++it) {
      if (p.per_buyer_limit > 0 && it->second > p.per_buyer_limit) {
        add(11, p.code + "/" + it->first.second,
            "buyer " + it->first.second + " redeemed it " + std::to_string(it->second) +
                " times, at most " + std::to_string(p.per_buyer_limit));
      }
    }
  }
  auto went_through = [](const commerce::Order& o) {
    for (const auto& e : o.history) {
      if (e.to == "confirmed") return true;
    }
    return false;
  };
  for (const auto& [order_id, r] : by_order) {
    auto o = f.by_id.find(order_id);
    if (o == f.by_id.end()) {
      add(11, order_id, "redemption of " + r->code + " by an order that does not exist");
    } else if (o->second->promo_code != r->code || o->second->discount != r->amount) {
      add(11, order_id,
          "redeemed " + r->code + " for " + std::to_string(r->amount) + "; the order says " +
              o->second->promo_code + " for " + std::to_string(o->second->discount));
    } else if (opt.quiescent && commerce::IsTerminal(o->second->status) &&
               !went_through(*o->second)) {
      add(11, order_id,
          "order " + o->second->status + " never went through but keeps its redemption of " +
              r->code);
    }
  }
  for (const auto& o : f.orders) {
    if (o.discount > 0 && went_through(o) && !by_order.count(o.order_id)) {
      add(11, o.order_id,
          "a discount of " + std::to_string(o.discount) + " with no redemption of " + o.promo_code);
    }
  }
}

Status ReadFacts(commerce::Shop& shop, const AuditOptions& opt, Facts* f, Report* report) {
  f->now = shop.clock()->Now();
  std::string after;
  for (;;) {
    KEEL_ASSIGN_OR_RETURN(auto page, shop.orders().ReadPage(after, 1000));
    if (page.empty()) break;
    after = page.back().order_id;
    for (auto& o : page) f->orders.push_back(std::move(o));
  }
  for (const auto& o : f->orders) f->by_id[o.order_id] = &o;
  KEEL_ASSIGN_OR_RETURN(f->stock, shop.inventory().ListStock());
  KEEL_ASSIGN_OR_RETURN(f->active, shop.inventory().ListHolds("active"));
  KEEL_ASSIGN_OR_RETURN(f->promotions, shop.promotions().List("*", int64_t{1} << 40));
  KEEL_ASSIGN_OR_RETURN(f->redemptions, shop.promotions().Redemptions());
  KEEL_ASSIGN_OR_RETURN(auto notes, shop.notifications().CountByOrder("order_confirmed"));
  for (const auto& [order, n] : notes) f->confirmed_notes[order] = n;
  if (!opt.payments_ledger_dir.empty()) {
    KEEL_ASSIGN_OR_RETURN(f->ledger, sims::ReadLedgerDir(opt.payments_ledger_dir));
    f->money = true;
  } else if (!opt.payments_url.empty()) {
    KEEL_ASSIGN_OR_RETURN(f->ledger, sims::FetchLedger(opt.payments_url));
    f->money = true;
  } else {
    report->skipped.push_back("invariants 3 and 4: no gateway ledger given");
  }
  if (opt.engine) {
    persistence::ListFilter lf;
    lf.workflow_type = "checkout_saga";
    lf.limit = 1000;
    for (;;) {
      KEEL_ASSIGN_OR_RETURN(auto page, opt.engine->ListExecutions(lf));
      std::vector<std::string> run_ids;
      for (const auto& run : page.rows) run_ids.push_back(run.run_id);
      KEEL_ASSIGN_OR_RETURN(auto starts, opt.engine->ReadStartEvents(run_ids));
      for (auto& run : page.rows) {
        const std::string prefix = "checkout-";
        if (run.workflow_id.rfind(prefix, 0) != 0) continue;
        Facts::Checkout c{std::move(run), nullptr};
        auto start = starts.find(c.run.run_id);
        if (start != starts.end() && start->second.has_workflow_execution_started()) {
          auto in = FromPayload(start->second.workflow_execution_started().input());
          if (in.ok()) c.input = std::move(in).value();
        }
        // A reset makes a new run of the id: the latest is the checkout.
        auto& slot = f->checkouts[c.run.workflow_id.substr(prefix.size())];
        if (slot.run.run_id.empty() || slot.run.start_time <= c.run.start_time) slot = std::move(c);
      }
      if (page.next_cursor.empty()) break;
      lf.cursor = page.next_cursor;
    }
    f->engine = true;
  } else {
    report->skipped.push_back("invariants 10 (snapshots) and 12: no engine store given");
  }
  report->orders = static_cast<int64_t>(f->orders.size());
  report->skus = static_cast<int64_t>(f->stock.size());
  report->holds = static_cast<int64_t>(f->active.size());
  report->intents = static_cast<int64_t>(f->ledger.size());
  report->checkouts = static_cast<int64_t>(f->checkouts.size());
  return Status::Ok();
}

}  // namespace

std::string ToString(const Violation& v) {
  return "invariant " + std::to_string(v.invariant) + " [" + v.subject + "]: " + v.message;
}

Result<Report> Audit(commerce::Shop& shop, const AuditOptions& opt) {
  Report report;
  Facts f;
  KEEL_RETURN_IF_ERROR(ReadFacts(shop, opt, &f, &report));
  Add add = [&](int n, const std::string& subject, const std::string& message) {
    report.violations.push_back({n, subject, message});
  };
  CheckStock(f, add);
  CheckOversell(f, add);
  if (f.money) CheckMoney(f, add);
  CheckOnePerCheckout(f, add);
  CheckGraph(f, add);
  CheckNotifications(f, add);
  CheckPrices(f, add);
  CheckPromotions(f, opt, add);
  if (opt.quiescent) {
    CheckLiveness(f, opt, add);
    CheckLeakedHolds(f, add);
    if (f.engine) CheckCheckoutsResolve(f, opt, add);
  } else {
    report.skipped.push_back("invariants 5, 6 and 12: the system is not quiet (--in-flight)");
  }
  std::stable_sort(
      report.violations.begin(), report.violations.end(),
      [](const Violation& a, const Violation& b) { return a.invariant < b.invariant; });
  return report;
}

Result<std::vector<Violation>> Run(commerce::Shop& shop, const AuditOptions& options) {
  KEEL_ASSIGN_OR_RETURN(Report r, Audit(shop, options));
  return std::move(r.violations);
}

}  // namespace keel::audit
