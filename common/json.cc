#include "common/json.h"

namespace keel {

Result<json::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  json::value v = json::parse(text, ec, {}, opts);
  if (ec) {
    return Status::InvalidArgument("malformed JSON: " + ec.message(), "malformed_json");
  }
  return v;
}

std::string ToJson(const json::value& v) { return json::serialize(v); }

Result<int64_t> GetInt(const json::object& o, std::string_view key, int64_t fallback,
                       bool required) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) {
    if (required) {
      return Status::InvalidArgument("field '" + std::string(key) + "' is required",
                                     "invalid_input");
    }
    return fallback;
  }
  const json::value& v = it->value();
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return static_cast<int64_t>(v.get_uint64());
  }
  if (v.is_double() &&
      v.get_double() == static_cast<double>(static_cast<int64_t>(v.get_double()))) {
    return static_cast<int64_t>(v.get_double());
  }
  return Status::InvalidArgument("field '" + std::string(key) + "' must be an integer",
                                 "invalid_input");
}

}  // namespace keel
