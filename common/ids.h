#pragma once
// Random identifiers, from the operating system's CSPRNG (libsodium), so an id that
// works as a bearer credential (a guest cart, an admin token) cannot be guessed.
// Not for workflow code (use WorkflowContext::NewUuid, which replays).

#include <cstdint>
#include <string>

namespace keel {

// A random RFC 4122 version-4 UUID string (122 random bits).
std::string NewRandomUuid();
// A time-ordered UUID (RFC 9562 version 7: 48-bit Unix ms, then random bits). Ids
// made close in time sort close together, so B-tree inserts keyed by them stay on a
// few pages instead of touching a random page each.
std::string NewTimeOrderedUuid(int64_t unix_ms);
// A UUID-shaped string derived from two 64-bit words (deterministic).
std::string UuidFromWords(uint64_t hi, uint64_t lo);
// `bytes` random bytes as lower-case hex: a bearer id or secret (16 bytes = 128 bits).
std::string NewSecretHex(size_t bytes = 16);

}  // namespace keel
