#include "persistence/postgres/pg_sql.h"

#include <algorithm>
#include <tuple>

#include "persistence/columns.h"
#include "persistence/migrations.h"
#include "persistence/postgres/pg_write_buffer.h"

namespace keel::persistence::pg {
int LatestVersion() { return static_cast<int>(PostgresMigrations().size()); }

namespace {

// "a, b" -> "t.a, t.b"
std::string Qualified(const std::string& cols, const std::string& prefix) {
  std::string out = prefix;
  for (char c : cols) {
    out += c;
    if (c == ' ') out += prefix;
  }
  return out;
}

// "a, b" -> "NULL, NULL"
std::string Nulls(const std::string& cols) {
  std::string out = "NULL";
  for (char c : cols) {
    if (c == ',') out += ", NULL";
  }
  return out;
}

}  // namespace

std::string WithSchema(std::string sql, const std::string& schema) {
  size_t pos;
  while ((pos = sql.find("{s}")) != std::string::npos) sql.replace(pos, 3, schema);
  return sql;
}

// Every statement the store prepares, by name. {s} is the schema.
const std::map<std::string, std::string>& Statements() {
  static const std::map<std::string, std::string> m = {
      {"get_exec", std::string("SELECT ") + kExecCols + " FROM {s}.executions WHERE run_id=$1"},
      {"get_current", "SELECT run_id FROM {s}.current_executions WHERE workflow_id=$1"},
      {"read_history",
       "SELECT data FROM {s}.history WHERE run_id=$1 AND last_event_id>=$2 "
       "ORDER BY first_event_id"},
      {"read_starts",
       "SELECT run_id, data FROM {s}.history WHERE run_id = ANY($1::text[]) AND "
       "first_event_id=1"},
      {"get_task", std::string("SELECT ") + kTaskCols + " FROM {s}.tasks WHERE id=$1"},
      {"get_task_exec", "SELECT " + Qualified(kTaskCols, "t.") + ", " + Qualified(kExecCols, "e.") +
                            " FROM {s}.tasks t LEFT JOIN {s}.executions e ON e.run_id = t.run_id "
                            "WHERE t.id=$1"},
      {"task_ids", "SELECT nextval('{s}.tasks_id_seq') FROM generate_series(1, $1)"},
      {"find_activity", std::string("SELECT ") + kTaskCols +
                            " FROM {s}.tasks WHERE run_id=$1 AND activity_id=$2 AND kind=2"},
      // The lease fields of a task leased at $3 by $5, as Txn::LeaseTasks sets them;
      // the deadline is ComputeTaskDeadline of a leased task (the conformance suite
      // checks the two agree).
      {"lease",
       "UPDATE {s}.tasks x SET lease_owner=$5, lease_token=x.lease_token+1, started_at=$3, "
       "lease_expires=$3+x.lease_ms, deadline=LEAST($3+x.lease_ms, NULLIF(x.close_deadline, 0)) "
       "FROM (SELECT id FROM {s}.tasks WHERE queue=$1 AND kind=$2 AND lease_owner='' AND "
       "visible_at<=$3 ORDER BY visible_at LIMIT $4 FOR UPDATE SKIP LOCKED) s "
       "WHERE x.id=s.id RETURNING " +
           Qualified(kTaskCols, "x.")},
      {"insert_timer",
       "INSERT INTO {s}.timers(workflow_id, run_id, timer_id, fire_at) VALUES($1,$2,$3,$4) "
       "RETURNING id"},
      {"delete_timer", "DELETE FROM {s}.timers WHERE id=$1"},
      {"delete_timer_by_name", "DELETE FROM {s}.timers WHERE run_id=$1 AND timer_id=$2"},
      {"delete_timers_of_run", "DELETE FROM {s}.timers WHERE run_id=$1"},
      {"expired_runs",
       "SELECT run_id FROM {s}.executions WHERE status<>1 AND close_time>0 AND close_time<$1 "
       "ORDER BY close_time LIMIT $2"},
      {"delete_run_history", "DELETE FROM {s}.history WHERE run_id=ANY($1::text[])"},
      {"delete_run_requests", "DELETE FROM {s}.requests WHERE run_id=ANY($1::text[])"},
      {"delete_run_current", "DELETE FROM {s}.current_executions WHERE run_id=ANY($1::text[])"},
      {"delete_run_exec", "DELETE FROM {s}.executions WHERE run_id=ANY($1::text[])"},
      // The last term lets a generic plan use the partial index executions_by_parent
      // (a parameter alone cannot prove it); without it every close scanned the table.
      {"open_children", std::string("SELECT ") + kExecCols +
                            " FROM {s}.executions WHERE parent_run_id=$1 AND status=1 "
                            "AND parent_run_id <> ''"},
      {"insert_request",
       "INSERT INTO {s}.requests(run_id, request_id) VALUES($1,$2) ON CONFLICT DO NOTHING"},
      {"flush", FlushStatement()},
      // A batch's declared reads in one round trip: tasks $1 with their runs, runs $2,
      // and the current runs of workflow ids $3 (the last column names the workflow id
      // a row is current for).
      {"prefetch", "SELECT " + Qualified(kTaskCols, "t.") + ", " + Qualified(kExecCols, "e.") +
                       ", NULL::text FROM {s}.tasks t LEFT JOIN {s}.executions e "
                       "ON e.run_id = t.run_id WHERE t.id = ANY($1::bigint[]) UNION ALL SELECT " +
                       Nulls(kTaskCols) + ", " + Qualified(kExecCols, "e.") +
                       ", c.workflow_id FROM {s}.executions e LEFT JOIN {s}.current_executions c "
                       "ON c.run_id = e.run_id AND c.workflow_id = ANY($3::text[]) "
                       "WHERE e.run_id = ANY($2::text[]) OR c.workflow_id IS NOT NULL"},
      {"list_exec",
       std::string("SELECT ") + kExecCols +
           " FROM {s}.executions WHERE (start_time < $1 OR (start_time = $1 AND run_id < $2)) "
           "AND ($3 = '' OR workflow_type = $3) AND ($4 = 0 OR status = $4) "
           "AND start_time >= $5 AND ($6 = 0 OR start_time < $6) "
           "AND ($8 = '' OR left(workflow_id, length($8)) = $8) "
           "ORDER BY start_time DESC, run_id DESC LIMIT $7"},
      {"count_exec",
       "SELECT status, count(*) FROM {s}.executions WHERE ($1 = '' OR workflow_type = $1) "
       "AND start_time >= $2 AND ($3 = 0 OR start_time < $3) "
       "AND ($4 = '' OR left(workflow_id, length($4)) = $4) GROUP BY status"},
      {"count_timers", "SELECT count(*) FROM {s}.timers"},
      {"queue_tasks", std::string("SELECT ") + kTaskCols +
                          " FROM {s}.tasks WHERE queue=$1 ORDER BY visible_at, id LIMIT $2"},
      {"leased_tasks",
       std::string("SELECT ") + kTaskCols + " FROM {s}.tasks WHERE lease_owner <> '' LIMIT $1"},
      {"tasks_of_run",
       std::string("SELECT ") + kTaskCols + " FROM {s}.tasks WHERE run_id=$1 ORDER BY id"},
      {"due_timers",
       "SELECT id, workflow_id, run_id, timer_id, fire_at FROM {s}.timers WHERE fire_at<=$1 "
       "ORDER BY fire_at LIMIT $2"},
      {"due_deadlines", std::string("SELECT ") + kTaskCols +
                            " FROM {s}.tasks WHERE deadline>0 AND deadline<=$1 "
                            "ORDER BY deadline LIMIT $2"},
      {"next_wake",
       "SELECT LEAST((SELECT min(fire_at) FROM {s}.timers), "
       "(SELECT min(deadline) FROM {s}.tasks WHERE deadline>0), "
       "(SELECT min(visible_at) FROM {s}.tasks WHERE lease_owner='' AND visible_at>$1))"},
      {"has_ready",
       "SELECT 1 FROM {s}.tasks WHERE queue=$1 AND kind=$2 AND lease_owner='' AND "
       "visible_at<=$3 LIMIT 1"},
      {"queue_stats",
       "SELECT queue, "
       "count(*) FILTER (WHERE lease_owner='' AND visible_at<=$1), "
       "count(*) FILTER (WHERE lease_owner<>''), "
       "count(*) FILTER (WHERE lease_owner='' AND visible_at>$1), "
       "coalesce(min(visible_at) FILTER (WHERE lease_owner='' AND visible_at<=$1), 0) "
       "FROM {s}.tasks GROUP BY queue ORDER BY queue"},
      {"record_poller",
       "WITH up AS (INSERT INTO {s}.pollers(queue, kind, identity, last_poll_at) "
       "VALUES($1, $2, $3, $4) ON CONFLICT(queue, kind, identity) "
       "DO UPDATE SET last_poll_at=excluded.last_poll_at) "
       "DELETE FROM {s}.pollers WHERE last_poll_at<$5"},
      {"list_pollers",
       "SELECT queue, kind, identity, last_poll_at FROM {s}.pollers WHERE last_poll_at>=$1 "
       "ORDER BY queue, kind, identity"},
      {"schema_version", "SELECT version FROM {s}.schema_version"},
  };
  return m;
}

std::string Bin(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

// The execution columns (kExecCols order) starting at column `at`.
ExecutionRow ReadExecRowAt(const pqxx::row& r, int at) {
  ExecutionRow e;
  e.run_id = r[at + 0].c_str();
  e.workflow_id = r[at + 1].c_str();
  e.workflow_type = r[at + 2].c_str();
  e.task_queue = r[at + 3].c_str();
  e.status = static_cast<ExecutionStatus>(r[at + 4].as<int>());
  e.version = r[at + 5].as<int64_t>();
  e.next_event_id = r[at + 6].as<int64_t>();
  e.wt_task_id = r[at + 7].as<int64_t>();
  e.start_time = r[at + 8].as<int64_t>();
  e.close_time = r[at + 9].as<int64_t>();
  e.result = Bin(r[at + 10]);
  e.failure = Bin(r[at + 11]);
  e.wt_failure = Bin(r[at + 12]);
  e.parent_run_id = r[at + 13].c_str();
  e.parent = Bin(r[at + 14]);
  e.children = r[at + 15].as<int64_t>();
  return e;
}
ExecutionRow ReadExecRow(const pqxx::row& r) { return ReadExecRowAt(r, 0); }

TaskRow ReadTaskRow(const pqxx::row& r) {
  TaskRow t;
  t.id = r[0].as<int64_t>();
  t.queue = r[1].c_str();
  t.kind = static_cast<TaskKind>(r[2].as<int>());
  t.workflow_id = r[3].c_str();
  t.run_id = r[4].c_str();
  t.activity_id = r[5].c_str();
  t.attempt = r[6].as<int>();
  t.visible_at = r[7].as<int64_t>();
  t.lease_owner = r[8].c_str();
  t.lease_token = r[9].as<int64_t>();
  t.lease_expires = r[10].as<int64_t>();
  t.lease_ms = r[11].as<int64_t>();
  t.started_at = r[12].as<int64_t>();
  t.start_deadline = r[13].as<int64_t>();
  t.close_deadline = r[14].as<int64_t>();
  t.deadline = r[15].as<int64_t>();
  t.info = Bin(r[16]);
  return t;
}

// Leases up to `limit` ready tasks in one statement ("lease"), oldest first.
std::vector<TaskRow> LeaseStatement(pqxx::transaction_base& t, std::string_view queue,
                                    TaskKind kind, std::string_view owner, Millis now, int limit) {
  std::vector<TaskRow> rows;
  for (const auto& row : t.exec_prepared("lease", std::string(queue), static_cast<int>(kind), now,
                                         limit, std::string(owner))) {
    rows.push_back(ReadTaskRow(row));
  }
  std::sort(rows.begin(), rows.end(), [](const TaskRow& a, const TaskRow& b) {
    return std::tie(a.visible_at, a.id) < std::tie(b.visible_at, b.id);
  });
  return rows;
}

// One connection with every statement prepared.
std::unique_ptr<pqxx::connection> Connect(const PostgresOptions& o) {
  auto c = std::make_unique<pqxx::connection>(o.url);
  for (const auto& [name, sql] : Statements()) c->prepare(name, WithSchema(sql, o.schema));
  return c;
}

std::string Channel(const std::string& schema) { return "keel_" + schema; }

}  // namespace keel::persistence::pg
