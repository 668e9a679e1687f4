#include "sims/payments/payments_sim.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "commerce/auth.h"
#include "commerce/validation.h"
#include "http/client.h"
#include "http/webhook_signature.h"
#include "sims/common/webhook_outbox.h"

namespace keel::sims {
namespace {

using http::ApiRequest;
using http::ErrorResponse;
using http::JsonResponse;
using http::Response;
using persistence::SqlRow;
using persistence::SqlRows;
using persistence::SqlTxn;
namespace bhttp = http::bhttp;

std::vector<std::string> Migrations() {
  return {std::string(
              "CREATE TABLE intents(id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, amount "
              "INTEGER NOT NULL, currency TEXT NOT NULL, payment_method TEXT NOT NULL, "
              "capture_method TEXT NOT NULL, status TEXT NOT NULL, amount_capturable INTEGER NOT "
              "NULL DEFAULT 0, amount_received INTEGER NOT NULL DEFAULT 0, amount_refunded "
              "INTEGER NOT NULL DEFAULT 0, metadata TEXT NOT NULL, last_error TEXT NOT NULL "
              "DEFAULT '', action_due_at INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
              "CREATE INDEX intents_action ON intents(action_due_at) WHERE action_due_at > 0;"
              "CREATE TABLE refunds(id TEXT PRIMARY KEY, payment_intent TEXT NOT NULL, amount "
              "INTEGER NOT NULL, status TEXT NOT NULL, created INTEGER NOT NULL);"
              "CREATE INDEX refunds_intent ON refunds(payment_intent);") +
          kWebhookOutboxSchema};
}

constexpr const char* kIntentCols =
    "id, amount, currency, payment_method, capture_method, status, amount_capturable, "
    "amount_received, amount_refunded, metadata, last_error, created, seq";

bool KnownMethod(const std::string& pm) {
  return pm == "pm_card_visa" || pm == "pm_card_chargeDeclined" || pm == "pm_card_threeDSecure" ||
         pm == "pm_card_threeDSecureAbandoned";
}

json::object IntentJson(const SqlRow& r) {
  json::object o{
      {"id", r.Text(0)},
      {"object", "payment_intent"},
      {"amount", r.Int(1)},
      {"currency", r.Text(2)},
      {"payment_method", r.Text(3).empty() ? json::value(nullptr) : json::value(r.Text(3))},
      {"capture_method", r.Text(4)},
      {"status", r.Text(5)},
      {"amount_capturable", r.Int(6)},
      {"amount_received", r.Int(7)},
      {"amount_refunded", r.Int(8)},
      {"created", r.Int(11)}};
  auto meta = ParseJson(r.Text(9));
  o["metadata"] = meta.ok() ? meta.value() : json::object{};
  if (r.Text(10).empty()) {
    o["last_payment_error"] = nullptr;
  } else {
    o["last_payment_error"] = json::object{{"code", r.Text(10)}, {"type", "card_error"}};
  }
  o["next_action"] = r.Text(5) == "requires_action"
                         ? json::value(json::object{{"type", "redirect_to_url"}})
                         : json::value(nullptr);
  return o;
}

Response GatewayError(unsigned status, const std::string& type, const std::string& code,
                      const std::string& message, const json::object& details = {}) {
  json::object err{{"type", type}, {"code", code}, {"message", message}};
  if (!details.empty()) err["details"] = details;
  return JsonResponse(status, json::object{{"error", err}});
}

Response UnexpectedState(const json::object& intent, const std::string& action) {
  return GatewayError(400, "invalid_request_error", "payment_intent_unexpected_state",
                      "cannot " + action + " a PaymentIntent in status " +
                          std::string(intent.at("status").as_string()),
                      json::object{{"payment_intent", intent}});
}

}  // namespace

struct PaymentsSim::Impl {
  std::unique_ptr<persistence::SqlDatabase> db;
  Clock* clock;
  http::IdempotencyKeys idempotency;
  std::mutex mu;  // guards faults, rng, wake
  PaymentFaults faults;
  std::mt19937_64 rng;
  std::unique_ptr<WebhookOutbox> outbox;
  std::string control_token;
  bool wake = false;
  std::condition_variable cv;
  std::atomic<bool> stop{false};
  Millis next_prune = 0;  // the RunOnce thread's
  std::thread thread;

