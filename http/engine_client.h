#pragma once
// An engine client (engine/client.h) that reaches a keel serve's engine API over HTTP:
// what `keel workflow ... --address` and `keel taskqueue list --address` use. An error
// answer becomes a Status with the server's code and message.

#include <memory>
#include <string>

#include "engine/client.h"
#include "http/client.h"

namespace keel::http {

std::unique_ptr<EngineClient> MakeRemoteEngineClient(Url base, std::string admin_token);

// Percent-encodes a path segment or query value.
std::string PercentEncode(const std::string& s);

}  // namespace keel::http
