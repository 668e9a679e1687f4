#include "persistence/history_codec.h"

namespace keel::persistence {

std::string EncodeHistoryBatch(const std::vector<proto::HistoryEvent>& events) {
  proto::HistoryBatch batch;
  batch.set_format_version(kHistoryFormatVersion);
  batch.mutable_events()->Reserve(static_cast<int>(events.size()));
  for (const auto& e : events) *batch.add_events() = e;
  return batch.SerializeAsString();
}

Status DecodeHistoryBatch(std::string_view blob, int64_t from_event_id,
                          std::vector<proto::HistoryEvent>* out) {
  proto::HistoryBatch batch;
  if (!batch.ParseFromArray(blob.data(), static_cast<int>(blob.size()))) {
    return Status::Corruption("a stored history batch does not parse", "history_corrupt");
  }
  if (batch.format_version() > kHistoryFormatVersion) {
    return Status::FailedPrecondition(
        "history batch has format version " + std::to_string(batch.format_version()) +
            ", newer than this binary reads (" + std::to_string(kHistoryFormatVersion) +
            "); run a newer keel",
        "history_format_too_new");
  }
  for (auto& e : *batch.mutable_events()) {
    if (e.event_id() < from_event_id) continue;
    if (e.attributes_case() == proto::HistoryEvent::ATTRIBUTES_NOT_SET) {
      return Status::FailedPrecondition(
          "history event " + std::to_string(e.event_id()) +
              " has a kind this binary does not know; it was written by a newer keel",
          "history_format_too_new");
    }
    out->push_back(std::move(e));
  }
  return Status::Ok();
}

Result<std::map<std::string, proto::HistoryEvent>> FirstEvents(
    const std::vector<std::pair<std::string, std::string>>& batches) {
  std::map<std::string, proto::HistoryEvent> out;
  for (const auto& [run_id, blob] : batches) {
    std::vector<proto::HistoryEvent> events;
    KEEL_RETURN_IF_ERROR(DecodeHistoryBatch(blob, 1, &events));
    if (!events.empty()) out[run_id] = std::move(events.front());
  }
  return out;
}

}  // namespace keel::persistence
