#include "persistence/postgres/postgres_store.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <thread>

#include "persistence/history_codec.h"

namespace keel::persistence {
namespace {

// Each entry upgrades the schema by one version; the numbering matches the SQLite
// store's. {s} is the schema name. Never edit a shipped entry.
const char* const kMigrations[] = {
    // v1: the engine's tables.
    R"sql(
CREATE TABLE {s}.executions(
  run_id TEXT PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  workflow_type TEXT NOT NULL,
  task_queue TEXT NOT NULL,
  status INT NOT NULL,
  version BIGINT NOT NULL,
  next_event_id BIGINT NOT NULL,
  wt_task_id BIGINT NOT NULL,
  start_time BIGINT NOT NULL,
  close_time BIGINT NOT NULL,
  result BYTEA NOT NULL,
  failure BYTEA NOT NULL,
  wt_failure BYTEA NOT NULL
);
CREATE INDEX executions_by_start ON {s}.executions(start_time DESC, run_id DESC);
CREATE INDEX executions_by_workflow_id ON {s}.executions(workflow_id);
CREATE TABLE {s}.current_executions(
  workflow_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL
);
CREATE TABLE {s}.history(
  run_id TEXT NOT NULL,
  first_event_id BIGINT NOT NULL,
  last_event_id BIGINT NOT NULL,
  data BYTEA NOT NULL,
  PRIMARY KEY(run_id, first_event_id)
);
CREATE TABLE {s}.tasks(
  id BIGSERIAL PRIMARY KEY,
  queue TEXT NOT NULL,
  kind INT NOT NULL,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  activity_id TEXT NOT NULL,
  attempt INT NOT NULL,
  visible_at BIGINT NOT NULL,
  lease_owner TEXT NOT NULL,
  lease_token BIGINT NOT NULL,
  lease_expires BIGINT NOT NULL,
  lease_ms BIGINT NOT NULL,
  started_at BIGINT NOT NULL,
  start_deadline BIGINT NOT NULL,
  close_deadline BIGINT NOT NULL,
  deadline BIGINT NOT NULL,
  info BYTEA NOT NULL
);
CREATE INDEX tasks_ready ON {s}.tasks(queue, kind, visible_at) WHERE lease_owner = '';
CREATE INDEX tasks_deadline ON {s}.tasks(deadline) WHERE deadline > 0;
CREATE INDEX tasks_by_run ON {s}.tasks(run_id, activity_id);
CREATE TABLE {s}.timers(
  id BIGSERIAL PRIMARY KEY,
  workflow_id TEXT NOT NULL,
  run_id TEXT NOT NULL,
  timer_id TEXT NOT NULL,
  fire_at BIGINT NOT NULL
);
CREATE INDEX timers_fire ON {s}.timers(fire_at);
CREATE INDEX timers_by_run ON {s}.timers(run_id, timer_id);
)sql",
    // v2: client request ids, so retried signals and cancel requests apply once.
    R"sql(
CREATE TABLE {s}.requests(
  run_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  PRIMARY KEY(run_id, request_id)
);
)sql",
    // v3: child runs know their parent, so a closing child reports to it and a
    // closing parent finds its open children.
    R"sql(
ALTER TABLE {s}.executions ADD COLUMN parent_run_id TEXT NOT NULL DEFAULT '';
ALTER TABLE {s}.executions ADD COLUMN parent BYTEA NOT NULL DEFAULT '';
ALTER TABLE {s}.executions ADD COLUMN children BIGINT NOT NULL DEFAULT 0;
CREATE INDEX executions_by_parent ON {s}.executions(parent_run_id, status) WHERE parent_run_id <> '';
CREATE INDEX executions_by_close ON {s}.executions(close_time) WHERE status <> 1;
)sql",
};
constexpr int kLatestVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

constexpr const char* kExecCols =
    "run_id, workflow_id, workflow_type, task_queue, status, version, next_event_id, "
    "wt_task_id, start_time, close_time, result, failure, wt_failure, parent_run_id, parent, "
    "children";
constexpr const char* kTaskCols =
    "id, queue, kind, workflow_id, run_id, activity_id, attempt, visible_at, lease_owner, "
    "lease_token, lease_expires, lease_ms, started_at, start_deadline, close_deadline, deadline, "
    "info";

