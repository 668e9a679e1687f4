// Raw bytes as an HTTP/1.1 request: Beast's parser with the server's limits, then the
// server's UTF-8 rule and the router with the shop's whole route table. Nothing may
// crash; every answer is a JSON error or a route's reply.

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/utf8.h"
#include "tests/fuzz/shop_harness.h"

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto& h = keel::fuzz::ShopHarness::Get();
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_done()) return 0;
  const keel::http::Request& req = parser.get();
  if (!keel::IsValidUtf8(std::string_view(req.target().data(), req.target().size()))) return 0;
  keel::http::Response res = h.Handle(req);
  if (res.result_int() < 100 || res.result_int() > 599) __builtin_trap();
  return 0;
}
