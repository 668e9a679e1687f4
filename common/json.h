#pragma once
// JSON helpers over Boost.JSON. Payload bytes in Keel are JSON text.

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace keel {

namespace json = boost::json;

// Parses `text`; a syntax error names the offset and what was expected.
Result<json::value> ParseJson(std::string_view text);
std::string ToJson(const json::value& v);

// Typed field access with errors that name the field.
Result<int64_t> GetInt(const json::object& o, std::string_view key, int64_t fallback,
                       bool required = false);

}  // namespace keel
