#include "http/server.h"

#include <spdlog/async.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "common/ids.h"
#include "common/metrics.h"
#include "common/utf8.h"

namespace keel::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto kUse = asio::as_tuple(asio::use_awaitable);

Response PlainError(unsigned status, const std::string& code, const std::string& message) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  boost::json::object err{{"code", code}, {"message", message}};
  res.body() = boost::json::serialize(boost::json::object{{"error", err}});
  return res;
}

// A new request id: 64 bits, unique per process in practice. Not a secret (it is
// sent back and logged), so a per-thread generator seeded from the CSPRNG will do;
// the CSPRNG itself costs a system call per id.
std::string NewRequestId() {
  thread_local uint64_t state = [] {
    uint64_t seed = 0;
    const std::string hex = NewSecretHex(8);
    for (char c : hex) seed = seed * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
    return seed;
  }();
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);  // splitmix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(z));
  return buf;
}

// The client's X-Request-Id if it is short and plain, else a new one.
std::string RequestIdOf(const Request& req) {
  auto it = req.find("X-Request-Id");
  if (it != req.end()) {
    std::string_view v(it->value().data(), it->value().size());
    bool ok = !v.empty() && v.size() <= 64;
    for (char c : v) {
      ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.');
    }
    if (ok) return std::string(v);
  }
  return NewRequestId();
}

// Why the request is not valid UTF-8, or nullptr.
const char* InvalidUtf8(const Request& req) {
  std::string_view target(req.target().data(), req.target().size());
  if (!IsValidUtf8(target)) return "the request target";
  for (const auto& h : req) {
    if (!IsValidUtf8(std::string_view(h.value().data(), h.value().size()))) return "a header";
  }
  if (!IsValidUtf8(req.body())) return "the body";
  return nullptr;
}

// A 5xx keeps its error code (stable and documented) but loses its message: the
// detail goes to the log under the request id.
void Scrub(Response& res, const std::string& request_id, const std::string& what) {
  std::string code = "internal";
  boost::system::error_code ec;
  auto parsed = boost::json::parse(res.body(), ec);
  if (!ec && parsed.is_object()) {
    if (auto* e = parsed.as_object().if_contains("error"); e && e->is_object()) {
      if (auto* c = e->as_object().if_contains("code"); c && c->is_string()) {
        code = std::string(c->as_string());
      }
    }
  }
  spdlog::error("http {} request_id={} {}: {}", res.result_int(), request_id, what,
                res.body().substr(0, 2000));
  const bool busy = res.result() == bhttp::status::service_unavailable;
  std::string message =
      std::string(busy ? "temporarily unavailable; retry later" : "internal error") +
      " (request id " + request_id + ")";
  Response clean = PlainError(res.result_int(), code, message);
  for (const char* keep : {"Retry-After"}) {
    if (auto it = res.find(keep); it != res.end()) clean.set(keep, it->value());
  }
  res = std::move(clean);
}

}  // namespace

struct HttpServer::Impl {
  struct Session {
    explicit Session(tcp::socket s) : stream(std::move(s)) {}
    beast::tcp_stream stream;
    std::string address;
    bool busy = false;  // between reading a request and writing its response
  };

  ServerOptions opts;
  Handler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  mutable std::mutex mu;
  std::set<std::shared_ptr<Session>> sessions;
  std::map<std::string, int> per_address;
  bool stopped = false;
  std::shared_ptr<spdlog::logger> access;
  Millis last_refusal_warning = 0;

  // What the caps and deadlines do, for whoever watches the server under abuse.
  Counter& Gauge(const char* name, const char* help) {
    return Metrics::Global().GetGauge(name, help, {{"server", opts.name}});
  }
  Counter& Count(const char* name, const char* help, const char* label, const char* value) {
    return Metrics::Global().GetCounter(name, help, {{"server", opts.name}, {label, value}});
  }
  // The two gauges every connection and parked request moves, looked up once.
  Counter* open_connections = nullptr;
  Counter* parked = nullptr;
  void FindGauges() {
    open_connections = &Gauge("keel_http_connections", "Open HTTP connections.");
    parked = &Gauge("keel_http_parked_requests",
                    "Requests waiting for a deferred reply (?wait=, password hashing), holding no "
                    "thread.");
  }
  Counter& Refused(const char* cap) {
    return Count("keel_http_connections_refused_total",
                 "Connections closed as soon as accepted, by the cap they met.", "cap", cap);
  }
  Counter& DeadlinePassed(const char* phase) {
    return Count("keel_http_deadlines_total",
                 "Connections closed because a deadline passed, by what was awaited.", "phase",
                 phase);
  }

