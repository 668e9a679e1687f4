// PgTxn: executions, current-run pointers, history and request ids.

#include "persistence/history_codec.h"
#include "persistence/postgres/pg_txn_impl.h"

namespace keel::persistence::pg {

Result<std::optional<ExecutionRow>> PgTxn::GetExecution(std::string_view run_id) {
  std::string run(run_id);
  if (dirty_runs_.count(run)) KEEL_RETURN_IF_ERROR(Flush());
  auto hit = prefetched_.find(run);
  if (hit != prefetched_.end()) return hit->second;
  return Ahead<std::optional<ExecutionRow>>("reading execution", [&] {
    auto r = w_.exec_prepared("get_exec", run);
    return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
  });
}

Result<std::optional<std::string>> PgTxn::GetCurrentRunId(std::string_view workflow_id) {
  if (dirty_wids_.count(std::string(workflow_id))) KEEL_RETURN_IF_ERROR(Flush());
  auto hit = prefetched_current_.find(std::string(workflow_id));
  if (hit != prefetched_current_.end()) return hit->second;
  return Ahead<std::optional<std::string>>("reading current run", [&] {
    auto r = w_.exec_prepared("get_current", std::string(workflow_id));
    return r.empty() ? std::optional<std::string>() : std::string(r[0][0].c_str());
  });
}

Status PgTxn::InsertExecution(const ExecutionRow& e) {
  pending_.execs.push_back({fn_, e, -1});
  pending_.currents.push_back({fn_, e.workflow_id, e.run_id});
  DirtyRun(e.run_id);
  dirty_wids_.insert(e.workflow_id);
  prefetched_current_.erase(e.workflow_id);
  if (e.status != ExecutionStatus::kRunning) Closed(e);
  return Status::Ok();
}

Status PgTxn::UpdateExecution(const ExecutionRow& e, int64_t expected_version) {
  // One flush updates a row at most once (a second match of one row would be lost).
  if (pending_.updated_runs.count(e.run_id)) KEEL_RETURN_IF_ERROR(Flush());
  ExecutionRow row = e;
  row.version = expected_version + 1;
  pending_.execs.push_back({fn_, std::move(row), expected_version});
  pending_.updated_runs.insert(e.run_id);
  DirtyRun(e.run_id);
  if (e.status != ExecutionStatus::kRunning) Closed(e);
  return Status::Ok();
}

Status PgTxn::AppendHistory(std::string_view run_id,
                            const std::vector<proto::HistoryEvent>& events) {
  if (events.empty()) return Status::Ok();
  pending_.history.push_back({fn_, std::string(run_id), events.front().event_id(),
                              events.back().event_id(), EncodeHistoryBatch(events)});
  DirtyRun(std::string(run_id));
  return Status::Ok();
}

Result<int64_t> PgTxn::DeleteClosedRuns(Millis closed_before, int limit) {
  KEEL_RETURN_IF_ERROR(Flush());
  return Now<int64_t>("deleting expired runs", [&] {
    ArrayLiteral runs;
    int64_t n = 0;
    for (const auto& r : w_.exec_prepared("expired_runs", closed_before, limit)) {
      runs.Text(r[0].c_str());
      ++n;
    }
    if (n == 0) return n;
    std::string array = runs.Take();
    for (const char* stmt :
         {"delete_run_history", "delete_run_requests", "delete_run_current", "delete_run_exec"}) {
      w_.exec_prepared(stmt, array);
    }
    ForgetPrefetched();
    return n;
  });
}

Result<std::vector<ExecutionRow>> PgTxn::ListOpenChildren(std::string_view parent_run_id) {
  KEEL_RETURN_IF_ERROR(Flush());  // children inserted or closed in this transaction count
  return Now<std::vector<ExecutionRow>>("listing child runs", [&] {
    std::vector<ExecutionRow> out;
    for (const auto& row : w_.exec_prepared("open_children", std::string(parent_run_id))) {
      out.push_back(ReadExecRow(row));
    }
    return out;
  });
}

Result<bool> PgTxn::InsertRequestId(std::string_view run_id, std::string_view request_id) {
  return InTxn<bool>("recording request id", [&] {
    return w_.exec_prepared("insert_request", std::string(run_id), std::string(request_id))
               .affected_rows() == 1;
  });
}

}  // namespace keel::persistence::pg
