#include "sims/carrier/carrier_sim.h"

#include <spdlog/spdlog.h>

#include <random>

#include "commerce/validation.h"
#include "http/client.h"
#include "http/idempotency.h"
#include "sims/common/webhook_outbox.h"

namespace keel::sims {
namespace {

using http::ApiRequest;
using http::JsonResponse;
using http::Response;
using persistence::SqlRow;
using persistence::SqlRows;
using persistence::SqlTxn;
namespace bhttp = http::bhttp;

std::vector<std::string> Migrations() {
  return {
      std::string("CREATE TABLE shipments(id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, "
                  "reference TEXT NOT NULL UNIQUE, tracking_number TEXT NOT NULL, status TEXT NOT "
                  "NULL, address TEXT NOT NULL, metadata TEXT NOT NULL, history TEXT NOT NULL, "
                  "next_at INTEGER NOT NULL, created INTEGER NOT NULL);"
                  "CREATE INDEX shipments_due ON shipments(next_at) WHERE next_at > 0;") +
      kWebhookOutboxSchema};
}

constexpr const char* kCols =
    "id, reference, tracking_number, status, address, metadata, history, created";

// The state after `s` on the way to the door, or "" at the end.
std::string NextStatus(const std::string& s) {
  if (s == "label_created") return "in_transit";
  if (s == "in_transit") return "out_for_delivery";
  if (s == "out_for_delivery") return "delivered";
  return "";
}

json::object ShipmentJson(const SqlRow& r) {
  auto parse = [](const std::string& text, json::value def) {
    auto v = ParseJson(text);
    return v.ok() ? v.value() : def;
  };
  return json::object{{"id", r.Text(0)},
                      {"shipment_id", r.Text(0)},
                      {"object", "shipment"},
                      {"reference", r.Text(1)},
                      {"tracking_number", r.Text(2)},
                      {"status", r.Text(3)},
                      {"address", parse(r.Text(4), json::object{})},
                      {"metadata", parse(r.Text(5), json::object{})},
                      {"tracking", parse(r.Text(6), json::array{})},
                      {"created", r.Int(7)}};
}

Response CarrierError(unsigned status, const std::string& code, const std::string& message) {
  return http::ErrorResponse(status, code, message);
}

}  // namespace

struct CarrierSim::Impl {
  std::unique_ptr<persistence::SqlDatabase> db;
  Clock* clock = nullptr;
  std::unique_ptr<http::IdempotencyKeys> idempotency;
  std::unique_ptr<WebhookOutbox> outbox;
  std::string control_token;
  std::mutex mu;  // guards faults, rng, wake
  CarrierFaults faults;
  std::mt19937_64 rng;
  bool wake = false;
  std::condition_variable cv;
  std::atomic<bool> stop{false};
  Millis next_prune = 0;  // the RunOnce thread's
  std::thread thread;

  CarrierFaults Faults() {
    std::lock_guard<std::mutex> l(mu);
    return faults;
  }
  Millis Step() {
    CarrierFaults f = Faults();
    return std::max<Millis>(1, static_cast<Millis>(f.step_ms / std::max(f.speed, 1e-6)));
  }
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

  // Moves the shipment in row `r` to `status`, appends it to its tracking history,
  // and queues the webhook, all in `t`.
  Status Move(SqlTxn& t, const SqlRow& r, const std::string& status, Millis next_at) {
    auto history = ParseJson(r.Text(6));
    json::array tracking =
        history.ok() && history.value().is_array() ? history.value().as_array() : json::array{};
    tracking.push_back(json::object{{"status", status}, {"at", clock->Now() / 1000}});
    KEEL_RETURN_IF_ERROR(
        t.Exec("UPDATE shipments SET status = $2, history = $3, next_at = $4 WHERE id = $1",
               {r.Text(0), status, json::serialize(tracking), next_at})
            .status());
    KEEL_ASSIGN_OR_RETURN(
        SqlRows after,
        t.Query(std::string("SELECT ") + kCols + " FROM shipments WHERE id = $1", {r.Text(0)}));
    return outbox->Add(t, "shipment." + status, ShipmentJson(after[0])).status();
  }