  // Admits a new connection under the caps, or names the cap it met.
  const char* Admit(const std::shared_ptr<Session>& s) {
    std::lock_guard<std::mutex> l(mu);
    if (static_cast<int>(sessions.size()) >= opts.max_connections) return "max_connections";
    int& n = per_address[s->address];
    if (n >= opts.max_connections_per_address) {
      if (n == 0) per_address.erase(s->address);
      return "max_connections_per_address";
    }
    ++n;
    sessions.insert(s);
    open_connections->Inc();
    return nullptr;
  }

  void Refuse(const std::shared_ptr<Session>& s, const char* cap) {
    Refused(cap).Inc();
    const Millis now = SystemClock::Default()->Now();
    if (now - last_refusal_warning > 10'000) {  // one line per 10 s, however many
      spdlog::warn("http {}: a connection from {} closed at once: --{} reached", opts.name,
                   s->address,
                   cap == std::string_view("max_connections") ? "max-connections"
                                                              : "max-connections-per-address");
      last_refusal_warning = now;
    }
    beast::error_code ignored;
    s->stream.socket().close(ignored);
  }

  void Forget(const std::shared_ptr<Session>& s) {
    std::lock_guard<std::mutex> l(mu);
    if (sessions.erase(s) == 0) return;
    open_connections->Inc(-1);
    auto it = per_address.find(s->address);
    if (it != per_address.end() && --it->second <= 0) per_address.erase(it);
  }

