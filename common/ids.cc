#include "common/ids.h"

#include <cstdio>
#include <random>

namespace keel {

namespace {
std::string FormatUuid(uint64_t hi, uint64_t lo) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF), static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
  return buf;
}

constexpr uint64_t kVariant(uint64_t lo) {
  return (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC variant 1
}

std::mt19937_64& Gen() {
  thread_local std::mt19937_64 gen(std::random_device{}());
  return gen;
}
}  // namespace

std::string UuidFromWords(uint64_t hi, uint64_t lo) {
  return FormatUuid((hi & 0xFFFFFFFFFFFF0FFFULL) | 0x4000, kVariant(lo));  // version 4
}

std::string NewTimeOrderedUuid(int64_t unix_ms) {
  uint64_t hi = (static_cast<uint64_t>(unix_ms) << 16) | 0x7000 | (Gen()() & 0x0FFF);  // v7
  return FormatUuid(hi, kVariant(Gen()()));
}

std::string NewRandomUuid() { return UuidFromWords(Gen()(), Gen()()); }

}  // namespace keel