// "a, b" -> "t.a, t.b"
std::string Qualified(const std::string& cols, const std::string& prefix) {
  std::string out = prefix;
  for (char c : cols) {
    out += c;
    if (c == ' ') out += prefix;
  }
  return out;
}

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
      {"insert_exec", std::string("INSERT INTO {s}.executions(") + kExecCols +
                          ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"},
      {"set_current",
       "INSERT INTO {s}.current_executions(workflow_id, run_id) VALUES($1,$2) "
       "ON CONFLICT (workflow_id) DO UPDATE SET run_id=EXCLUDED.run_id"},
      {"update_exec",
       "UPDATE {s}.executions SET workflow_id=$2, workflow_type=$3, task_queue=$4, status=$5, "
       "version=$6, next_event_id=$7, wt_task_id=$8, start_time=$9, close_time=$10, result=$11, "
       "failure=$12, wt_failure=$13 WHERE run_id=$1 AND version=$14"},
      {"append_history",
       "INSERT INTO {s}.history(run_id, first_event_id, last_event_id, data) "
       "VALUES($1,$2,$3,$4)"},
      {"read_history",
       "SELECT data FROM {s}.history WHERE run_id=$1 AND last_event_id>=$2 "
       "ORDER BY first_event_id"},
      {"insert_task",
       "INSERT INTO {s}.tasks(queue, kind, workflow_id, run_id, activity_id, attempt, "
       "visible_at, lease_owner, lease_token, lease_expires, lease_ms, started_at, start_deadline, "
       "close_deadline, deadline, info) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,"
       "$15,$16) RETURNING id"},
      {"get_task", std::string("SELECT ") + kTaskCols + " FROM {s}.tasks WHERE id=$1"},
      {"get_task_exec", "SELECT " + Qualified(kTaskCols, "t.") + ", " + Qualified(kExecCols, "e.") +
                            " FROM {s}.tasks t LEFT JOIN {s}.executions e ON e.run_id = t.run_id "
                            "WHERE t.id=$1"},
      {"task_ids", "SELECT nextval('{s}.tasks_id_seq') FROM generate_series(1, $1)"},
      {"update_task",
       "UPDATE {s}.tasks SET queue=$2, kind=$3, workflow_id=$4, run_id=$5, activity_id=$6, "
       "attempt=$7, visible_at=$8, lease_owner=$9, lease_token=$10, lease_expires=$11, "
       "lease_ms=$12, started_at=$13, start_deadline=$14, close_deadline=$15, deadline=$16, "
       "info=$17 WHERE id=$1"},
      {"delete_task", "DELETE FROM {s}.tasks WHERE id=$1"},
      {"find_activity", std::string("SELECT ") + kTaskCols +
                            " FROM {s}.tasks WHERE run_id=$1 AND activity_id=$2 AND kind=2"},
      {"delete_tasks_of_run", "DELETE FROM {s}.tasks WHERE run_id=$1"},
      {"lease_select", std::string("SELECT ") + kTaskCols +
                           " FROM {s}.tasks WHERE queue=$1 AND kind=$2 AND lease_owner='' AND "
                           "visible_at<=$3 ORDER BY visible_at LIMIT $4 FOR UPDATE SKIP LOCKED"},
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
      {"open_children", std::string("SELECT ") + kExecCols +
                            " FROM {s}.executions WHERE parent_run_id=$1 AND status=1"},
      {"insert_request",
       "INSERT INTO {s}.requests(run_id, request_id) VALUES($1,$2) ON CONFLICT DO NOTHING"},
      {"notify", "SELECT pg_notify($1, $2)"},
      {"list_exec",
       std::string("SELECT ") + kExecCols +
           " FROM {s}.executions WHERE (start_time < $1 OR (start_time = $1 AND run_id < $2)) "
           "AND ($3 = '' OR workflow_type = $3) AND ($4 = 0 OR status = $4) "
           "AND start_time >= $5 AND ($6 = 0 OR start_time < $6) "
           "ORDER BY start_time DESC, run_id DESC LIMIT $7"},
      {"count_timers", "SELECT count(*) FROM {s}.timers"},
      {"queue_tasks", std::string("SELECT ") + kTaskCols +
                          " FROM {s}.tasks WHERE queue=$1 ORDER BY visible_at, id LIMIT $2"},
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

// One connection with every statement prepared.
std::unique_ptr<pqxx::connection> Connect(const PostgresOptions& o) {
  auto c = std::make_unique<pqxx::connection>(o.url);
  for (const auto& [name, sql] : Statements()) c->prepare(name, WithSchema(sql, o.schema));
  return c;
}

std::string Channel(const std::string& schema) { return "keel_" + schema; }

// Task ids come from the sequence in blocks, so inserting a task needs no round trip
// for its id. One per writer connection.
struct IdBlock {
  std::vector<int64_t> ids;
};

// One batch's transaction. Writes whose answer nobody needs wait, grouped by kind, and
// go to the server together as a few multi-row statements in one pipelined round trip:
// before the next read that could see them, before any statement that must run now,
// and before COMMIT. Version-checked execution updates report the runs they hit
// (RETURNING), so a conflict is pinned on the TxnFn that queued it. GetTask also
// fetches the task's execution row. A typical transition costs one round trip plus its
// share of the batch's flush.
class PgTxn final : public Txn {
 public:
  PgTxn(pqxx::work& w, Millis now, const std::string& schema, const std::string& channel,
        IdBlock* ids)
      : w_(w), now_(now), s_(schema), channel_(channel), ids_(ids) {}

  Millis Now() const override { return now_; }
  void BeginFn(size_t index) { fn_ = index; }
  bool aborted() const { return !culprits_.empty(); }
  // TxnFns whose writes made the transaction fail, with why.
  const std::map<size_t, Status>& culprits() const { return culprits_; }
  // Whether any write of TxnFn `index` has reached the server.
  bool Flushed(size_t index) const { return flushed_fns_.count(index) > 0; }
  // Forgets the queued writes of a TxnFn that failed before they were sent.
  void DropPending(size_t index) { pending_.Drop(index); }

  Result<std::optional<ExecutionRow>> GetExecution(std::string_view run_id) override {
    std::string run(run_id);
    if (dirty_runs_.count(run)) KEEL_RETURN_IF_ERROR(Flush());
    auto hit = prefetched_.find(run);
    if (hit != prefetched_.end()) return hit->second;
    return Now<std::optional<ExecutionRow>>("reading execution", [&] {
      auto r = w_.exec_prepared("get_exec", run);
      return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
    });
  }
  Result<std::optional<std::string>> GetCurrentRunId(std::string_view workflow_id) override {
    if (dirty_wids_.count(std::string(workflow_id))) KEEL_RETURN_IF_ERROR(Flush());
    return Now<std::optional<std::string>>("reading current run", [&] {
      auto r = w_.exec_prepared("get_current", std::string(workflow_id));
      return r.empty() ? std::optional<std::string>() : std::string(r[0][0].c_str());
    });
  }
  Status InsertExecution(const ExecutionRow& e) override {
    pending_.exec_inserts.push_back({fn_, "(" + ExecValues(e, e.version) + ")"});
    pending_.current_sets.push_back({fn_, "(" + Q(e.workflow_id) + "," + Q(e.run_id) + ")"});
    DirtyRun(e.run_id);
    dirty_wids_.insert(e.workflow_id);
    if (e.status != ExecutionStatus::kRunning) Closed(e);
    return Status::Ok();
  }
  Status UpdateExecution(const ExecutionRow& e, int64_t expected_version) override {
    pending_.exec_updates.push_back({fn_, "(" + ExecValues(e, expected_version + 1) + "," +
                                              std::to_string(expected_version) + ")"});
    pending_.update_runs.push_back(e.run_id);
    DirtyRun(e.run_id);
    if (e.status != ExecutionStatus::kRunning) Closed(e);
    return Status::Ok();
  }
  Status AppendHistory(std::string_view run_id,
                       const std::vector<proto::HistoryEvent>& events) override {
    if (events.empty()) return Status::Ok();
    pending_.history.push_back({fn_, "(" + Q(run_id) + "," +
                                         std::to_string(events.front().event_id()) + "," +
                                         std::to_string(events.back().event_id()) + "," +
                                         w_.quote_raw(EncodeHistoryBatch(events)) + ")"});
    DirtyRun(std::string(run_id));
    return Status::Ok();
  }
  Result<int64_t> InsertTask(const TaskRow& t) override {
    if (ids_->ids.empty()) {
      KEEL_RETURN_IF_ERROR(Now<bool>("allocating task ids", [&] {
                             for (const auto& r : w_.exec_prepared("task_ids", 128)) {
                               ids_->ids.push_back(r[0].as<int64_t>());
                             }
                             return true;
                           }).status());
    }
    TaskRow row = t;
    row.id = ids_->ids.back();
    ids_->ids.pop_back();
    pending_.task_inserts.push_back({fn_, "(" + TaskValues(row) + ")"});
    DirtyTask(row);
    return row.id;
  }
  Result<std::optional<TaskRow>> GetTask(int64_t id) override {
    if (dirty_tasks_.count(id)) KEEL_RETURN_IF_ERROR(Flush());
    return Now<std::optional<TaskRow>>("reading task", [&] {
      auto r = w_.exec_prepared("get_task_exec", id);
      if (r.empty()) return std::optional<TaskRow>();
      TaskRow t = ReadTaskRow(r[0]);
      if (!dirty_runs_.count(t.run_id)) {
        prefetched_[t.run_id] = r[0][17].is_null()
                                    ? std::optional<ExecutionRow>()
                                    : std::optional<ExecutionRow>(ReadExecRowAt(r[0], 17));
      }
      return std::optional<TaskRow>(std::move(t));
    });
  }
  Status UpdateTask(const TaskRow& t) override {
    pending_.task_updates.push_back({fn_, "(" + TaskValues(t) + ")"});
    DirtyTask(t);
    return Status::Ok();
  }
  Status DeleteTask(int64_t id) override {
    pending_.task_deletes.push_back({fn_, std::to_string(id)});
    dirty_tasks_.insert(id);
    return Status::Ok();
  }
  Result<std::optional<TaskRow>> FindActivityTask(std::string_view run_id,
                                                  std::string_view activity_id) override {
    if (!dirty_tasks_.empty()) KEEL_RETURN_IF_ERROR(Flush());
    return Now<std::optional<TaskRow>>("reading activity task", [&] {
      auto r = w_.exec_prepared("find_activity", std::string(run_id), std::string(activity_id));
      return r.empty() ? std::optional<TaskRow>() : ReadTaskRow(r[0]);
    });
  }
  Status DeleteTasksOfRun(std::string_view run_id) override {
    return Now<bool>("deleting tasks",
                     [&] {
                       w_.exec_prepared("delete_tasks_of_run", std::string(run_id));
                       return true;
                     })
        .status();
  }
  Result<std::vector<TaskRow>> LeaseTasks(std::string_view queue, TaskKind kind,
                                          std::string_view owner, Millis /*lease_ms*/,
                                          int limit) override {
    KEEL_ASSIGN_OR_RETURN(
        auto out, Now<std::vector<TaskRow>>("polling tasks", [&] {
          std::vector<TaskRow> rows;
          for (const auto& row : w_.exec_prepared("lease_select", std::string(queue),
                                                  static_cast<int>(kind), now_, limit)) {
            rows.push_back(ReadTaskRow(row));
          }
          return rows;
        }));
    for (TaskRow& t : out) {
      t.lease_owner = std::string(owner);
      t.lease_token += 1;
      t.started_at = now_;
      t.lease_expires = now_ + t.lease_ms;
      t.deadline = ComputeTaskDeadline(t);
      KEEL_RETURN_IF_ERROR(UpdateTask(t));
    }
    return out;
  }
  Result<int64_t> InsertTimer(const TimerRow& t) override {
    return Now<int64_t>("inserting timer", [&] {
      return w_.exec_prepared("insert_timer", t.workflow_id, t.run_id, t.timer_id, t.fire_at)[0][0]
          .as<int64_t>();
    });
  }
  Result<bool> DeleteTimer(int64_t id) override {
    return Now<bool>("deleting timer",
                     [&] { return w_.exec_prepared("delete_timer", id).affected_rows() == 1; });
  }
  Result<bool> DeleteTimerByName(std::string_view run_id, std::string_view timer_id) override {
    return Now<bool>("deleting timer", [&] {
      return w_.exec_prepared("delete_timer_by_name", std::string(run_id), std::string(timer_id))
                 .affected_rows() >= 1;
    });
  }
  Status DeleteTimersOfRun(std::string_view run_id) override {
    pending_.timer_run_deletes.push_back({fn_, Q(run_id)});
    return Status::Ok();
  }
  Result<int64_t> DeleteClosedRuns(Millis closed_before, int limit) override {
    KEEL_RETURN_IF_ERROR(Flush());
    return Now<int64_t>("deleting expired runs", [&] {
      std::vector<std::string> runs;
      for (const auto& r : w_.exec_prepared("expired_runs", closed_before, limit)) {
        runs.emplace_back(r[0].c_str());
      }
      if (runs.empty()) return int64_t{0};
      std::string array = "{";  // a text[] literal (run ids are UUIDs)
      for (const auto& r : runs) array += (array.size() > 1 ? ",\"" : "\"") + r + "\"";
      array += "}";
      for (const char* stmt :
           {"delete_run_history", "delete_run_requests", "delete_run_current", "delete_run_exec"}) {
        w_.exec_prepared(stmt, array);
      }
      return static_cast<int64_t>(runs.size());
    });
  }
  Result<std::vector<ExecutionRow>> ListOpenChildren(std::string_view parent_run_id) override {
    KEEL_RETURN_IF_ERROR(Flush());  // children inserted or closed in this transaction count
    return Now<std::vector<ExecutionRow>>("listing child runs", [&] {
      std::vector<ExecutionRow> out;
      for (const auto& row : w_.exec_prepared("open_children", std::string(parent_run_id))) {
        out.push_back(ReadExecRow(row));
      }
      return out;
    });
  }
  Result<bool> InsertRequestId(std::string_view run_id, std::string_view request_id) override {
    return Now<bool>("recording request id", [&] {
      return w_.exec_prepared("insert_request", std::string(run_id), std::string(request_id))
                 .affected_rows() == 1;
    });
  }

  // Sends every queued write in one pipelined round trip (a multi-row statement per
  // kind) and checks the version-checked updates. On failure, culprits() names the
  // TxnFns to blame.
  Status Flush() {
    if (aborted()) return Status::Unavailable("transaction already failed", "db_error");
    if (pending_.empty()) return Status::Ok();
    Pending p = std::move(pending_);
    pending_ = Pending();
    for (size_t fn : p.Fns()) flushed_fns_.insert(fn);
    dirty_runs_.clear();
    dirty_wids_.clear();
    dirty_tasks_.clear();
    std::vector<std::pair<std::string, const std::vector<Op>*>> stmts;
    auto add = [&](const std::vector<Op>& ops, const std::string& head, const std::string& tail) {
      if (!ops.empty()) stmts.emplace_back(head + Join(ops) + tail, &ops);
    };
    add(p.exec_inserts, "INSERT INTO " + s_ + ".executions(" + kExecCols + ") VALUES ", "");
    add(p.current_sets, "INSERT INTO " + s_ + ".current_executions(workflow_id, run_id) VALUES ",
        " ON CONFLICT (workflow_id) DO UPDATE SET run_id=EXCLUDED.run_id");
    add(p.history,
        "INSERT INTO " + s_ + ".history(run_id, first_event_id, last_event_id, data) VALUES ", "");
    add(p.exec_updates,
        "UPDATE " + s_ + ".executions AS x SET (" + kExecCols + ") = (" +
            Qualified(kExecCols, "v.") + ") FROM (VALUES ",
        ") AS v(" + std::string(kExecCols) +
            ", expected) WHERE x.run_id = v.run_id AND x.version = v.expected RETURNING x.run_id");
    add(p.task_inserts, "INSERT INTO " + s_ + ".tasks(" + kTaskCols + ") VALUES ", "");
    add(p.task_updates,
        "UPDATE " + s_ + ".tasks AS x SET (" + kTaskCols + ") = (" + Qualified(kTaskCols, "v.") +
            ") FROM (VALUES ",
        ") AS v(" + std::string(kTaskCols) + ") WHERE x.id = v.id");
    add(p.task_deletes, "DELETE FROM " + s_ + ".tasks WHERE id IN (", ")");
    add(p.timer_run_deletes, "DELETE FROM " + s_ + ".timers WHERE run_id IN (", ")");
    size_t at = 0;
    try {
      pqxx::pipeline pipe(w_);
      pipe.retain(static_cast<int>(stmts.size()) + 1);
      std::vector<pqxx::pipeline::query_id> ids;
      for (const auto& st : stmts) ids.push_back(pipe.insert(st.first));
      pipe.complete();
      for (at = 0; at < stmts.size(); ++at) {
        pqxx::result r = pipe.retrieve(ids[at]);
        if (stmts[at].second != &p.exec_updates) continue;
        std::set<std::string> hit;
        for (const auto& row : r) hit.insert(row[0].c_str());
        for (size_t k = 0; k < p.exec_updates.size(); ++k) {
          if (!hit.count(p.update_runs[k])) {
            culprits_[p.exec_updates[k].fn] =
                Status::ConditionFailed("a run changed concurrently", "version_conflict");
          }
        }
      }
    } catch (const std::exception& e) {
      Status s = PgStatus(e, "writing");
      bool history = at < stmts.size() && stmts[at].second == &p.history;
      // Two writers appending the same events to one run: the same as a version conflict.
      if (history && s.reason() == "constraint") {
        s = Status::ConditionFailed("a run changed concurrently", "version_conflict");
      }
      // Blame every TxnFn with writes in the failed statement (or all, if unknown).
      const std::vector<Op>* ops = at < stmts.size() ? stmts[at].second : nullptr;
      for (size_t fn : ops ? FnsOf(*ops) : p.Fns()) culprits_[fn] = s;
      if (culprits_.empty()) culprits_[fn_] = s;
    }
    if (aborted()) return culprits_.begin()->second;
    return Status::Ok();
  }

  // Queues the batch's notifications; they are delivered when the commit is.
  void SendNotifications() {
    for (const auto& n : notify_) w_.exec_prepared("notify", channel_, n);
  }

 private:
  struct Op {
    size_t fn;
    std::string sql;  // a VALUES tuple, or a key
  };
  struct Pending {
    std::vector<Op> exec_inserts, current_sets, history, exec_updates, task_inserts, task_updates,
        task_deletes, timer_run_deletes;
    std::vector<std::string> update_runs;  // run ids of exec_updates, same order
    std::vector<std::vector<Op>*> All() {
      return {&exec_inserts, &current_sets, &history,      &exec_updates,
              &task_inserts, &task_updates, &task_deletes, &timer_run_deletes};
    }
    bool empty() {
      for (auto* v : All()) {
        if (!v->empty()) return false;
      }
      return true;
    }
    std::set<size_t> Fns() {
      std::set<size_t> out;
      for (auto* v : All()) {
        for (const auto& op : *v) out.insert(op.fn);
      }
      return out;
    }
    void Drop(size_t fn) {
      for (size_t k = exec_updates.size(); k-- > 0;) {
        if (exec_updates[k].fn == fn) update_runs.erase(update_runs.begin() + k);
      }
      for (auto* v : All()) std::erase_if(*v, [fn](const Op& op) { return op.fn == fn; });
    }
  };

  static std::string Join(const std::vector<Op>& ops) {
    std::string out;
    for (const auto& op : ops) {
      if (!out.empty()) out += ",";
      out += op.sql;
    }
    return out;
  }
  static std::set<size_t> FnsOf(const std::vector<Op>& ops) {
    std::set<size_t> out;
    for (const auto& op : ops) out.insert(op.fn);
    return out;
  }
  void DirtyRun(const std::string& run) {
    dirty_runs_.insert(run);
    prefetched_.erase(run);
  }
  void DirtyTask(const TaskRow& t) {
    dirty_tasks_.insert(t.id);
    if (t.lease_owner.empty() && t.visible_at <= now_) {
      notify_.insert("t|" + std::to_string(static_cast<int>(t.kind)) + "|" + t.queue);
    }
  }
  // Runs a statement now, after the queued writes (which it may depend on).
  template <typename T, typename F>
  Result<T> Now(const char* what, F&& f) {
    KEEL_RETURN_IF_ERROR(Flush());
    try {
      return f();
    } catch (const std::exception& e) {
      Status s = PgStatus(e, what);
      culprits_[fn_] = s;
      return s;
    }
  }
  std::string Q(std::string_view v) const { return w_.quote(std::string(v)); }
  std::string ExecValues(const ExecutionRow& e, int64_t version) const {
    return Q(e.run_id) + "," + Q(e.workflow_id) + "," + Q(e.workflow_type) + "," + Q(e.task_queue) +
           "," + std::to_string(static_cast<int>(e.status)) + "," + std::to_string(version) +
           "::bigint," + std::to_string(e.next_event_id) + "::bigint," +
           std::to_string(e.wt_task_id) + "::bigint," + std::to_string(e.start_time) + "::bigint," +
           std::to_string(e.close_time) + "::bigint," + w_.quote_raw(e.result) + "," +
           w_.quote_raw(e.failure) + "," + w_.quote_raw(e.wt_failure) + "," + Q(e.parent_run_id) +
           "," + w_.quote_raw(e.parent) + "," + std::to_string(e.children) + "::bigint";
  }
  std::string TaskValues(const TaskRow& t) const {
    return std::to_string(t.id) + "::bigint," + Q(t.queue) + "," +
           std::to_string(static_cast<int>(t.kind)) + "," + Q(t.workflow_id) + "," + Q(t.run_id) +
           "," + Q(t.activity_id) + "," + std::to_string(t.attempt) + "," +
           std::to_string(t.visible_at) + "::bigint," + Q(t.lease_owner) + "," +
           std::to_string(t.lease_token) + "::bigint," + std::to_string(t.lease_expires) +
           "::bigint," + std::to_string(t.lease_ms) + "::bigint," + std::to_string(t.started_at) +
           "::bigint," + std::to_string(t.start_deadline) + "::bigint," +
           std::to_string(t.close_deadline) + "::bigint," + std::to_string(ComputeTaskDeadline(t)) +
           "::bigint," + w_.quote_raw(t.info);
  }
  void Closed(const ExecutionRow& e) { notify_.insert("c|" + e.workflow_id + "|" + e.run_id); }

  pqxx::work& w_;
  Millis now_;
  std::string s_;
  std::string channel_;
  IdBlock* ids_;
  size_t fn_ = 0;
  std::map<size_t, Status> culprits_;
  Pending pending_;
  std::set<size_t> flushed_fns_;
  std::set<std::string> dirty_runs_, dirty_wids_;
  std::set<int64_t> dirty_tasks_;
  std::map<std::string, std::optional<ExecutionRow>> prefetched_;
  std::set<std::string> notify_;
};

class PgStore final : public Store {
 public:
  explicit PgStore(PostgresOptions o) : opts_(std::move(o)), channel_(Channel(opts_.schema)) {}

  ~PgStore() override {
    if (std::getenv("KEEL_STORE_STATS")) {
      std::fprintf(stderr, "store: %lld batches, %lld transactions, %lld rollbacks\n",
                   static_cast<long long>(stat_batches_.load()),
                   static_cast<long long>(stat_items_.load()),
                   static_cast<long long>(stat_rollbacks_.load()));
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : writers_) t.join();
    listener_stop_ = true;
    if (listener_.joinable()) listener_.join();
  }

  Status Init() {
    KEEL_RETURN_IF_ERROR(ConnectWithRetry());
    for (int i = 0; i < opts_.writers; ++i) writers_.emplace_back([this] { WriterLoop(); });
    return Status::Ok();
  }

  void Submit(TxnFn fn, DoneFn done) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back({std::move(fn), std::move(done)});
    }
    cv_.notify_one();
  }

  Result<std::optional<ExecutionRow>> ReadExecution(std::string_view run_id) override {
    return Read<std::optional<ExecutionRow>>("reading execution", [&](pqxx::nontransaction& t) {
      auto r = t.exec_prepared("get_exec", std::string(run_id));
      return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
    });
  }

  Result<std::optional<ExecutionRow>> ReadCurrentExecution(std::string_view wid) override {
    return Read<std::optional<ExecutionRow>>("reading execution", [&](pqxx::nontransaction& t) {
      auto cur = t.exec_prepared("get_current", std::string(wid));
      if (cur.empty()) return std::optional<ExecutionRow>();
      auto r = t.exec_prepared("get_exec", std::string(cur[0][0].c_str()));
      return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
    });
  }

  Result<std::vector<proto::HistoryEvent>> ReadHistory(std::string_view run_id,
                                                       int64_t from) override {
    std::vector<std::string> blobs;
    KEEL_RETURN_IF_ERROR(Read<bool>("reading history", [&](pqxx::nontransaction& t) {
                           for (const auto& row :
                                t.exec_prepared("read_history", std::string(run_id), from)) {
                             blobs.push_back(Bin(row[0]));
                           }
                           return true;
                         }).status());
    std::vector<proto::HistoryEvent> out;
    for (const auto& b : blobs) KEEL_RETURN_IF_ERROR(DecodeHistoryBatch(b, from, &out));
    return out;
  }

  Result<ListPage> ListExecutions(const ListFilter& f) override {
    Millis cur_start = INT64_MAX;
    std::string cur_run = "\x7f";
    if (!f.cursor.empty()) {
      auto sep = f.cursor.find('_');
      if (sep == std::string::npos) return Status::InvalidArgument("bad cursor", "bad_cursor");
      try {
        cur_start = std::stoll(f.cursor.substr(0, sep));
      } catch (...) {
        return Status::InvalidArgument("bad cursor", "bad_cursor");
      }
      cur_run = f.cursor.substr(sep + 1);
    }
    return Read<ListPage>("listing executions", [&](pqxx::nontransaction& t) {
      ListPage page;
      auto r = t.exec_prepared("list_exec", cur_start, cur_run, f.workflow_type,
                               f.status ? static_cast<int>(*f.status) : 0, f.start_after,
                               f.start_before, f.limit + 1);
      for (const auto& row : r) page.rows.push_back(ReadExecRow(row));
      if (static_cast<int>(page.rows.size()) > f.limit) {
        page.rows.pop_back();
        page.next_cursor =
            std::to_string(page.rows.back().start_time) + "_" + page.rows.back().run_id;
      }
      return page;
    });
  }

  Result<int64_t> CountTimers() override {
    return Read<int64_t>("counting timers", [&](pqxx::nontransaction& t) {
      return t.exec_prepared("count_timers")[0][0].as<int64_t>();
    });
  }
  Result<std::vector<TaskRow>> ListQueueTasks(std::string_view queue, int limit) override {
    return Read<std::vector<TaskRow>>("listing queue tasks", [&](pqxx::nontransaction& t) {
      std::vector<TaskRow> out;
      for (const auto& r : t.exec_prepared("queue_tasks", std::string(queue), limit)) {
        out.push_back(ReadTaskRow(r));
      }
      return out;
    });
  }
  Result<std::vector<TaskRow>> ListTasksOfRun(std::string_view run_id) override {
    return ReadTasks("listing tasks", "tasks_of_run", std::string(run_id));
  }

  Result<std::vector<TimerRow>> DueTimers(Millis now, int limit) override {
    return Read<std::vector<TimerRow>>("reading timers", [&](pqxx::nontransaction& t) {
      std::vector<TimerRow> out;
      for (const auto& r : t.exec_prepared("due_timers", now, limit)) {
        out.push_back(
            {r[0].as<int64_t>(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].as<int64_t>()});
      }
      return out;
    });
  }

  Result<std::vector<TaskRow>> DueTaskDeadlines(Millis now, int limit) override {
    return Read<std::vector<TaskRow>>("reading task deadlines", [&](pqxx::nontransaction& t) {
      std::vector<TaskRow> out;
      for (const auto& r : t.exec_prepared("due_deadlines", now, limit)) {
        out.push_back(ReadTaskRow(r));
      }
      return out;
    });
  }

  Result<std::optional<Millis>> NextWakeTime() override {
    Millis now = clock()->Now();
    return Read<std::optional<Millis>>("reading next wake time", [&](pqxx::nontransaction& t) {
      auto r = t.exec_prepared("next_wake", now);
      if (r.empty() || r[0][0].is_null()) return std::optional<Millis>();
      return std::optional<Millis>(r[0][0].as<int64_t>());
    });
  }

  Result<bool> HasReadyTasks(std::string_view queue, TaskKind kind) override {
    Millis now = clock()->Now();
    return Read<bool>("checking tasks", [&](pqxx::nontransaction& t) {
      return !t.exec_prepared("has_ready", std::string(queue), static_cast<int>(kind), now).empty();
    });
  }

  Result<std::vector<QueueStats>> QueueStatistics() override {
    Millis now = clock()->Now();
    return Read<std::vector<QueueStats>>("reading queue stats", [&](pqxx::nontransaction& t) {
      std::vector<QueueStats> out;
      for (const auto& r : t.exec_prepared("queue_stats", now)) {
        out.push_back({r[0].c_str(), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>(),
                       r[4].as<int64_t>()});
      }
      return out;
    });
  }

  Result<int> SchemaVersion() override {
    return Read<int>("reading schema version", [&](pqxx::nontransaction& t) {
      auto r = t.exec_prepared("schema_version");
      return r.empty() ? 0 : r[0][0].as<int>();
    });
  }

  Clock* clock() const override { return opts_.clock ? opts_.clock : SystemClock::Default(); }

  void SetListeners(StoreListeners listeners) override {
    {
      std::lock_guard<std::mutex> l(listeners_mu_);
      listeners_ = std::move(listeners);
    }
    if (!listener_.joinable()) listener_ = std::thread([this] { ListenLoop(); });
  }

 private:
  struct Item {
    TxnFn fn;
    DoneFn done;
  };

  // Connects (and migrates) with backoff: an unreachable server or a refused
  // password is retried until connect_retry_ms, then reported.
  Status ConnectWithRetry() {
    Millis waited = 0, delay = 200;
    for (int attempt = 1;; ++attempt) {
      Status s = ConnectOnce();
      if (s.ok()) return s;
      bool retry = s.reason() == "db_unreachable" || s.reason() == "db_auth_failed" ||
                   s.reason() == "db_unusable" || s.reason() == "db_conflict";
      if (!retry || waited >= opts_.connect_retry_ms) {
        return Status(s);
      }
      spdlog::warn("cannot use {} yet (attempt {}): {}; retrying in {} ms", RedactUrl(opts_.url),
                   attempt, s.message(), delay);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      waited += delay;
      delay = std::min<Millis>(delay * 2, 5000);
    }
  }

  Status ConnectOnce() {
    try {
      pqxx::connection c(opts_.url);
      pqxx::work w(c);
      // One migrator at a time across processes; CREATE ... IF NOT EXISTS alone races.
      w.exec("SELECT pg_advisory_xact_lock(hashtext(" + w.quote(opts_.schema) + "))");
      w.exec("CREATE SCHEMA IF NOT EXISTS " + w.quote_name(opts_.schema));
      w.exec("CREATE TABLE IF NOT EXISTS " + w.quote_name(opts_.schema) +
             ".schema_version(version INT NOT NULL)");
      auto r = w.exec("SELECT version FROM " + w.quote_name(opts_.schema) + ".schema_version");
      int version = r.empty() ? 0 : r[0][0].as<int>();
      if (version > kLatestVersion) {
        return Status::FailedPrecondition(
            "the database schema " + opts_.schema + " has version " + std::to_string(version) +
                ", newer than this binary knows (" + std::to_string(kLatestVersion) +
                "); run a newer keel",
            "schema_too_new");
      }
      if (version < kLatestVersion && !opts_.migrate) {
        return Status::FailedPrecondition("the database schema " + opts_.schema + " has version " +
                                              std::to_string(version) + "; run `keel db migrate`",
                                          "schema_out_of_date");
      }
      for (int v = version; v < kLatestVersion; ++v)
        w.exec(WithSchema(kMigrations[v], w.quote_name(opts_.schema)));
      if (version < kLatestVersion) {
        w.exec("DELETE FROM " + w.quote_name(opts_.schema) + ".schema_version");
        w.exec("INSERT INTO " + w.quote_name(opts_.schema) + ".schema_version VALUES(" +
               std::to_string(kLatestVersion) + ")");
      }
      w.commit();
      return Status::Ok();
    } catch (const std::exception& e) {
      return PgStatus(e, "connecting to " + RedactUrl(opts_.url));
    }
  }

  template <typename T, typename F>
  Result<T> Read(const char* what, F&& f) {
    std::unique_ptr<pqxx::connection> c;
    {
      std::lock_guard<std::mutex> l(readers_mu_);
      if (!readers_.empty()) {
        c = std::move(readers_.back());
        readers_.pop_back();
      }
    }
    // Reads are idempotent: a pooled connection that broke (a server restart, a killed
    // backend) is replaced and the read tried once more.
    for (int attempt = 0;; ++attempt) {
      try {
        if (!c || !c->is_open()) c = Connect(opts_);
        std::optional<T> out;
        {
          pqxx::nontransaction t(*c);
          out.emplace(f(t));
        }  // the transaction ends before another thread may take the connection
        std::lock_guard<std::mutex> l(readers_mu_);
        if (static_cast<int>(readers_.size()) < opts_.readers) readers_.push_back(std::move(c));
        return std::move(*out);
      } catch (const std::exception& e) {
        c.reset();
        Status s = PgStatus(e, what);
        if (attempt >= 1 || s.reason() != "db_unreachable") return s;
      }
    }
  }

  Result<std::vector<TaskRow>> ReadTasks(const char* what, const char* stmt, std::string arg) {
    return Read<std::vector<TaskRow>>(what, [&](pqxx::nontransaction& t) {
      std::vector<TaskRow> out;
      for (const auto& r : t.exec_prepared(stmt, arg)) out.push_back(ReadTaskRow(r));
      return out;
    });
  }

  void WriterLoop() {
    std::unique_ptr<pqxx::connection> conn;
    IdBlock ids;
    Millis backoff = 0;
    for (;;) {
      std::vector<Item> batch;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty() && stopping_) return;
        while (!queue_.empty() && static_cast<int>(batch.size()) < opts_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      if (!conn || !conn->is_open()) {
        try {
          conn = Connect(opts_);
          backoff = 0;
        } catch (const std::exception& e) {
          Status s = PgStatus(e, "connecting to " + RedactUrl(opts_.url));
          for (auto& it : batch) {
            if (it.done) it.done(s);
          }
          backoff = std::min<Millis>(backoff ? backoff * 2 : 50, 2000);
          std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
          continue;
        }
      }
      RunBatch(*conn, &ids, batch);
    }
  }

  // See the file comment for what happens when a TxnFn fails.
  void RunBatch(pqxx::connection& conn, IdBlock* ids, std::vector<Item>& batch) {
    std::vector<Status> results(batch.size());
    std::map<size_t, Status> culprits;  // TxnFns that forced a rollback, and why
    Status commit;
    try {
      pqxx::work w(conn);
      PgTxn txn(w, clock()->Now(), opts_.schema, channel_, ids);
      for (size_t i = 0; i < batch.size() && culprits.empty(); ++i) {
        txn.BeginFn(i);
        results[i] = batch[i].fn(txn);
        if (txn.aborted()) {
          culprits = txn.culprits();
        } else if (!results[i].ok()) {
          if (txn.Flushed(i)) {
            culprits[i] = results[i];
          } else {
            txn.DropPending(i);  // none of its writes reached the server
          }
        }
      }
      if (culprits.empty() && !txn.Flush().ok()) culprits = txn.culprits();
      if (culprits.empty()) {
        txn.SendNotifications();
        w.commit();
      }
    } catch (const std::exception& e) {
      commit = PgStatus(e, "committing");
    }
    ++stat_batches_;
    stat_items_ += batch.size();
    if (!culprits.empty()) {
      ++stat_rollbacks_;
      if (std::getenv("KEEL_STORE_STATS")) {
        spdlog::info("rollback: {} culprits, first: {}", culprits.size(),
                     culprits.begin()->second.ToString());
      }
      // Rolled back: the culprits learn why; the others run again in a new batch.
      for (const auto& [i, why] : culprits) {
        if (batch[i].done) batch[i].done(why);
      }
      std::lock_guard<std::mutex> l(mu_);
      for (size_t i = batch.size(); i-- > 0;) {
        if (!culprits.count(i)) queue_.push_front(std::move(batch[i]));
      }
      return;
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done) batch[i].done(commit.ok() ? results[i] : commit);
    }
  }

  // Receives NOTIFYs from every process using this schema.
  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const std::string& channel, PgStore* store)
        : pqxx::notification_receiver(c, channel), store_(store) {}
    void operator()(const std::string& payload, int) override { store_->OnNotify(payload); }

   private:
    PgStore* store_;
  };

  void OnNotify(const std::string& payload) {
    StoreListeners l;
    {
      std::lock_guard<std::mutex> g(listeners_mu_);
      l = listeners_;
    }
    auto first = payload.find('|');
    auto second = payload.find('|', first + 1);
    if (first == std::string::npos || second == std::string::npos) return;
    std::string a = payload.substr(first + 1, second - first - 1);
    std::string b = payload.substr(second + 1);
    if (payload[0] == 't' && l.task_ready) {
      l.task_ready(static_cast<TaskKind>(std::atoi(a.c_str())), b);
    } else if (payload[0] == 'c' && l.run_closed) {
      l.run_closed(a, b);
    }
  }

  void ListenLoop() {
    Millis backoff = 0;
    while (!listener_stop_) {
      try {
        pqxx::connection c(opts_.url);
        Receiver r(c, channel_, this);
        backoff = 0;
        while (!listener_stop_) c.await_notification(0, 200'000);
      } catch (const std::exception& e) {
        if (listener_stop_) return;
        backoff = std::min<Millis>(backoff ? backoff * 2 : 100, 5000);
        spdlog::warn("notification listener: {}; reconnecting in {} ms", e.what(), backoff);
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      }
    }
  }

  PostgresOptions opts_;
  std::string channel_;
  std::atomic<int64_t> stat_batches_{0}, stat_items_{0}, stat_rollbacks_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::vector<std::thread> writers_;
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<pqxx::connection>> readers_;
  std::mutex listeners_mu_;
  StoreListeners listeners_;
  std::atomic<bool> listener_stop_{false};
  std::thread listener_;
};

}  // namespace

