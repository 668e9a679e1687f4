#pragma once
// Payload <-> JSON. Keel's payloads are JSON text with encoding "json/plain".

#include "common/json.h"
#include "proto/history.pb.h"

namespace keel {

// The largest payload a run takes or makes: an input, a result, a signal, heartbeat
// details.
inline constexpr size_t kMaxPayloadBytes = 2 * 1024 * 1024;
// payload_too_large (kResourceExhausted) when `bytes` is over the limit; `what`
// names the payload in the message.
Status CheckPayload(const std::string& what, size_t bytes);

proto::Payload ToPayload(const json::value& v);
// An empty payload decodes to null; a payload that is not JSON is an error.
Result<json::value> FromPayload(const proto::Payload& p);

}  // namespace keel
