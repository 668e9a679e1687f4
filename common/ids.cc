#include "common/ids.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

#include "common/hex.h"

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

void Random(void* out, size_t n) {
  static const bool ready = [] {
    if (sodium_init() < 0) std::abort();  // no entropy source: nothing safe to do
    return true;
  }();
  (void)ready;
  randombytes_buf(out, n);
}

uint64_t Word() {
  uint64_t w;
  Random(&w, sizeof w);
  return w;
}
}  // namespace

std::string UuidFromWords(uint64_t hi, uint64_t lo) {
  return FormatUuid((hi & 0xFFFFFFFFFFFF0FFFULL) | 0x4000, kVariant(lo));  // version 4
}

std::string NewTimeOrderedUuid(int64_t unix_ms) {
  uint64_t hi = (static_cast<uint64_t>(unix_ms) << 16) | 0x7000 | (Word() & 0x0FFF);  // v7
  return FormatUuid(hi, kVariant(Word()));
}

std::string NewRandomUuid() {
  uint64_t w[2];
  Random(w, sizeof w);
  return UuidFromWords(w[0], w[1]);
}

std::string NewSecretHex(size_t bytes) {
  std::string raw(bytes, '\0');
  Random(raw.data(), raw.size());
  std::string out = HexEncode(raw);
  sodium_memzero(raw.data(), raw.size());
  return out;
}

}  // namespace keel