// The backend's edge: libpqxx exceptions become typed statuses.
Status PgStatus(const std::exception& e, const std::string& what) {
  std::string msg = what + ": " + e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    return Status::Unavailable(msg + " (the commit's outcome is unknown; it is retried)",
                               "commit_in_doubt");
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    // libpq reports refused credentials as a failed connection; tell them apart.
    if (msg.find("password authentication failed") != std::string::npos ||
        msg.find("no pg_hba.conf entry") != std::string::npos ||
        msg.find("role \"") != std::string::npos) {
      return Status::FailedPrecondition(msg + " (check the user and password in --db)",
                                        "db_auth_failed");
    }
    if (msg.find("database \"") != std::string::npos &&
        msg.find("does not exist") != std::string::npos) {
      return Status::FailedPrecondition(msg + " (create the database first)", "db_unusable");
    }
    return Status::Unavailable(msg + " (is the server running and reachable?)", "db_unreachable");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    std::string state = sql->sqlstate();
    if (state.empty()) {
      // Errors read back from a pipeline can come without their SQLSTATE.
      if (msg.find("deadlock detected") != std::string::npos) state = "40P01";
      if (msg.find("could not serialize access") != std::string::npos) state = "40001";
      if (msg.find("duplicate key value violates unique constraint") != std::string::npos) {
        state = "23505";
      }
    }
    if (state == "40001" || state == "40P01" || state == "55P03") {
      return Status::Unavailable(msg, "db_conflict");  // serialization, deadlock, lock
    }
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
      return Status::Unavailable(msg + " (connection lost)", "db_unreachable");
    }
    if (state == "53100") return Status::ResourceExhausted(msg, "disk_full");
    if (state.rfind("53", 0) == 0) return Status::Unavailable(msg, "db_overloaded");
    if (state == "23505") return Status::AlreadyExists(msg, "constraint");
    if (state == "28P01" || state == "28000") {
      return Status::FailedPrecondition(msg, "db_auth_failed");
    }
    if (state == "3D000") return Status::FailedPrecondition(msg, "db_unusable");
    return Status::Internal(msg, "db_error");
  }
  // Errors read back from a pipeline may arrive as plain pqxx failures: known by text.
  if (msg.find("deadlock detected") != std::string::npos ||
      msg.find("could not serialize access") != std::string::npos) {
    return Status::Unavailable(msg, "db_conflict");
  }
  if (msg.find("duplicate key value violates unique constraint") != std::string::npos) {
    return Status::AlreadyExists(msg, "constraint");
  }
  return Status::Internal(msg, "db_error");
}

