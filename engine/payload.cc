#include "engine/payload.h"

namespace keel {

proto::Payload ToPayload(const json::value& v) {
  proto::Payload p;
  p.set_encoding("json/plain");
  p.set_data(json::serialize(v));
  return p;
}

Result<json::value> FromPayload(const proto::Payload& p) {
  if (p.data().empty()) return json::value(nullptr);
  return ParseJson(p.data());
}

}  // namespace keel