  Impl(std::unique_ptr<persistence::SqlDatabase> d, Clock* c)
      : db(std::move(d)), clock(c), idempotency(db.get(), c) {}

  bool Roll(double rate) {
    if (rate <= 0) return false;
    std::lock_guard<std::mutex> l(mu);
    return std::uniform_real_distribution<double>(0, 1)(rng) < rate;
  }
  void Wake() {
    {
      std::lock_guard<std::mutex> l(mu);
      wake = true;
    }
    cv.notify_all();
  }

  Result<std::optional<SqlRow>> LoadIntent(SqlTxn& t, const std::string& id) {
    KEEL_ASSIGN_OR_RETURN(
        SqlRows r,
        t.Query(std::string("SELECT ") + kIntentCols + " FROM intents WHERE id = $1", {id}));
    if (r.empty()) return std::optional<SqlRow>();
    return std::optional<SqlRow>(r[0]);
  }

  Status AddEvent(SqlTxn& t, const std::string& type, const json::object& object) {
    return outbox->Add(t, type, object).status();
  }

  // The outcome of confirming with `pm`: new status, error code, and whether 3DS is due.
  struct Confirmed {
    std::string status, error;
    Millis action_due_at = 0;
  };
  Confirmed Confirm(const std::string& pm, const std::string& capture_method) {
    PaymentFaults f = Faults();
    if (pm == "pm_card_chargeDeclined" || (pm == "pm_card_visa" && Roll(f.decline_rate))) {
      return {"requires_payment_method", "card_declined", 0};
    }
    if (pm == "pm_card_threeDSecure") {
      return {"requires_action", "", clock->Now() + std::max<Millis>(1, f.three_ds_delay_ms)};
    }
    if (pm == "pm_card_threeDSecureAbandoned") return {"requires_action", "", 0};
    return {capture_method == "manual" ? "requires_capture" : "succeeded", "", 0};
  }

  // Writes a confirmation's outcome and its event; returns the intent after it.
  Result<json::object> ApplyConfirm(SqlTxn& t, const std::string& id, const std::string& pm,
                                    const std::string& capture_method, int64_t amount) {
    Confirmed c = Confirm(pm, capture_method);
    int64_t capturable = c.status == "requires_capture" ? amount : 0;
    int64_t received = c.status == "succeeded" ? amount : 0;
    KEEL_RETURN_IF_ERROR(t.Exec("UPDATE intents SET payment_method = $2, status = $3, "
                                "last_error = $4, action_due_at = $5, amount_capturable = $6, "
                                "amount_received = $7 WHERE id = $1",
                                {id, pm, c.status, c.error, c.action_due_at, capturable, received})
                             .status());
    KEEL_ASSIGN_OR_RETURN(auto row, LoadIntent(t, id));
    json::object intent = IntentJson(*row);
    const char* type = c.error.empty() ? nullptr : "payment_intent.payment_failed";
    if (!type) {
      type = c.status == "succeeded"          ? "payment_intent.succeeded"
             : c.status == "requires_capture" ? "payment_intent.amount_capturable_updated"
                                              : "payment_intent.requires_action";
    }
    KEEL_RETURN_IF_ERROR(AddEvent(t, type, intent));
    return intent;
  }

  PaymentFaults Faults() {
    std::lock_guard<std::mutex> l(mu);
    return faults;
  }