std::string RedactUrl(const std::string& url) {
  static const std::regex pw(R"(^(postgres(?:ql)?://[^:/@]*:)[^@]*@)");
  return std::regex_replace(url, pw, "$1***@");
}

Result<PostgresOptions> ParsePostgresUrl(const std::string& url) {
  PostgresOptions o;
  auto q = url.find('?');
  std::string base = url.substr(0, q);
  std::string keep;
  if (q != std::string::npos) {
    std::string query = url.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
      size_t amp = query.find('&', start);
      std::string kv =
          query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (kv.rfind("schema=", 0) == 0) {
        o.schema = kv.substr(7);
      } else if (kv.rfind("writers=", 0) == 0) {
        o.writers = std::atoi(kv.c_str() + 8);
        if (o.writers < 1 || o.writers > 64) {
          return Status::InvalidArgument("writers= must be 1 to 64", "bad_db_url");
        }
      } else if (!kv.empty()) {
        keep += (keep.empty() ? "" : "&") + kv;
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  static const std::regex ident("^[a-z_][a-z0-9_]{0,40}$");
  if (!std::regex_match(o.schema, ident)) {
    return Status::InvalidArgument(
        "schema= must be a lower-case SQL identifier, got '" + o.schema + "'", "bad_db_url");
  }
  if (keep.find("application_name=") == std::string::npos) {
    keep += (keep.empty() ? "" : "&") + std::string("application_name=keel");
  }
  o.url = base + "?" + keep;
  return o;
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  auto store = std::make_unique<PgStore>(options);
  KEEL_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

int PostgresSchemaVersionLatest() { return kLatestVersion; }

}  // namespace keel::persistence
