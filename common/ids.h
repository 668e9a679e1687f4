#pragma once
// Random identifiers. Not for workflow code (use WorkflowContext::NewUuid).

#include <cstdint>
#include <string>

namespace keel {

// A random RFC 4122 version-4 UUID string.
std::string NewRandomUuid();
// A UUID-shaped string derived from two 64-bit words (deterministic).
std::string UuidFromWords(uint64_t hi, uint64_t lo);

}  // namespace keel