  Response Run(const ApiRequest& req, const std::function<Response()>& fn);
  void CompleteDueActions();
};

// Faults, then the idempotent work, then latency and a dropped reply if asked.
Response PaymentsSim::Impl::Run(const ApiRequest& req, const std::function<Response()>& fn) {
  bool fail = false, drop = false;
  Millis latency = 0;
  {
    std::lock_guard<std::mutex> l(mu);
    std::uniform_real_distribution<double> u(0, 1);
    if (faults.fail_next > 0) {
      --faults.fail_next;
      fail = true;
    } else if (faults.fail_rate > 0 && u(rng) < faults.fail_rate) {
      fail = true;
    }
    const bool confirm = req.raw.target().ends_with("/confirm");
    if (!fail && confirm && faults.drop_next_confirm > 0) {
      --faults.drop_next_confirm;
      drop = true;
    } else if (!fail) {
      if (faults.drop_next > 0) {
        --faults.drop_next;
        drop = true;
      } else if (faults.drop_response_rate > 0 && u(rng) < faults.drop_response_rate) {
        drop = true;
      }
    }
    latency = faults.latency_ms;
  }
  if (fail) {
    return GatewayError(500, "api_error", "gateway_unavailable",
                        "simulated gateway failure (nothing was done); retry");
  }
  std::string request = std::string(req.raw.method_string()) + " " + std::string(req.raw.target()) +
                        "\n" + req.raw.body();
  Response res = idempotency.Run("gateway", req.Header("Idempotency-Key"), request, fn);
  if (latency > 0) std::this_thread::sleep_for(std::chrono::milliseconds(latency));
  if (drop) res.set(http::kDropConnectionHeader, "1");
  return res;
}

void PaymentsSim::Impl::CompleteDueActions() {
  const Millis now = clock->Now();
  Status s = db->Transact([&](SqlTxn& t) -> Status {
    KEEL_ASSIGN_OR_RETURN(
        SqlRows due, t.Query("SELECT id, capture_method, amount FROM intents WHERE action_due_at "
                             "> 0 AND action_due_at <= $1 AND status = 'requires_action' LIMIT 64",
                             {now}));
    for (const auto& r : due) {
      const bool manual = r.Text(1) == "manual";
      KEEL_RETURN_IF_ERROR(
          t.Exec("UPDATE intents SET status = $2, action_due_at = 0, amount_capturable = $3, "
                 "amount_received = $4 WHERE id = $1",
                 {r.Text(0), manual ? "requires_capture" : "succeeded", manual ? r.Int(2) : 0,
                  manual ? 0 : r.Int(2)})
              .status());
      KEEL_ASSIGN_OR_RETURN(auto row, LoadIntent(t, r.Text(0)));
      KEEL_RETURN_IF_ERROR(AddEvent(
          t, manual ? "payment_intent.amount_capturable_updated" : "payment_intent.succeeded",
          IntentJson(*row)));
    }
    return Status::Ok();
  });
  if (!s.ok()) spdlog::warn("payments sim: completing 3DS: {}", s.ToString());
}

PaymentsSim::PaymentsSim(std::unique_ptr<persistence::SqlDatabase> ledger, Clock* clock,
                         PaymentsSimOptions options)
    : impl_(std::make_unique<Impl>(std::move(ledger), clock)) {
  impl_->faults = options.faults;
  impl_->control_token = options.control_token;
  impl_->rng.seed(options.seed ? options.seed : std::random_device{}());
}

Result<std::unique_ptr<PaymentsSim>> PaymentsSim::Open(
    std::unique_ptr<persistence::SqlDatabase> ledger, Clock* clock, PaymentsSimOptions options) {
  KEEL_RETURN_IF_ERROR(ledger->Migrate(Migrations()));
  if (!options.webhook_url.empty())
    KEEL_RETURN_IF_ERROR(http::ParseHttpUrl(options.webhook_url).status());
  KEEL_ASSIGN_OR_RETURN(std::string secret, LoadWebhookSecret(*ledger, options.webhook_secret));
  std::unique_ptr<PaymentsSim> sim(new PaymentsSim(std::move(ledger), clock, options));
  sim->secret_ = secret;
  Impl& im = *sim->impl_;
  im.outbox = std::make_unique<WebhookOutbox>(im.db.get(), clock, secret, options.seed);
  im.outbox->SetUrl(options.webhook_url);
  im.outbox->SetFaults({options.faults.duplicate_rate, options.faults.max_delay_ms});
  return sim;
}

PaymentsSim::~PaymentsSim() { Stop(); }

void PaymentsSim::Start() {
  impl_->stop = false;
  impl_->thread = std::thread([this] {
    while (!impl_->stop) {
      RunOnce();
      std::unique_lock<std::mutex> l(impl_->mu);
      impl_->cv.wait_for(l, std::chrono::milliseconds(20),
                         [this] { return impl_->wake || impl_->stop; });
      impl_->wake = false;
    }
  });
}

void PaymentsSim::Stop() {
  impl_->stop = true;
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void PaymentsSim::RunOnce() {
  // Idempotency keys are kept 24 h; look for older ones once an hour.
  if (const Millis now = impl_->clock->Now(); now >= impl_->next_prune) {
    impl_->next_prune = now + 3'600'000;
    if (auto n = impl_->idempotency.Prune(); !n.ok())
      spdlog::warn("pruning keys: {}", n.status().ToString());
  }
  impl_->CompleteDueActions();
  impl_->outbox->DeliverDue(impl_->stop);
}

void PaymentsSim::SetWebhookUrl(const std::string& url) {
  impl_->outbox->SetUrl(url);
  impl_->Wake();
}

PaymentFaults PaymentsSim::faults() { return impl_->Faults(); }

void PaymentsSim::SetFaults(const PaymentFaults& f) {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->faults = f;
  }
  impl_->outbox->SetFaults({f.duplicate_rate, f.max_delay_ms});
}

void PaymentsSim::AddRoutes(http::Router& router) {
  using V = bhttp::verb;
  Impl* im = impl_.get();

  auto body_of = [](const ApiRequest& req) -> Result<json::object> {
    if (req.raw.body().empty()) return json::object{};
    return http::ParseBodyObject(req.raw);
  };

  router.Add(V::post, "/v1/payment_intents", [im, body_of](const ApiRequest& req) {
    return im->Run(req, [&]() -> Response {
      auto body = body_of(req);
      if (!body.ok()) return http::StatusResponse(body.status());
      const json::object& b = body.value();
      auto amount = http::IntField(b, "amount", true);
      if (!amount.ok()) return http::StatusResponse(amount.status());
      int64_t amt = amount.value().value_or(0);
      if (amt < 1 || amt > 99'999'999) {
        return http::StatusResponse(commerce::FieldError("amount", "must be 1..99999999"));
      }
      auto currency = http::StringField(b, "currency", true);
      if (!currency.ok()) return http::StatusResponse(currency.status());
      std::string cur = currency.value();
      for (auto& c : cur) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (cur.size() != 3) {
        return http::StatusResponse(commerce::FieldError("currency", "must be an ISO code"));
      }
      auto pm = http::StringField(b, "payment_method", false);
      if (!pm.ok()) return http::StatusResponse(pm.status());
      if (!pm.value().empty() && !KnownMethod(pm.value())) {
        return GatewayError(400, "invalid_request_error", "resource_missing",
                            "no such payment method: " + pm.value());
      }
      auto capture = http::StringField(b, "capture_method", false);
      if (!capture.ok()) return http::StatusResponse(capture.status());
      std::string capture_method = capture.value().empty() ? "automatic" : capture.value();
      if (capture_method != "automatic" && capture_method != "manual") {
        return http::StatusResponse(
            commerce::FieldError("capture_method", "must be automatic or manual"));
      }
      bool confirm =
          b.contains("confirm") && b.at("confirm").is_bool() && b.at("confirm").as_bool();
      json::value metadata = b.contains("metadata") ? b.at("metadata") : json::object{};
      if (!metadata.is_object()) {
        return http::StatusResponse(commerce::FieldError("metadata", "must be an object"));
      }
      const std::string id = NewObjectId("pi_");
      json::object intent;
      bool declined = false;
      Status s = im->db->Transact([&](SqlTxn& t) -> Status {
        KEEL_ASSIGN_OR_RETURN(SqlRows top, t.Query("SELECT COALESCE(MAX(seq), 0) FROM intents"));
        std::string status =
            pm.value().empty() ? "requires_payment_method" : "requires_confirmation";
        KEEL_RETURN_IF_ERROR(
            t.Exec("INSERT INTO intents(id, seq, amount, currency, payment_method, "
                   "capture_method, status, metadata, created) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                   {id, top[0].Int(0) + 1, amt, cur, pm.value(), capture_method, status,
                    json::serialize(metadata), im->clock->Now() / 1000})
                .status());
        if (confirm && !pm.value().empty()) {
          KEEL_ASSIGN_OR_RETURN(intent, im->ApplyConfirm(t, id, pm.value(), capture_method, amt));
        } else {
          KEEL_ASSIGN_OR_RETURN(auto row, im->LoadIntent(t, id));
          intent = IntentJson(*row);
          KEEL_RETURN_IF_ERROR(im->AddEvent(t, "payment_intent.created", intent));
        }
        declined = !intent.at("last_payment_error").is_null();
        return Status::Ok();
      });
      if (!s.ok()) return http::StatusResponse(s);
      im->Wake();
      if (declined) {
        return GatewayError(402, "card_error", "card_declined", "your card was declined",
                            json::object{{"payment_intent", intent}});
      }
      return JsonResponse(200, intent);
    });
  });

