#include "http/webhook_signature.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>

#include "common/hex.h"

namespace keel::http {
namespace {

std::string HmacHex(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return HexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace

std::string SignWebhook(std::string_view secret, int64_t unix_seconds, std::string_view body) {
  std::string t = std::to_string(unix_seconds);
  return "t=" + t + ",v1=" + HmacHex(secret, t + "." + std::string(body));
}

Status VerifyWebhook(std::string_view secret, std::string_view header, std::string_view body,
                     int64_t now_unix_seconds, int64_t tolerance_seconds) {
  auto bad = [](const std::string& why) {
    return Status::InvalidArgument("webhook signature: " + why, "invalid_signature");
  };
  if (header.empty()) return bad(std::string("missing ") + kSignatureHeader + " header");
  std::string t, v1;
  size_t pos = 0;
  while (pos <= header.size()) {
    size_t comma = header.find(',', pos);
    std::string_view part =
        header.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (part.rfind("t=", 0) == 0) t = part.substr(2);
    if (part.rfind("v1=", 0) == 0) v1 = part.substr(3);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  if (t.empty() || v1.empty() || t.size() > 12) return bad("malformed header");
  char* end = nullptr;
  long long ts = std::strtoll(t.c_str(), &end, 10);
  if (*end != '\0') return bad("malformed timestamp");
  if (std::llabs(now_unix_seconds - ts) > tolerance_seconds) return bad("timestamp too old");
  std::string want = HmacHex(secret, t + "." + std::string(body));
  if (v1.size() != want.size() || CRYPTO_memcmp(v1.data(), want.data(), want.size()) != 0) {
    return bad("does not match");
  }
  return Status::Ok();
}

}  // namespace keel::http
