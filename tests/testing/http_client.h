#pragma once
// A small blocking HTTP/1.1 client for tests: one keep-alive connection to a
// loopback port, over real sockets (Boost.Beast).

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <map>
#include <string>

#include "common/json.h"

namespace keel::testutil {

struct HttpResult {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  json::value Json() const;
  // The error code of an error response, or "".
  std::string ErrorCode() const;
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port) : port_(port) {}
  HttpResult Call(const std::string& method, const std::string& target,
                  const std::string& body = "",
                  const std::map<std::string, std::string>& headers = {});
  // With "Authorization: Bearer <token>" added when token is not empty.
  HttpResult Call(const std::string& method, const std::string& target, const std::string& body,
                  const std::string& token, std::map<std::string, std::string> headers = {});

 private:
  void Connect();
  uint16_t port_;
  boost::asio::io_context ioc_;
  std::unique_ptr<boost::beast::tcp_stream> stream_;
};

}  // namespace keel::testutil