  router.Add(V::get, "/v1/payment_intents/{id}", [im](const ApiRequest& req) {
    auto row = im->db->Query(std::string("SELECT ") + kIntentCols + " FROM intents WHERE id = $1",
                             {req.path.at("id")});
    if (!row.ok()) return http::StatusResponse(row.status());
    if (row.value().empty()) {
      return GatewayError(404, "invalid_request_error", "resource_missing",
                          "no such payment_intent: " + req.path.at("id"));
    }
    return JsonResponse(200, IntentJson(row.value()[0]));
  });

  router.Add(V::get, "/v1/payment_intents", [im](const ApiRequest& req) {
    int64_t limit = 10;
    if (const std::string text = req.Query("limit"); !text.empty()) {
      char* end = nullptr;  // points into `text`, which must outlive it
      limit = std::strtoll(text.c_str(), &end, 10);
      if (*end != '\0' || limit < 1 || limit > 100) {
        return http::StatusResponse(commerce::FieldError("limit", "must be 1..100"));
      }
    }
    int64_t before = INT64_MAX;
    if (!req.Query("starting_after").empty()) {
      auto r =
          im->db->Query("SELECT seq FROM intents WHERE id = $1", {req.Query("starting_after")});
      if (!r.ok()) return http::StatusResponse(r.status());
      if (r.value().empty()) {
        return GatewayError(404, "invalid_request_error", "resource_missing",
                            "no such payment_intent: " + req.Query("starting_after"));
      }
      before = r.value()[0].Int(0);
    }
    auto rows = im->db->Query(std::string("SELECT ") + kIntentCols +
                                  " FROM intents WHERE seq < $1 ORDER BY seq DESC LIMIT $2",
                              {before, limit + 1});
    if (!rows.ok()) return http::StatusResponse(rows.status());
    json::array data;
    for (size_t i = 0; i < rows.value().size() && static_cast<int64_t>(i) < limit; ++i) {
      data.push_back(IntentJson(rows.value()[i]));
    }
    return JsonResponse(
        200, json::object{{"object", "list"},
                          {"data", data},
                          {"has_more", static_cast<int64_t>(rows.value().size()) > limit}});
  });

