#include "sims/common/webhook_outbox.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "commerce/auth.h"
#include "commerce/validation.h"
#include "http/client.h"
#include "http/webhook_signature.h"

namespace keel::sims {

using persistence::SqlRows;
using persistence::SqlTxn;

const char* const kWebhookOutboxSchema =
    "CREATE TABLE events(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, type "
    "TEXT NOT NULL, body TEXT NOT NULL, deliver_at INTEGER NOT NULL, attempts INTEGER NOT NULL "
    "DEFAULT 0, delivered_at INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX events_due ON events(deliver_at) WHERE delivered_at = 0;"
    "CREATE TABLE settings(name TEXT PRIMARY KEY, value TEXT NOT NULL);";

std::string NewObjectId(const char* prefix) {
  return std::string(prefix) + commerce::Base64UrlEncode(commerce::RandomSecret()).substr(0, 24);
}

WebhookOutbox::WebhookOutbox(persistence::SqlDatabase* db, Clock* clock, std::string secret,
                             uint64_t seed)
    : db_(db),
      clock_(clock),
      secret_(std::move(secret)),
      rng_(seed ? seed : std::random_device{}()) {}

bool WebhookOutbox::Roll(double rate) {
  if (rate <= 0) return false;
  std::lock_guard<std::mutex> l(mu_);
  return std::uniform_real_distribution<double>(0, 1)(rng_) < rate;
}

Millis WebhookOutbox::Delay() {
  std::lock_guard<std::mutex> l(mu_);
  if (faults_.max_delay_ms <= 0) return 0;
  return std::uniform_int_distribution<Millis>(0, faults_.max_delay_ms)(rng_);
}

void WebhookOutbox::SetUrl(const std::string& url) {
  std::lock_guard<std::mutex> l(mu_);
  url_ = url;
}

void WebhookOutbox::SetFaults(const WebhookFaults& f) {
  std::lock_guard<std::mutex> l(mu_);
  faults_ = f;
}

Result<std::string> WebhookOutbox::Add(SqlTxn& t, const std::string& type,
                                       const json::object& object) {
  const Millis now = clock_->Now();
  std::string id = NewObjectId("evt_");
  json::object body{{"id", id},
                    {"object", "event"},
                    {"type", type},
                    {"created", now / 1000},
                    {"data", json::object{{"object", object}}}};
  KEEL_RETURN_IF_ERROR(t.Exec("INSERT INTO events(id, type, body, deliver_at) VALUES($1,$2,$3,$4)",
                              {id, type, json::serialize(body), now + Delay()})
                           .status());
  return id;
}

void WebhookOutbox::DeliverDue(const std::atomic<bool>& stop) {
  std::string url_text;
  WebhookFaults f;
  {
    std::lock_guard<std::mutex> l(mu_);
    url_text = url_;
    f = faults_;
  }
  if (url_text.empty()) return;
  auto url = http::ParseHttpUrl(url_text);
  if (!url.ok()) return;
  auto due = db_->Query(
      "SELECT seq, id, body, attempts FROM events WHERE delivered_at = 0 AND deliver_at <= $1 "
      "ORDER BY deliver_at, seq LIMIT 64",
      {clock_->Now()});
  if (!due.ok()) return;
  for (const auto& e : due.value()) {
    if (stop) return;
    const std::string body = e.Text(2);
    const int copies = Roll(f.duplicate_rate) ? 2 : 1;
    std::string error;
    for (int i = 0; i < copies && error.empty(); ++i) {
      std::string sig = http::SignWebhook(secret_, clock_->Now() / 1000, body);
      auto r = http::HttpCall(url.value(), "POST", "", body,
                              {{http::kSignatureHeader, sig}, {"Content-Type", "application/json"}},
                              {.connect_timeout_ms = 1000, .timeout_ms = 5000});
      if (!r.ok()) {
        error = r.status().ToString();
      } else if (r.value().status < 200 || r.value().status >= 300) {
        error = "HTTP " + std::to_string(r.value().status) + ": " + r.value().body.substr(0, 200);
      }
    }
    const int64_t attempts = e.Int(3) + 1;
    Status s = db_->Transact([&](SqlTxn& t) {
      if (error.empty()) {
        return t
            .Exec("UPDATE events SET delivered_at = $2, attempts = $3 WHERE seq = $1",
                  {e.Int(0), clock_->Now(), attempts})
            .status();
      }
      Millis backoff = std::min<Millis>(30'000, 200LL << std::min<int64_t>(attempts - 1, 10));
      return t
          .Exec("UPDATE events SET attempts = $2, deliver_at = $3, last_error = $4 WHERE seq = $1",
                {e.Int(0), attempts, clock_->Now() + backoff, error})
          .status();
    });
    if (!s.ok())
      spdlog::warn("webhook outbox ({}): recording a delivery: {}", db_->name(), s.ToString());
  }
}

Result<std::string> LoadWebhookSecret(persistence::SqlDatabase& db, const std::string& given) {
  std::string secret = given;
  KEEL_RETURN_IF_ERROR(db.Transact([&](SqlTxn& t) -> Status {
    if (!given.empty()) {
      secret = given;
      return t
          .Exec(
              "INSERT INTO settings(name, value) VALUES('webhook_secret', $1) ON CONFLICT(name) "
              "DO UPDATE SET value = excluded.value",
              {given})
          .status();
    }
    KEEL_ASSIGN_OR_RETURN(SqlRows r,
                          t.Query("SELECT value FROM settings WHERE name = 'webhook_secret'"));
    if (!r.empty()) {
      secret = r[0].Text(0);
      return Status::Ok();
    }
    secret = "whsec_" + commerce::Base64UrlEncode(commerce::RandomSecret());
    return t.Exec("INSERT INTO settings(name, value) VALUES('webhook_secret', $1)", {secret})
        .status();
  }));
  return secret;
}

http::RouteFn ControlRoute(std::string token, http::RouteFn fn) {
  return [token = std::move(token),
          fn = std::move(fn)](const http::ApiRequest& req) -> http::Reply {
    if (token.empty()) {
      return http::ErrorResponse(403, "control_disabled",
                                 "the simulator's controls are off; start it with --control-token");
    }
    const std::string auth = req.Header("Authorization");
    const std::string want = "Bearer " + token;
    if (auth.rfind("Bearer ", 0) != 0) {
      return http::ErrorResponse(401, "unauthenticated",
                                 "Authorization: Bearer <control token> is required");
    }
    if (auth.size() != want.size() || CRYPTO_memcmp(auth.data(), want.data(), want.size()) != 0) {
      return http::ErrorResponse(403, "forbidden", "wrong control token");
    }
    return fn(req);
  };
}

void AddWebhookUrlRoute(http::Router& router, const std::string& control_token,
                        std::function<void(const std::string&)> set_url) {
  router.Add(
      http::bhttp::verb::post, "/v1/sim/webhook",
      ControlRoute(control_token, [set_url](const http::ApiRequest& req) -> http::Reply {
        auto body = http::ParseBodyObject(req.raw);
        if (!body.ok()) return http::StatusResponse(body.status());
        auto url = http::StringField(body.value(), "url", true);
        if (!url.ok()) return http::StatusResponse(url.status());
        if (auto parsed = http::ParseHttpUrl(url.value()); !parsed.ok()) {
          return http::StatusResponse(commerce::FieldError("url", parsed.status().message()));
        }
        set_url(url.value());
        return http::JsonResponse(200, json::object{{"url", url.value()}});
      }));
}

}  // namespace keel::sims
