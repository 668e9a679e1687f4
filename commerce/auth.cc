#include "commerce/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <vector>

namespace keel::commerce {
namespace {

bool SodiumReady() {
  static const bool ok = sodium_init() >= 0;
  return ok;
}

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    parts.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) return parts;
    start = at + 1;
  }
}

}  // namespace

std::string_view RoleName(Role r) {
  switch (r) {
    case Role::kBuyer:
      return "buyer";
    case Role::kSeller:
      return "seller";
    case Role::kAdmin:
      return "admin";
  }
  return "buyer";
}

Result<Role> ParseRole(std::string_view name) {
  if (name == "buyer") return Role::kBuyer;
  if (name == "seller") return Role::kSeller;
  if (name == "admin") return Role::kAdmin;
  return Status::InvalidArgument("role must be buyer or seller", "validation_failed");
}

Result<std::string> HashPassword(std::string_view password) {
  if (!SodiumReady()) return Status::Internal("libsodium failed to initialise");
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    return Status::ResourceExhausted("out of memory while hashing a password");
  }
  return std::string(out);
}

bool VerifyPassword(std::string_view hash, std::string_view password) {
  if (!SodiumReady() || hash.size() >= crypto_pwhash_STRBYTES) return false;
  std::string h(hash);
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::string TokenSigner::Issue(const Principal& p) const {
  std::string payload =
      "v1|" + p.user_id + "|" + std::string(RoleName(p.role)) + "|" + std::to_string(p.expires_at);
  return Base64UrlEncode(payload) + "." + Base64UrlEncode(Hmac(secret_, payload));
}

Result<Principal> TokenSigner::Verify(std::string_view token, Millis now) const {
  const Status bad = Status::InvalidArgument("the bearer token is not valid", "invalid_token");
  if (token.size() > 1024) return bad;
  size_t dot = token.find('.');
  if (dot == std::string_view::npos) return bad;
  auto payload = Base64UrlDecode(token.substr(0, dot));
  auto mac = Base64UrlDecode(token.substr(dot + 1));
  if (!payload.ok() || !mac.ok()) return bad;
  std::string want = Hmac(secret_, payload.value());
  if (want.size() != mac->size() || CRYPTO_memcmp(want.data(), mac->data(), want.size()) != 0) {
    return bad;
  }
  auto parts = Split(payload.value(), '|');
  if (parts.size() != 4 || parts[0] != "v1") return bad;
  auto role = ParseRole(parts[2]);
  if (!role.ok()) return bad;
  Principal p{std::string(parts[1]), role.value(),
              std::strtoll(std::string(parts[3]).c_str(), nullptr, 10)};
  if (p.expires_at <= now) {
    return Status::InvalidArgument("the bearer token has expired; log in again", "token_expired");
  }
  return p;
}

std::string Base64UrlEncode(std::string_view bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

Result<std::string> Base64UrlDecode(std::string_view text) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return Status::InvalidArgument("not base64url");
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string RandomSecret() {
  (void)SodiumReady();
  std::string s(32, '\0');
  randombytes_buf(s.data(), s.size());
  return s;
}

}  // namespace keel::commerce