  // confirm | capture | cancel: a conditional change of one intent.
  auto change = [im, body_of](const std::string& action) {
    return [im, body_of, action](const ApiRequest& req) {
      return im->Run(req, [&]() -> Response {
        auto body = body_of(req);
        if (!body.ok()) return http::StatusResponse(body.status());
        const json::object& b = body.value();
        const std::string id = req.path.at("id");
        json::object intent;
        std::optional<Response> refused;
        bool declined = false;
        Status s = im->db->Transact([&](SqlTxn& t) -> Status {
          refused.reset();
          KEEL_ASSIGN_OR_RETURN(auto row, im->LoadIntent(t, id));
          if (!row) {
            refused = GatewayError(404, "invalid_request_error", "resource_missing",
                                   "no such payment_intent: " + id);
            return Status::Ok();
          }
          json::object current = IntentJson(*row);
          const std::string status = row->Text(5);
          if (action == "confirm") {
            KEEL_ASSIGN_OR_RETURN(std::string pm, http::StringField(b, "payment_method", false));
            if (pm.empty()) pm = row->Text(3);
            if (status != "requires_payment_method" && status != "requires_confirmation") {
              refused = UnexpectedState(current, "confirm");
              return Status::Ok();
            }
            if (pm.empty() || !KnownMethod(pm)) {
              refused = GatewayError(400, "invalid_request_error", "resource_missing",
                                     "no such payment method: '" + pm + "'");
              return Status::Ok();
            }
            KEEL_ASSIGN_OR_RETURN(intent, im->ApplyConfirm(t, id, pm, row->Text(4), row->Int(1)));
            declined = !intent.at("last_payment_error").is_null();
            return Status::Ok();
          }
          if (action == "capture") {
            if (status != "requires_capture") {
              refused = UnexpectedState(current, "capture");
              return Status::Ok();
            }
            KEEL_ASSIGN_OR_RETURN(auto amount, http::IntField(b, "amount_to_capture", false));
            int64_t capture = amount.value_or(row->Int(6));
            if (capture < 1 || capture > row->Int(6)) {
              return commerce::FieldError("amount_to_capture", "must be 1..amount_capturable");
            }
            KEEL_RETURN_IF_ERROR(t.Exec("UPDATE intents SET status = 'succeeded', "
                                        "amount_capturable = 0, amount_received = $2 WHERE id = $1",
                                        {id, capture})
                                     .status());
            KEEL_ASSIGN_OR_RETURN(auto after, im->LoadIntent(t, id));
            intent = IntentJson(*after);
            return im->AddEvent(t, "payment_intent.succeeded", intent);
          }
          // cancel
          if (status == "succeeded" || status == "canceled") {
            refused = UnexpectedState(current, "cancel");
            return Status::Ok();
          }
          KEEL_RETURN_IF_ERROR(t.Exec("UPDATE intents SET status = 'canceled', action_due_at = 0, "
                                      "amount_capturable = 0 WHERE id = $1",
                                      {id})
                                   .status());
          KEEL_ASSIGN_OR_RETURN(auto after, im->LoadIntent(t, id));
          intent = IntentJson(*after);
          return im->AddEvent(t, "payment_intent.canceled", intent);
        });
        if (!s.ok()) return http::StatusResponse(s);
        if (refused) return *refused;
        im->Wake();
        if (declined) {
          return GatewayError(402, "card_error", "card_declined", "your card was declined",
                              json::object{{"payment_intent", intent}});
        }
        return JsonResponse(200, intent);
      });
    };
  };
  router.Add(V::post, "/v1/payment_intents/{id}/confirm", change("confirm"));
  router.Add(V::post, "/v1/payment_intents/{id}/capture", change("capture"));
  router.Add(V::post, "/v1/payment_intents/{id}/cancel", change("cancel"));

