#include "http/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/json.hpp>
#include <mutex>
#include <set>

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
  res.keep_alive(false);
  res.prepare_payload();
  return res;
}

}  // namespace

struct HttpServer::Impl {
  struct Session {
    explicit Session(tcp::socket s) : stream(std::move(s)) {}
    beast::tcp_stream stream;
    bool busy = false;  // between reading a request and writing its response
  };

  ServerOptions opts;
  Handler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::set<std::shared_ptr<Session>> sessions;
  bool stopped = false;

  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kUse);
      if (ec) {
        if (stopping || ec == asio::error::operation_aborted) co_return;
        spdlog::warn("http accept: {}", ec.message());
        continue;
      }
      auto s = std::make_shared<Session>(std::move(socket));
      {
        std::lock_guard<std::mutex> l(mu);
        if (static_cast<int>(sessions.size()) >= opts.max_connections) {
          beast::error_code ignored;
          s->stream.socket().close(ignored);
          continue;
        }
        sessions.insert(s);
      }
      asio::co_spawn(s->stream.get_executor(), Serve(this, s), asio::detached);
    }
  }

  // Arguments by value: a coroutine must not reference what its caller owns.
  static asio::awaitable<void> Serve(Impl* self, std::shared_ptr<Session> s) {
    beast::flat_buffer buffer;
    RequestInfo info;
    beast::error_code ec;
    auto ep = s->stream.socket().remote_endpoint(ec);
    info.client_ip = ec ? "" : ep.address().to_string();
    for (;;) {
      if (self->stopping) break;
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(self->opts.max_header_bytes));
      parser.body_limit(self->opts.max_body_bytes);
      // Wait for the first byte with the idle deadline, then read the request under
      // the (shorter) read deadline.
      s->stream.expires_after(std::chrono::milliseconds(self->opts.idle_timeout_ms));
      if (buffer.size() == 0) {
        auto [wait_ec] = co_await s->stream.socket().async_wait(tcp::socket::wait_read, kUse);
        if (wait_ec || self->stopping) break;
      }
      s->busy = true;
      s->stream.expires_after(std::chrono::milliseconds(self->opts.read_timeout_ms));
      auto [read_ec, n] = co_await bhttp::async_read(s->stream, buffer, parser, kUse);
      Response res;
      bool close = false;
      if (read_ec == bhttp::error::end_of_stream || read_ec == asio::error::eof) {
        break;
      } else if (read_ec == bhttp::error::body_limit) {
        res = PlainError(413, "payload_too_large",
                         "the request body is larger than " +
                             std::to_string(self->opts.max_body_bytes) + " bytes");
        close = true;
      } else if (read_ec == bhttp::error::header_limit) {
        res = PlainError(431, "headers_too_large", "the request headers are too large");
        close = true;
      } else if (read_ec == beast::error::timeout || read_ec == asio::error::operation_aborted) {
        break;
      } else if (read_ec) {
        if (read_ec.category() != bhttp::make_error_code(bhttp::error::bad_method).category()) {
          break;  // a socket error, not a parse error
        }
        res = PlainError(400, "bad_request", "malformed HTTP request: " + read_ec.message());
        close = true;
      } else {
        const Request& req = parser.get();
        try {
          res = self->handler(req, info);
        } catch (const std::exception& e) {
          spdlog::error("http handler {} {}: {}", std::string(req.method_string()),
                        std::string(req.target()), e.what());
          res = PlainError(500, "internal", "internal error");
        }
        close = !req.keep_alive() || self->stopping;
        res.version(req.version());
        if (res.count(kDropConnectionHeader) != 0) {
          // Fault injection (the gateway simulator): the work is done, the reply is lost.
          break;
        }
      }
      res.keep_alive(!close);
      res.prepare_payload();
      s->stream.expires_after(std::chrono::milliseconds(self->opts.read_timeout_ms));
      auto [write_ec, written] = co_await bhttp::async_write(s->stream, res, kUse);
      s->busy = false;
      if (write_ec || close) break;
    }
    beast::error_code ignored;
    s->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    s->stream.socket().close(ignored);
    std::lock_guard<std::mutex> l(self->mu);
    self->sessions.erase(s);
  }
};

HttpServer::HttpServer(ServerOptions options, Handler handler) : impl_(std::make_unique<Impl>()) {
  impl_->opts = std::move(options);
  impl_->handler = std::move(handler);
}

HttpServer::~HttpServer() { Stop(0); }

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
    std::vector<std::shared_ptr<Impl::Session>> idle;
    {
      std::lock_guard<std::mutex> l(i.mu);
      if (i.sessions.empty()) break;
      for (const auto& s : i.sessions) idle.push_back(s);
    }
    for (const auto& s : idle) {
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

}  // namespace keel::http
