#pragma once
// Credentials: argon2id password hashes (libsodium) and signed, expiring bearer
// tokens. A token is base64url(payload) "." base64url(HMAC-SHA256(secret, payload))
// with payload "v1|user_id|role|expires_unix_ms"; it is checked in constant time.

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace keel::commerce {

enum class Role : uint8_t { kBuyer, kSeller, kAdmin };
std::string_view RoleName(Role r);
Result<Role> ParseRole(std::string_view name);

struct Principal {
  std::string user_id;
  Role role = Role::kBuyer;
  Millis expires_at = 0;
};

// Hashes with argon2id at libsodium's "interactive" cost (~64 MiB, a few tens of ms).
Result<std::string> HashPassword(std::string_view password);
bool VerifyPassword(std::string_view hash, std::string_view password);

class TokenSigner {
 public:
  // `secret` must be at least 32 bytes.
  explicit TokenSigner(std::string secret) : secret_(std::move(secret)) {}
  std::string Issue(const Principal& p) const;
  // invalid_token (malformed or bad signature) or token_expired.
  Result<Principal> Verify(std::string_view token, Millis now) const;

 private:
  std::string secret_;
};

std::string Base64UrlEncode(std::string_view bytes);
Result<std::string> Base64UrlDecode(std::string_view text);
// 32 random bytes from libsodium.
std::string RandomSecret();

}  // namespace keel::commerce