  router.Add(V::post, "/v1/refunds", [im, body_of](const ApiRequest& req) {
    return im->Run(req, [&]() -> Response {
      auto body = body_of(req);
      if (!body.ok()) return http::StatusResponse(body.status());
      auto pi = http::StringField(body.value(), "payment_intent", true);
      if (!pi.ok()) return http::StatusResponse(pi.status());
      auto amount = http::IntField(body.value(), "amount", false);
      if (!amount.ok()) return http::StatusResponse(amount.status());
      json::object refund;
      std::optional<Response> refused;
      Status s = im->db->Transact([&](SqlTxn& t) -> Status {
        refused.reset();
        KEEL_ASSIGN_OR_RETURN(auto row, im->LoadIntent(t, pi.value()));
        if (!row) {
          refused = GatewayError(404, "invalid_request_error", "resource_missing",
                                 "no such payment_intent: " + pi.value());
          return Status::Ok();
        }
        if (row->Text(5) != "succeeded") {
          refused = UnexpectedState(IntentJson(*row), "refund");
          return Status::Ok();
        }
        const int64_t left = row->Int(7) - row->Int(8);
        if (left <= 0) {
          refused = GatewayError(400, "invalid_request_error", "charge_already_refunded",
                                 "this payment is already refunded in full");
          return Status::Ok();
        }
        const int64_t amt = amount.value().value_or(left);
        if (amt < 1 || amt > left) {
          refused = GatewayError(400, "invalid_request_error", "amount_too_large",
                                 "refund amount must be 1.." + std::to_string(left),
                                 json::object{{"field", "amount"}});
          return Status::Ok();
        }
        const std::string id = NewObjectId("re_");
        const int64_t created = im->clock->Now() / 1000;
        KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO refunds(id, payment_intent, amount, status, "
                                    "created) VALUES($1,$2,$3,'succeeded',$4)",
                                    {id, pi.value(), amt, created})
                                 .status());
        KEEL_RETURN_IF_ERROR(
            t.Exec("UPDATE intents SET amount_refunded = amount_refunded + $2 WHERE id = $1",
                   {pi.value(), amt})
                .status());
        refund = json::object{
            {"id", id},          {"object", "refund"},       {"payment_intent", pi.value()},
            {"amount", amt},     {"currency", row->Text(2)}, {"status", "succeeded"},
            {"created", created}};
        KEEL_ASSIGN_OR_RETURN(auto after, im->LoadIntent(t, pi.value()));
        json::object charge = IntentJson(*after);
        charge["refund"] = refund;
        return im->AddEvent(t, "charge.refunded", charge);
      });
      if (!s.ok()) return http::StatusResponse(s);
      if (refused) return *refused;
      im->Wake();
      return JsonResponse(200, refund);
    });
  });

  router.Add(V::get, "/v1/refunds", [im](const ApiRequest& req) {
    auto rows = im->db->Query(
        "SELECT r.id, r.payment_intent, r.amount, i.currency, r.status, r.created FROM refunds r "
        "JOIN intents i ON i.id = r.payment_intent WHERE r.payment_intent = $1 ORDER BY r.created, "
        "r.id",
        {req.Query("payment_intent")});
    if (!rows.ok()) return http::StatusResponse(rows.status());
    json::array data;
    for (const auto& r : rows.value()) {
      data.push_back(json::object{{"id", r.Text(0)},
                                  {"object", "refund"},
                                  {"payment_intent", r.Text(1)},
                                  {"amount", r.Int(2)},
                                  {"currency", r.Text(3)},
                                  {"status", r.Text(4)},
                                  {"created", r.Int(5)}});
    }
    return JsonResponse(200, json::object{{"object", "list"}, {"data", data}, {"has_more", false}});
  });

  // ---- the simulator's own controls ----------------------------------------------
  router.Add(V::get, "/v1/sim/faults",
             ControlRoute(im->control_token, [im](const ApiRequest&) -> http::Reply {
               PaymentFaults f = im->Faults();
               return JsonResponse(200, json::object{{"fail_rate", f.fail_rate},
                                                     {"decline_rate", f.decline_rate},
                                                     {"drop_response_rate", f.drop_response_rate},
                                                     {"latency_ms", f.latency_ms},
                                                     {"fail_next", f.fail_next},
                                                     {"drop_next", f.drop_next},
                                                     {"drop_next_confirm", f.drop_next_confirm},
                                                     {"duplicate_rate", f.duplicate_rate},
                                                     {"max_delay_ms", f.max_delay_ms},
                                                     {"three_ds_delay_ms", f.three_ds_delay_ms}});
             }));
  router.Add(
      V::post, "/v1/sim/faults",
      ControlRoute(im->control_token, [this, im](const ApiRequest& req) -> http::Reply {
        auto body = http::ParseBodyObject(req.raw);
        if (!body.ok()) return http::StatusResponse(body.status());
        PaymentFaults f = im->Faults();
        for (const auto& [k, v] : body.value()) {
          const std::string key(k);
          if (!v.is_number() || v.to_number<double>() < 0) {
            return http::StatusResponse(commerce::FieldError(key, "must be a number >= 0"));
          }
          const double number = v.to_number<double>();
          auto rate = [&](double& field) -> bool {
            if (number > 1) return false;
            field = number;
            return true;
          };
          bool ok = true;
          if (key == "fail_rate")
            ok = rate(f.fail_rate);
          else if (key == "decline_rate")
            ok = rate(f.decline_rate);
          else if (key == "drop_response_rate")
            ok = rate(f.drop_response_rate);
          else if (key == "duplicate_rate")
            ok = rate(f.duplicate_rate);
          else if (key == "latency_ms")
            f.latency_ms = static_cast<Millis>(number);
          else if (key == "fail_next")
            f.fail_next = static_cast<int>(number);
          else if (key == "drop_next")
            f.drop_next = static_cast<int>(number);
          else if (key == "drop_next_confirm")
            f.drop_next_confirm = static_cast<int>(number);
          else if (key == "max_delay_ms")
            f.max_delay_ms = static_cast<Millis>(number);
          else if (key == "three_ds_delay_ms")
            f.three_ds_delay_ms = static_cast<Millis>(number);
          else
            return http::StatusResponse(commerce::FieldError(key, "is not a fault setting"));
          if (!ok) return http::StatusResponse(commerce::FieldError(key, "must be a rate in 0..1"));
        }
        if (f.latency_ms > 60'000 || f.max_delay_ms > 600'000 || f.three_ds_delay_ms > 3'600'000) {
          return http::StatusResponse(commerce::FieldError("latency_ms", "is too long"));
        }
        SetFaults(f);
        return JsonResponse(200, json::object{{"ok", true}});
      }));
  AddWebhookUrlRoute(router, im->control_token,
                     [this](const std::string& url) { SetWebhookUrl(url); });
}

