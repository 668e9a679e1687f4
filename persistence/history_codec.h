#pragma once
// Encoding of stored history batches (docs/history_format.md). Shared by backends.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/history.pb.h"

namespace keel::persistence {

// The batch format this binary writes. A batch with a larger format_version, or
// an event whose kind this binary does not know, was written by a newer Keel.
inline constexpr uint32_t kHistoryFormatVersion = 1;

std::string EncodeHistoryBatch(const std::vector<proto::HistoryEvent>& events);
// Appends the batch's events with id >= from_event_id to *out.
Status DecodeHistoryBatch(std::string_view blob, int64_t from_event_id,
                          std::vector<proto::HistoryEvent>* out);
// The first event of each run's first batch, by run id (Store::ReadStartEvents);
// `batches` holds (run id, encoded batch) pairs.
Result<std::map<std::string, proto::HistoryEvent>> FirstEvents(
    const std::vector<std::pair<std::string, std::string>>& batches);

}  // namespace keel::persistence
