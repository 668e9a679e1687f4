#include "http/client_address.h"

#include <boost/asio/ip/address.hpp>
#include <cstring>

namespace keel::http {
namespace {

namespace ip = boost::asio::ip;

// An address as 16 bytes (IPv4 mapped into IPv6 space is kept apart by `v6`).
bool ToBytes(std::string_view text, bool* v6, unsigned char out[16]) {
  boost::system::error_code ec;
  ip::address a = ip::make_address(std::string(text), ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    a = ip::make_address_v4(ip::v4_mapped, a.to_v6());
  }
  std::memset(out, 0, 16);
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    std::memcpy(out, b.data(), 4);
    *v6 = false;
  } else {
    auto b = a.to_v6().to_bytes();
    std::memcpy(out, b.data(), 16);
    *v6 = true;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<TrustedProxies> TrustedProxies::Parse(std::string_view list) {
  TrustedProxies t;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    std::string_view entry = Trim(list.substr(start, comma - start));
    start = comma + 1;
    if (entry.empty()) continue;
    Net n;
    size_t slash = entry.find('/');
    std::string_view addr = entry.substr(0, slash);
    if (!ToBytes(addr, &n.v6, n.bytes)) {
      return Status::InvalidArgument(
          "--trusted-proxies: '" + std::string(entry) + "' is not an IP address or CIDR block",
          "usage");
    }
    const int max = n.v6 ? 128 : 32;
    n.prefix = max;
    if (slash != std::string_view::npos) {
      std::string bits(entry.substr(slash + 1));
      char* end = nullptr;
      long p = std::strtol(bits.c_str(), &end, 10);
      if (bits.empty() || *end != '\0' || p < 0 || p > max) {
        return Status::InvalidArgument(
            "--trusted-proxies: bad prefix length in '" + std::string(entry) + "'", "usage");
      }
      n.prefix = static_cast<int>(p);
    }
    t.nets_.push_back(n);
  }
  return t;
}

bool TrustedProxies::Contains(std::string_view address) const {
  if (nets_.empty()) return false;
  bool v6 = false;
  unsigned char b[16];
  if (!ToBytes(address, &v6, b)) return false;
  for (const Net& n : nets_) {
    if (n.v6 != v6) continue;
    int bits = n.prefix;
    bool match = true;
    for (int i = 0; i < 16 && bits > 0 && match; ++i, bits -= 8) {
      const unsigned char mask = bits >= 8 ? 0xFF : static_cast<unsigned char>(0xFF << (8 - bits));
      match = (b[i] & mask) == (n.bytes[i] & mask);
    }
    if (match) return true;
  }
  return false;
}

std::string TrustedProxies::ClientOf(const std::string& peer,
                                     std::string_view forwarded_for) const {
  if (forwarded_for.empty() || !Contains(peer)) return peer;
  // Walk right to left: each hop appended the address it saw. The first hop that is
  // not one of ours is the client; anything left of it could be forged.
  std::string client = peer;
  size_t end = forwarded_for.size();
  while (true) {
    size_t comma = forwarded_for.rfind(',', end == 0 ? 0 : end - 1);
    const size_t begin = comma == std::string_view::npos ? 0 : comma + 1;
    std::string_view hop = Trim(forwarded_for.substr(begin, end - begin));
    bool v6 = false;
    unsigned char b[16];
    if (hop.empty() || !ToBytes(hop, &v6, b)) return client;  // garbage: stop at what we trust
    client = std::string(hop);
    if (!Contains(hop) || comma == std::string_view::npos) return client;
    end = comma;
  }
}

}  // namespace keel::http
