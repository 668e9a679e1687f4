#include "engine/transitions/apply.h"

namespace keel::transitions {
namespace {

// Writes one Write; `ids` maps provisional task ids to the store's.
struct Writer {
  persistence::Txn& txn;
  Transition& t;
  std::map<int64_t, int64_t> ids;

  int64_t Id(int64_t id) const {
    if (id >= 0) return id;
    auto it = ids.find(id);
    return it == ids.end() ? id : it->second;
  }
  ExecutionRow Mapped(ExecutionRow row) const {
    row.wt_task_id = row.wt_task_id < 0 ? Id(row.wt_task_id) : row.wt_task_id;
    return row;
  }

  Status operator()(const InsertRun& w) { return txn.InsertExecution(Mapped(w.row)); }
  Status operator()(const UpdateRun& w) {
    return txn.UpdateExecution(Mapped(w.row), w.expected_version);
  }
  Status operator()(const AppendHistory& w) { return txn.AppendHistory(w.run_id, w.events); }
  Status operator()(const InsertTask& w) {
    TaskRow row = w.row;
    const int64_t provisional = row.id;
    row.id = 0;
    KEEL_ASSIGN_OR_RETURN(int64_t id, txn.InsertTask(row));
    ids[provisional] = id;
    return Status::Ok();
  }
  Status operator()(const UpdateTask& w) {
    TaskRow row = w.row;
    row.id = Id(row.id);
    return txn.UpdateTask(row);
  }
  Status operator()(const DeleteTask& w) { return txn.DeleteTask(Id(w.id)); }
  Status operator()(const ClearRun& w) {
    KEEL_RETURN_IF_ERROR(txn.DeleteTasksOfRun(w.run_id));
    return txn.DeleteTimersOfRun(w.run_id);
  }
  Status operator()(const InsertTimer& w) { return txn.InsertTimer(w.row).status(); }
  Status operator()(const DeleteTimer& w) {
    KEEL_ASSIGN_OR_RETURN(bool existed, txn.DeleteTimer(w.id));
    if (!existed) return Status::FailedPrecondition("the timer fired or was cancelled", kTimerGone);
    return Status::Ok();
  }
  Status operator()(const DeleteTimerByName& w) {
    return txn.DeleteTimerByName(w.run_id, w.timer_id).status();
  }
  Status operator()(const InsertRequestId& w) {
    KEEL_ASSIGN_OR_RETURN(bool first, txn.InsertRequestId(w.run_id, w.request_id));
    if (!first) return Status::FailedPrecondition("request applied before", kRequestSeen);
    return Status::Ok();
  }
  Status operator()(const DeleteClosedRuns& w) {
    KEEL_ASSIGN_OR_RETURN(t.reply.deleted, txn.DeleteClosedRuns(w.closed_before, w.limit));
    return Status::Ok();
  }
};

bool Moot(const Status& s) { return s.reason() == kTimerGone || s.reason() == kRequestSeen; }

}  // namespace

Status Apply(persistence::Txn& txn, Transition& t) {
  Writer writer{txn, t, {}};
  for (size_t i = 0; i < t.writes.size(); ++i) {
    Status s = std::visit(writer, t.writes[i]);
    if (s.ok()) continue;
    if (Moot(s) && i == 0) {  // nothing written yet: the transition did its work before
      t.moot = true;
      t.fx = Effects();
      return Status::Ok();
    }
    return s;
  }
  for (auto& task : t.fx.eager) task.id = writer.Id(task.id);
  return Status::Ok();
}

Status Load(persistence::Txn& txn, const Reads& reads, Snapshot& snap) {
  for (const auto& wid : reads.workflows) {
    KEEL_ASSIGN_OR_RETURN(auto run, txn.GetCurrentRunId(wid));
    snap.current[wid] = run;
    if (run && !snap.runs.count(*run)) {
      KEEL_ASSIGN_OR_RETURN(snap.runs[*run], txn.GetExecution(*run));
    }
  }
  for (int64_t id : reads.tasks) {
    KEEL_ASSIGN_OR_RETURN(auto task, txn.GetTask(id));
    snap.tasks[id] = task;
    if (task && !snap.runs.count(task->run_id)) {
      KEEL_ASSIGN_OR_RETURN(snap.runs[task->run_id], txn.GetExecution(task->run_id));
    }
  }
  for (const auto& run : reads.runs) {
    if (snap.runs.count(run)) continue;
    KEEL_ASSIGN_OR_RETURN(snap.runs[run], txn.GetExecution(run));
  }
  for (const auto& key : reads.activity_tasks) {
    KEEL_ASSIGN_OR_RETURN(snap.activity_tasks[key], txn.FindActivityTask(key.first, key.second));
  }
  for (const auto& parent : reads.children) {
    KEEL_ASSIGN_OR_RETURN(snap.children[parent], txn.ListOpenChildren(parent));
  }
  return Status::Ok();
}

}  // namespace keel::transitions
