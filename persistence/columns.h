#pragma once
// The engine tables' column lists, in the order both stores' row readers expect
// (ExecutionRow and TaskRow field by field): one list for SQLite and PostgreSQL.

namespace keel::persistence {

inline constexpr const char* kExecCols =
    "run_id, workflow_id, workflow_type, task_queue, status, version, next_event_id, "
    "wt_task_id, start_time, close_time, result, failure, wt_failure, parent_run_id, parent, "
    "children";
inline constexpr const char* kTaskCols =
    "id, queue, kind, workflow_id, run_id, activity_id, attempt, visible_at, lease_owner, "
    "lease_token, lease_expires, lease_ms, started_at, start_deadline, close_deadline, deadline, "
    "info";

}  // namespace keel::persistence