namespace {

LedgerIntent IntentOf(const json::object& o) {
  LedgerIntent i;
  i.id = std::string(o.at("id").as_string());
  i.status = std::string(o.at("status").as_string());
  i.currency = std::string(o.at("currency").as_string());
  i.amount = o.at("amount").as_int64();
  i.amount_received = o.at("amount_received").as_int64();
  i.amount_refunded = o.at("amount_refunded").as_int64();
  if (const auto* m = o.at("metadata").as_object().if_contains("order_id"); m && m->is_string()) {
    i.order_id = std::string(m->as_string());
  }
  return i;
}

}  // namespace

Result<std::vector<LedgerIntent>> FetchLedger(const std::string& payments_url) {
  KEEL_ASSIGN_OR_RETURN(http::Url url, http::ParseHttpUrl(payments_url));
  std::vector<LedgerIntent> out;
  std::string after;
  for (int page = 0; page < 1'000'000; ++page) {
    std::string target =
        "/v1/payment_intents?limit=100" + (after.empty() ? "" : "&starting_after=" + after);
    auto r = http::HttpCall(url, "GET", target);
    if (!r.ok()) {
      return Status::Unavailable("the gateway at " + payments_url + " cannot be reached (" +
                                     r.status().message() +
                                     "); give --payments-ledger DIR to read its ledger instead",
                                 "gateway_unreachable");
    }
    if (r->status != 200) {
      return Status::Unavailable(
          "the gateway answered " + std::to_string(r->status) + " to " + target, "gateway_error");
    }
    KEEL_ASSIGN_OR_RETURN(json::value body, ParseJson(r->body));
    for (const auto& v : body.at("data").as_array()) {
      out.push_back(IntentOf(v.as_object()));
      after = out.back().id;
    }
    if (!body.at("has_more").as_bool()) break;
  }
  return out;
}

Result<std::vector<LedgerIntent>> ReadLedgerDir(const std::string& dir) {
  if (!std::filesystem::exists(std::filesystem::path(dir) / "payments_sim.db")) {
    return Status::NotFound("no gateway ledger (payments_sim.db) in " + dir, "not_found");
  }
  KEEL_ASSIGN_OR_RETURN(auto db, persistence::OpenSqlDatabase("sqlite:" + dir, "payments_sim", {}));
  KEEL_ASSIGN_OR_RETURN(
      auto rows, db->Query(std::string("SELECT ") + kIntentCols + " FROM intents ORDER BY seq"));
  std::vector<LedgerIntent> out;
  for (const auto& r : rows) out.push_back(IntentOf(IntentJson(r)));
  return out;
}

}  // namespace keel::sims