  asio::awaitable<void> Accept() {
    Millis last_warning = 0;
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kUse);
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        // Out of descriptors (or memory): accepting again at once would spin. Back
        // off so the connections that exist can finish and free some.
        const Millis now = SystemClock::Default()->Now();
        if (now - last_warning > 10'000) {
          spdlog::warn("http accept: {}; backing off (raise the open-file limit?)", ec.message());
          last_warning = now;
        }
        asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
        co_await pause.async_wait(kUse);
        continue;
      }
      auto s = std::make_shared<Session>(std::move(socket));
      beast::error_code peer_ec;
      auto ep = s->stream.socket().remote_endpoint(peer_ec);
      s->address = peer_ec ? "" : ep.address().to_string();
      if (const char* cap = Admit(s)) {
        Refuse(s, cap);
        continue;
      }
      asio::co_spawn(s->stream.get_executor(), Serve(this, s), asio::detached);
    }
  }

  // Waits, holding no thread, for a Deferred reply (or max_park_ms).
  static asio::awaitable<Response> Park(Impl* self, std::shared_ptr<Session> s, Deferred d) {
    struct Slot {
      explicit Slot(asio::any_io_executor ex) : timer(ex) {}
      std::mutex mu;
      std::optional<Response> res;
      asio::steady_timer timer;
    };
    auto slot = std::make_shared<Slot>(s->stream.get_executor());
    slot->timer.expires_after(std::chrono::milliseconds(self->opts.max_park_ms));
    Counter& parked = *self->parked;
    parked.Inc();
    d.start([slot](Response r) {
      {
        std::lock_guard<std::mutex> l(slot->mu);
        if (slot->res) return;
        slot->res = std::move(r);
      }
      // On the strand: runs only once the coroutine is suspended in its wait.
      asio::post(slot->timer.get_executor(), [slot] { slot->timer.cancel(); });
    });
    for (;;) {
      {
        std::lock_guard<std::mutex> l(slot->mu);
        if (slot->res) break;
      }
      auto [ec] = co_await slot->timer.async_wait(kUse);
      if (!ec) {  // the deadline passed with no answer
        std::lock_guard<std::mutex> l(slot->mu);
        if (!slot->res) {
          slot->res = PlainError(503, "timeout", "the request took too long");
        }
      }
    }
    parked.Inc(-1);
    std::lock_guard<std::mutex> l(slot->mu);
    co_return std::move(*slot->res);
  }

  // Reads one request: the first byte under the idle deadline, the header under
  // the header deadline, the body under the body deadline.
  enum class ReadOutcome { kRequest, kClosed, kTooLarge, kHeaderTooLarge, kMalformed };
  static asio::awaitable<ReadOutcome> ReadRequest(Impl* self, Session& s,
                                                  beast::flat_buffer& buffer,
                                                  bhttp::request_parser<bhttp::string_body>& p,
                                                  std::string* error) {
    auto ms = [](Millis v) { return std::chrono::milliseconds(v); };
    if (buffer.size() == 0) {
      s.stream.expires_after(ms(self->opts.idle_timeout_ms));
      auto [ec, n] = co_await s.stream.async_read_some(buffer.prepare(4096), kUse);
      if (ec == beast::error::timeout) self->DeadlinePassed("idle").Inc();
      if (ec || self->stopping) co_return ReadOutcome::kClosed;
      buffer.commit(n);
    }
    s.busy = true;
    s.stream.expires_after(ms(self->opts.header_timeout_ms));
    auto [hec, hn] = co_await bhttp::async_read_header(s.stream, buffer, p, kUse);
    const char* phase = "header";
    if (!hec && !p.is_done()) {
      s.stream.expires_after(ms(self->opts.body_timeout_ms));
      auto [bec, bn] = co_await bhttp::async_read(s.stream, buffer, p, kUse);
      hec = bec;
      phase = "body";
    }
    if (hec == beast::error::timeout) self->DeadlinePassed(phase).Inc();
    if (!hec) co_return ReadOutcome::kRequest;
    if (hec == bhttp::error::body_limit) co_return ReadOutcome::kTooLarge;
    if (hec == bhttp::error::header_limit) co_return ReadOutcome::kHeaderTooLarge;
    if (hec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
        hec != bhttp::error::end_of_stream && hec != bhttp::error::partial_message) {
      *error = hec.message();
      co_return ReadOutcome::kMalformed;
    }
    co_return ReadOutcome::kClosed;  // eof, reset, timeout, stop
  }

  void AccessLog(const Request* req, const Response& res, const RequestInfo& info,
                 std::chrono::steady_clock::time_point began) {
    if (!access) return;
    std::string path = req ? std::string(req->target().substr(0, req->target().find('?'))) : "-";
    access->info("method={} path={} status={} ms={:.3f} bytes={} client={} request_id={}",
                 req ? std::string(req->method_string()) : "-", path, res.result_int(),
                 SecondsSince(began) * 1000, res.body().size(),
                 info.client_ip.empty() ? "-" : info.client_ip, info.request_id);
  }

  // Arguments by value: a coroutine must not reference what its caller owns.
  static asio::awaitable<void> Serve(Impl* self, std::shared_ptr<Session> s) {
    beast::flat_buffer buffer;
    for (;;) {
      if (self->stopping) break;
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(self->opts.max_header_bytes));
      parser.body_limit(self->opts.max_body_bytes);
      std::string parse_error;
      ReadOutcome got = co_await ReadRequest(self, *s, buffer, parser, &parse_error);
      if (got == ReadOutcome::kClosed) break;
      const auto began = std::chrono::steady_clock::now();
      RequestInfo info;
      const Request* req = nullptr;
      Response res;
      bool close = true;
      if (got == ReadOutcome::kTooLarge) {
        res = PlainError(413, "payload_too_large",
                         "the request body is larger than " +
                             std::to_string(self->opts.max_body_bytes) + " bytes");
      } else if (got == ReadOutcome::kHeaderTooLarge) {
        res = PlainError(431, "headers_too_large", "the request headers are too large");
      } else if (got == ReadOutcome::kMalformed) {
        res = PlainError(400, "bad_request", "malformed HTTP request: " + parse_error);
      } else {
        req = &parser.get();
        info.request_id = RequestIdOf(*req);
        auto xff = req->find("X-Forwarded-For");
        info.client_ip = self->opts.trusted_proxies.ClientOf(
            s->address, xff == req->end()
                            ? std::string_view()
                            : std::string_view(xff->value().data(), xff->value().size()));
        close = !req->keep_alive() || self->stopping;
        if (const char* where = InvalidUtf8(*req)) {
          res = PlainError(400, "invalid_utf8", std::string(where) + " is not valid UTF-8");
        } else {
          res = co_await Handle(self, s, *req, info);
          if (res.count(kDropConnectionHeader) != 0) break;  // fault injection: reply lost
        }
        res.version(req->version());
      }
      if (res.result_int() >= 500) {
        Scrub(res, info.request_id.empty() ? NewRequestId() : info.request_id,
              req ? std::string(req->method_string()) + " " + std::string(req->target()) : "-");
      }
      if (!info.request_id.empty()) res.set("X-Request-Id", info.request_id);
      res.keep_alive(!close);
      res.prepare_payload();
      s->stream.expires_after(std::chrono::milliseconds(self->opts.write_timeout_ms));
      auto [write_ec, written] = co_await bhttp::async_write(s->stream, res, kUse);
      if (write_ec == beast::error::timeout) self->DeadlinePassed("write").Inc();
      self->AccessLog(req, res, info, began);
      s->busy = false;
      if (write_ec || close) break;
    }
    beast::error_code ignored;
    s->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    s->stream.socket().close(ignored);
    self->Forget(s);
  }

  // `req` and `info` live in the caller's frame, which is suspended on this call.
  static asio::awaitable<Response> Handle(Impl* self, std::shared_ptr<Session> s,
                                          const Request& req, const RequestInfo& info) {
    Reply reply;
    try {
      reply = self->handler(req, info);
    } catch (const std::exception& e) {
      spdlog::error("http handler {} {} request_id={}: {}", std::string(req.method_string()),
                    std::string(req.target()), info.request_id, e.what());
      co_return PlainError(500, "internal", "internal error");
    }
    if (auto* d = std::get_if<Deferred>(&reply)) co_return co_await Park(self, s, std::move(*d));
    co_return std::move(std::get<Response>(reply));
  }
};

