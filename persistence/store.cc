#include "persistence/store.h"

#include <future>
#include <map>
#include <memory>
#include <mutex>

namespace keel::persistence {

namespace {
constexpr const char* kStatusNames[] = {"",          "running",    "completed",        "failed",
                                        "cancelled", "terminated", "continued_as_new", "timed_out"};
}  // namespace

const char* ExecutionStatusName(ExecutionStatus s) {
  int i = static_cast<int>(s);
  return (i >= 1 && i <= 7) ? kStatusNames[i] : "unknown";
}

std::optional<ExecutionStatus> ParseExecutionStatus(std::string_view name) {
  for (int i = 1; i <= 7; ++i) {
    if (name == kStatusNames[i]) return static_cast<ExecutionStatus>(i);
  }
  return std::nullopt;
}

Millis ComputeTaskDeadline(const TaskRow& row) {
  Millis d = 0;
  auto take = [&d](Millis t) {
    if (t > 0 && (d == 0 || t < d)) d = t;
  };
  if (!row.lease_owner.empty()) {
    take(row.lease_expires);
  } else {
    take(row.start_deadline);
  }
  take(row.close_deadline);
  return d;
}

Result<std::vector<TaskRow>> Store::PollTasks(std::string_view queue, TaskKind kind,
                                              std::string_view owner, int limit) {
  KEEL_ASSIGN_OR_RETURN(bool any, HasReadyTasks(queue, kind));
  std::vector<TaskRow> out;
  if (!any) return out;
  KEEL_RETURN_IF_ERROR(Transact([&](Txn& txn) -> Status {
    KEEL_ASSIGN_OR_RETURN(out, txn.LeaseTasks(queue, kind, owner, 0, limit));
    return Status::Ok();
  }));
  return out;
}

Status Store::Transact(TxnFn fn) {
  std::promise<Status> p;
  auto f = p.get_future();
  Submit(std::move(fn), [&p](const Status& s) { p.set_value(s); });
  return f.get();
}

StoreCounters& StoreCounters::For(const std::string& store) {
  // Never destroyed, as Metrics::Global(): a store's threads may count until exit.
  static auto* mu = new std::mutex;
  static auto* all = new std::map<std::string, std::unique_ptr<StoreCounters>>;
  std::lock_guard<std::mutex> l(*mu);
  auto& c = (*all)[store];
  if (!c) {
    auto& m = Metrics::Global();
    Labels labels{{"store", store}};
    c.reset(new StoreCounters{
        m.GetCounter("keel_store_commits_total", "Store transactions committed.", labels),
        m.GetCounter("keel_store_transactions_total",
                     "Transitions the committed store transactions carried.", labels),
        m.GetCounter("keel_store_rollbacks_total",
                     "Batches rolled back for one transition's sake (the others ran again).",
                     labels),
        m.GetCounter("keel_store_checkpoints_total",
                     "WAL checkpoints run: the log copied back into the database file.", labels)});
  }
  return *c;
}

}  // namespace keel::persistence
