#pragma once
// Payload <-> JSON. Keel's payloads are JSON text with encoding "json/plain".

#include "common/json.h"
#include "proto/history.pb.h"

namespace keel {

proto::Payload ToPayload(const json::value& v);
// An empty payload decodes to null; a payload that is not JSON is an error.
Result<json::value> FromPayload(const proto::Payload& p);

}  // namespace keel