namespace {

// The "access" logger: the default logger's sinks, written by a thread of its own so
// a request pays for formatting its line, not for the write. When the queue is full
// the oldest lines go (a burst must not slow the requests it logs).
std::shared_ptr<spdlog::logger> AccessLogger() {
  static std::mutex mu;
  std::lock_guard<std::mutex> l(mu);
  if (auto existing = spdlog::get("access")) return existing;
  static auto pool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
  auto& sinks = spdlog::default_logger()->sinks();
  auto logger = std::make_shared<spdlog::async_logger>(
      "access", sinks.begin(), sinks.end(), pool, spdlog::async_overflow_policy::overrun_oldest);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace

HttpServer::HttpServer(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(options);
  impl_->handler = std::move(handler);
  impl_->FindGauges();
  if (impl_->opts.access_log) impl_->access = AccessLogger();
}

HttpServer::~HttpServer() { Stop(0); }

int HttpServer::connections() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return static_cast<int>(impl_->sessions.size());
}

Status HttpServer::Start() {
  auto& i = *impl_;
  beast::error_code ec;
  auto addr = asio::ip::make_address(i.opts.host, ec);
  if (ec) return Status::InvalidArgument("bad listen address '" + i.opts.host + "'", "bad_address");
  tcp::endpoint ep(addr, i.opts.port);
  std::string where = i.opts.host + ":" + std::to_string(i.opts.port);
  i.acceptor.open(ep.protocol(), ec);
  if (!ec) i.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) i.acceptor.bind(ep, ec);
  if (!ec) i.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::FailedPrecondition("cannot listen on " + where + ": " + ec.message() +
                                          " (is another process using it? pick another --http)",
                                      "address_in_use");
  }
  port_ = i.acceptor.local_endpoint().port();
  asio::co_spawn(i.acceptor.get_executor(), i.Accept(), asio::detached);
  for (int t = 0; t < std::max(1, i.opts.threads); ++t) {
    i.threads.emplace_back([&i] { i.ioc.run(); });
  }
  return Status::Ok();
}

void HttpServer::Stop(Millis drain_ms) {
  auto& i = *impl_;
  if (i.stopped) return;
  i.stopped = true;
  i.stopping = true;
  asio::post(i.acceptor.get_executor(), [&i] {
    beast::error_code ignored;
    i.acceptor.close(ignored);
  });
  // Wake idle connections (they are waiting for a request and then see `stopping`);
  // busy ones finish their response and close.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(drain_ms);
  for (;;) {
    std::vector<std::shared_ptr<Impl::Session>> open;
    {
      std::lock_guard<std::mutex> l(i.mu);
      if (i.sessions.empty()) break;
      for (const auto& s : i.sessions) open.push_back(s);
    }
    for (const auto& s : open) {
      asio::post(s->stream.get_executor(), [s] {
        beast::error_code ignored;
        if (!s->busy) s->stream.socket().cancel(ignored);
      });
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  i.ioc.stop();
  for (auto& t : i.threads) {
    if (t.joinable()) t.join();
  }
  i.threads.clear();
}

Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return Status::InvalidArgument("expected HOST:PORT, got '" + text + "'", "bad_address");
  }
  std::string port = text.substr(colon + 1);
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return Status::InvalidArgument("bad port in '" + text + "'", "bad_address");
  }
  return std::make_pair(text.substr(0, colon), static_cast<uint16_t>(p));
}

long RaiseOpenFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return static_cast<long>(rl.rlim_cur);
}

}  // namespace keel::http
