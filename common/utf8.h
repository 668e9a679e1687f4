#pragma once
// UTF-8 validity (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF.
// Requests with invalid UTF-8 anywhere are refused at the HTTP edge, so no store
// ever sees such bytes (PostgreSQL would refuse them deep inside a transaction).

#include <string_view>

namespace keel {

bool IsValidUtf8(std::string_view s);

}  // namespace keel