  void AdvanceDue() {
    if (Faults().paused) return;
    const Millis now = clock->Now();
    const Millis step = Step();
    const double exception_rate = Faults().exception_rate;
    Status s = db->Transact([&](SqlTxn& t) -> Status {
      KEEL_ASSIGN_OR_RETURN(
          SqlRows due,
          t.Query(std::string("SELECT ") + kCols +
                      " FROM shipments WHERE next_at > 0 AND next_at <= $1 ORDER BY next_at "
                      "LIMIT 64",
                  {now}));
      for (const auto& r : due) {
        std::string next = Roll(exception_rate) ? "exception" : NextStatus(r.Text(3));
        if (next.empty()) continue;
        const bool last = next == "delivered" || next == "exception";
        KEEL_RETURN_IF_ERROR(Move(t, r, next, last ? 0 : now + step));
      }
      return Status::Ok();
    });
    if (!s.ok()) spdlog::warn("carrier sim: advancing shipments: {}", s.ToString());
  }
};

Result<std::unique_ptr<CarrierSim>> CarrierSim::Open(
    std::unique_ptr<persistence::SqlDatabase> ledger, Clock* clock, CarrierSimOptions options) {
  KEEL_RETURN_IF_ERROR(ledger->Migrate(Migrations()));
  if (!options.webhook_url.empty())
    KEEL_RETURN_IF_ERROR(http::ParseHttpUrl(options.webhook_url).status());
  if (!(options.faults.speed > 0)) {
    return Status::InvalidArgument("carrier speed must be > 0", "validation_failed");
  }
  KEEL_ASSIGN_OR_RETURN(std::string secret, LoadWebhookSecret(*ledger, options.webhook_secret));
  std::unique_ptr<CarrierSim> sim(new CarrierSim());
  sim->impl_ = std::make_unique<Impl>();
  Impl& im = *sim->impl_;
  im.db = std::move(ledger);
  im.clock = clock;
  im.idempotency = std::make_unique<http::IdempotencyKeys>(im.db.get(), clock);
  im.outbox = std::make_unique<WebhookOutbox>(im.db.get(), clock, secret, options.seed);
  im.outbox->SetUrl(options.webhook_url);
  im.faults = options.faults;
  im.control_token = options.control_token;
  im.rng.seed(options.seed ? options.seed : std::random_device{}());
  im.outbox->SetFaults({options.faults.duplicate_rate, options.faults.max_delay_ms});
  return sim;
}

CarrierSim::~CarrierSim() { Stop(); }

const std::string& CarrierSim::webhook_secret() const { return impl_->outbox->secret(); }

void CarrierSim::Start() {
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

void CarrierSim::Stop() {
  if (!impl_) return;
  impl_->stop = true;
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void CarrierSim::RunOnce() {
  // Idempotency keys are kept 24 h; look for older ones once an hour.
  if (const Millis now = impl_->clock->Now(); now >= impl_->next_prune) {
    impl_->next_prune = now + 3'600'000;
    if (auto n = impl_->idempotency->Prune(); !n.ok())
      spdlog::warn("pruning keys: {}", n.status().ToString());
  }
  impl_->AdvanceDue();
  impl_->outbox->DeliverDue(impl_->stop);
}

void CarrierSim::SetWebhookUrl(const std::string& url) {
  impl_->outbox->SetUrl(url);
  impl_->Wake();
}

CarrierFaults CarrierSim::faults() { return impl_->Faults(); }

void CarrierSim::SetFaults(const CarrierFaults& f) {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->faults = f;
  }
  impl_->outbox->SetFaults({f.duplicate_rate, f.max_delay_ms});
  impl_->Wake();
}

void CarrierSim::AddRoutes(http::Router& router) {
  using V = bhttp::verb;
  Impl* im = impl_.get();

  router.Add(V::post, "/v1/shipments", [im](const ApiRequest& req) {
    std::string request = "POST /v1/shipments\n" + req.raw.body();
    return im->idempotency->Run(
        "carrier", req.Header("Idempotency-Key"), request, [&]() -> Response {
          auto body = http::ParseBodyObject(req.raw);
          if (!body.ok()) return http::StatusResponse(body.status());
          const json::object& b = body.value();
          auto reference = http::StringField(b, "reference", true);
          if (!reference.ok()) return http::StatusResponse(reference.status());
          if (Status s = commerce::CheckText("reference", reference.value(), 1, 128); !s.ok()) {
            return http::StatusResponse(s);
          }
          const json::value* addr = b.if_contains("address");
          if (!addr || !addr->is_object()) {
            return http::StatusResponse(commerce::FieldError("address", "must be an object"));
          }
          for (const char* f : {"name", "line1", "city", "postal_code", "country"}) {
            const json::value* v = addr->as_object().if_contains(f);
            if (!v || !v->is_string() || v->as_string().empty() || v->as_string().size() > 200) {
              return http::StatusResponse(
                  commerce::FieldError(std::string("address.") + f, "must be 1..200 characters"));
            }
          }
          json::value metadata = b.contains("metadata") ? b.at("metadata") : json::object{};
          if (!metadata.is_object()) {
            return http::StatusResponse(commerce::FieldError("metadata", "must be an object"));
          }
          json::object shipment;
          bool created = false;
          const Millis step = im->Step();
          Status s = im->db->Transact([&](SqlTxn& t) -> Status {
            created = false;
            KEEL_ASSIGN_OR_RETURN(
                SqlRows existing,
                t.Query(std::string("SELECT ") + kCols + " FROM shipments WHERE reference = $1",
                        {reference.value()}));
            if (!existing.empty()) {
              shipment = ShipmentJson(existing[0]);
              return Status::Ok();
            }
            KEEL_ASSIGN_OR_RETURN(SqlRows top,
                                  t.Query("SELECT COALESCE(MAX(seq), 0) FROM shipments"));
            const int64_t seq = top[0].Int(0) + 1;
            const std::string id = NewObjectId("shp_");
            char tracking[32];
            std::snprintf(tracking, sizeof tracking, "1ZKEEL%012lld", static_cast<long long>(seq));
            const Millis now = im->clock->Now();
            KEEL_RETURN_IF_ERROR(
                t.Exec(
                     "INSERT INTO shipments(id, seq, reference, tracking_number, status, address, "
                     "metadata, history, next_at, created) VALUES($1,$2,$3,$4,'created',$5,$6,'[]',"
                     "0,$7)",
                     {id, seq, reference.value(), std::string(tracking), json::serialize(*addr),
                      json::serialize(metadata), now / 1000})
                    .status());
            KEEL_ASSIGN_OR_RETURN(
                SqlRows row,
                t.Query(std::string("SELECT ") + kCols + " FROM shipments WHERE id = $1", {id}));
            KEEL_RETURN_IF_ERROR(im->Move(t, row[0], "label_created", now + step));
            KEEL_ASSIGN_OR_RETURN(
                row,
                t.Query(std::string("SELECT ") + kCols + " FROM shipments WHERE id = $1", {id}));
            shipment = ShipmentJson(row[0]);
            created = true;
            return Status::Ok();
          });
          if (!s.ok()) return http::StatusResponse(s);
          im->Wake();
          return JsonResponse(created ? 201 : 200, shipment);
        });
  });

  router.Add(V::get, "/v1/shipments/{id}", [im](const ApiRequest& req) {
    auto rows = im->db->Query(std::string("SELECT ") + kCols + " FROM shipments WHERE id = $1",
                              {req.path.at("id")});
    if (!rows.ok()) return http::StatusResponse(rows.status());
    if (rows.value().empty()) {
      return CarrierError(404, "not_found", "no such shipment: " + req.path.at("id"));
    }
    return JsonResponse(200, ShipmentJson(rows.value()[0]));
  });

  // Only a parcel that has not left can be cancelled; cancelling twice is fine.
  router.Add(V::post, "/v1/shipments/{id}/cancel", [im](const ApiRequest& req) {
    json::object shipment;
    std::optional<Response> refused;
    Status s = im->db->Transact([&](SqlTxn& t) -> Status {
      refused.reset();
      KEEL_ASSIGN_OR_RETURN(
          SqlRows rows, t.Query(std::string("SELECT ") + kCols + " FROM shipments WHERE id = $1",
                                {req.path.at("id")}));
      if (rows.empty()) {
        refused = CarrierError(404, "not_found", "no such shipment: " + req.path.at("id"));
        return Status::Ok();
      }
      const std::string status = rows[0].Text(3);
      if (status == "label_created") {
        KEEL_RETURN_IF_ERROR(im->Move(t, rows[0], "cancelled", 0));
        KEEL_ASSIGN_OR_RETURN(
            rows, t.Query(std::string("SELECT ") + kCols + " FROM shipments WHERE id = $1",
                          {req.path.at("id")}));
      } else if (status != "cancelled") {
        refused = CarrierError(409, "shipment_in_transit",
                               "the shipment is " + status + " and can no longer be cancelled");
        return Status::Ok();
      }
      shipment = ShipmentJson(rows[0]);
      return Status::Ok();
    });
    if (!s.ok()) return http::StatusResponse(s);
    if (refused) return *refused;
    im->Wake();
    return JsonResponse(200, shipment);
  });

  router.Add(V::get, "/v1/sim/faults",
             ControlRoute(im->control_token, [im](const ApiRequest&) -> http::Reply {
               CarrierFaults f = im->Faults();
               return JsonResponse(200, json::object{{"speed", f.speed},
                                                     {"step_ms", f.step_ms},
                                                     {"exception_rate", f.exception_rate},
                                                     {"paused", f.paused},
                                                     {"duplicate_rate", f.duplicate_rate},
                                                     {"max_delay_ms", f.max_delay_ms}});
             }));
  router.Add(V::post, "/v1/sim/faults",
             ControlRoute(im->control_token, [this, im](const ApiRequest& req) -> http::Reply {
               auto body = http::ParseBodyObject(req.raw);
               if (!body.ok()) return http::StatusResponse(body.status());
               CarrierFaults f = im->Faults();
               for (const auto& [k, v] : body.value()) {
                 const std::string key(k);
                 if (key == "paused") {
                   if (!v.is_bool())
                     return http::StatusResponse(commerce::FieldError(key, "must be a bool"));
                   f.paused = v.as_bool();
                   continue;
                 }
                 if (!v.is_number() || v.to_number<double>() < 0) {
                   return http::StatusResponse(commerce::FieldError(key, "must be a number >= 0"));
                 }
                 const double n = v.to_number<double>();
                 if (key == "speed" && n > 0 && n <= 1e6) {
                   f.speed = n;
                 } else if (key == "step_ms" && n >= 1 && n <= 86'400'000) {
                   f.step_ms = static_cast<Millis>(n);
                 } else if (key == "exception_rate" && n <= 1) {
                   f.exception_rate = n;
                 } else if (key == "duplicate_rate" && n <= 1) {
                   f.duplicate_rate = n;
                 } else if (key == "max_delay_ms" && n <= 600'000) {
                   f.max_delay_ms = static_cast<Millis>(n);
                 } else {
                   return http::StatusResponse(
                       commerce::FieldError(key, "is not a carrier setting, or is out of range"));
                 }
               }
               SetFaults(f);
               return JsonResponse(200, json::object{{"ok", true}});
             }));
  AddWebhookUrlRoute(router, im->control_token,
                     [this](const std::string& url) { SetWebhookUrl(url); });
}

}  // namespace keel::sims
