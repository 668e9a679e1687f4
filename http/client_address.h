#pragma once
// Who a request comes from. The TCP peer is the client unless it is a trusted proxy
// (--trusted-proxies), in which case X-Forwarded-For names the client: the rightmost
// address in it that is not itself a trusted proxy. A header from anyone else is
// ignored, so a client cannot choose its own rate-limit key.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace keel::http {

class TrustedProxies {
 public:
  // "10.0.0.0/8,192.168.1.7,::1" (addresses or CIDR blocks, IPv4 or IPv6); "" trusts
  // nobody. invalid_argument naming the bad entry.
  static Result<TrustedProxies> Parse(std::string_view list);

  bool empty() const { return nets_.empty(); }
  bool Contains(std::string_view address) const;
  // The client's address for a request from `peer` carrying `forwarded_for` (the
  // X-Forwarded-For value, possibly empty).
  std::string ClientOf(const std::string& peer, std::string_view forwarded_for) const;

 private:
  struct Net {
    bool v6 = false;
    unsigned char bytes[16] = {};
    int prefix = 0;
  };
  std::vector<Net> nets_;
};

}  // namespace keel::http
