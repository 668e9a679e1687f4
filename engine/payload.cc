#include "engine/payload.h"

namespace keel {

Status CheckPayload(const std::string& what, size_t bytes) {
  if (bytes <= kMaxPayloadBytes) return Status::Ok();
  return Status::ResourceExhausted(what + " is " + std::to_string(bytes) + " bytes; the limit is " +
                                       std::to_string(kMaxPayloadBytes),
                                   "payload_too_large");
}

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
