// PgTxn: tasks. Inserts, updates and deletes wait for the flush; task ids come from
// the writer's IdBlock so an insert needs no round trip; leasing runs at once.

#include "persistence/postgres/pg_txn_impl.h"

namespace keel::persistence::pg {

Result<int64_t> PgTxn::InsertTask(const TaskRow& t) {
  if (ids_->ids.empty()) {
    KEEL_RETURN_IF_ERROR(Ahead<bool>("allocating task ids", [&] {
                           for (const auto& r : w_.exec_prepared("task_ids", 128)) {
                             ids_->ids.push_back(r[0].as<int64_t>());
                           }
                           return true;
                         }).status());
  }
  TaskRow row = t;
  row.id = ids_->ids.back();
  ids_->ids.pop_back();
  row.events.reset();
  pending_.tasks.push_back({fn_, row, true});
  DirtyTask(row);
  return row.id;
}

Result<std::optional<TaskRow>> PgTxn::GetTask(int64_t id) {
  if (dirty_tasks_.count(id)) KEEL_RETURN_IF_ERROR(Flush());
  std::optional<TaskRow> out;
  auto hit = prefetched_tasks_.find(id);
  if (hit != prefetched_tasks_.end()) {
    out = hit->second;
  } else {
    KEEL_ASSIGN_OR_RETURN(out, Ahead<std::optional<TaskRow>>("reading task", [&] {
                            std::optional<TaskRow> t;
                            auto r = w_.exec_prepared("get_task_exec", id);
                            if (!r.empty()) t = TakeTaskAndExec(r[0]);
                            return t;
                          }));
  }
  // A queued DeleteTasksOfRun has deleted it, as far as this transaction can tell.
  if (out && pending_.task_run_deletes_set.count(out->run_id)) out.reset();
  return out;
}

Status PgTxn::UpdateTask(const TaskRow& t) {
  // One flush updates a row at most once (a second match of one row would be lost).
  if (pending_.updated_tasks.count(t.id)) KEEL_RETURN_IF_ERROR(Flush());
  TaskRow row = t;
  row.events.reset();
  pending_.tasks.push_back({fn_, std::move(row), false});
  pending_.updated_tasks.insert(t.id);
  DirtyTask(t);
  return Status::Ok();
}

Status PgTxn::DeleteTask(int64_t id) {
  pending_.task_deletes.push_back({fn_, id});
  prefetched_tasks_.erase(id);
  dirty_tasks_.insert(id);
  deleted_any_task_ = true;  // its run is not known here: FindActivityTask must flush
  return Status::Ok();
}

Result<std::optional<TaskRow>> PgTxn::FindActivityTask(std::string_view run_id,
                                                       std::string_view activity_id) {
  if (deleted_any_task_ || dirty_task_runs_.count(std::string(run_id))) {
    KEEL_RETURN_IF_ERROR(Flush());
  }
  return Ahead<std::optional<TaskRow>>("reading activity task", [&] {
    auto r = w_.exec_prepared("find_activity", std::string(run_id), std::string(activity_id));
    return r.empty() ? std::optional<TaskRow>() : ReadTaskRow(r[0]);
  });
}

Status PgTxn::DeleteTasksOfRun(std::string_view run_id) {
  std::string run(run_id);
  pending_.task_run_deletes.push_back({fn_, run});
  pending_.task_run_deletes_set.insert(run);
  dirty_task_runs_.insert(run);
  return Status::Ok();
}

Result<std::vector<TaskRow>> PgTxn::LeaseTasks(std::string_view queue, TaskKind kind,
                                               std::string_view owner, Millis /*lease_ms*/,
                                               int limit) {
  if (!began_ && pending_.empty()) {
    // Most polls of a busy fleet find nothing (every process's poller hears every
    // NOTIFY): look first, in one round trip, before taking locks in a transaction.
    KEEL_ASSIGN_OR_RETURN(bool any, Ahead<bool>("polling tasks", [&] {
                            return !w_.exec_prepared("has_ready", std::string(queue),
                                                     static_cast<int>(kind), now_)
                                        .empty();
                          }));
    if (!any) return std::vector<TaskRow>();
  }
  KEEL_ASSIGN_OR_RETURN(auto out, Now<std::vector<TaskRow>>("polling tasks", [&] {
                          return LeaseStatement(w_, queue, kind, owner, now_, limit);
                        }));
  for (const TaskRow& t : out) prefetched_tasks_.erase(t.id);
  return out;
}

TaskRow PgTxn::TakeTaskAndExec(const pqxx::row& r) {
  TaskRow t = ReadTaskRow(r);
  if (!dirty_runs_.count(t.run_id)) {
    prefetched_[t.run_id] = r[17].is_null() ? std::optional<ExecutionRow>()
                                            : std::optional<ExecutionRow>(ReadExecRowAt(r, 17));
  }
  return t;
}

void PgTxn::DirtyTask(const TaskRow& t) {
  prefetched_tasks_.erase(t.id);
  dirty_tasks_.insert(t.id);
  dirty_task_runs_.insert(t.run_id);
  if (t.lease_owner.empty() && t.visible_at <= now_) {
    notify_.insert("t|" + std::to_string(static_cast<int>(t.kind)) + "|" + t.queue);
  }
}

}  // namespace keel::persistence::pg
