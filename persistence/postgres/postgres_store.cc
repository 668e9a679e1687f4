#include "persistence/postgres/postgres_store.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
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
};
constexpr int kLatestVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

constexpr const char* kExecCols =
    "run_id, workflow_id, workflow_type, task_queue, status, version, next_event_id, "
    "wt_task_id, start_time, close_time, result, failure, wt_failure";
constexpr const char* kTaskCols =
    "id, queue, kind, workflow_id, run_id, activity_id, attempt, visible_at, lease_owner, "
    "lease_token, lease_expires, lease_ms, started_at, start_deadline, close_deadline, deadline, "
    "info";

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
                          ") VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"},
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
      {"insert_request",
       "INSERT INTO {s}.requests(run_id, request_id) VALUES($1,$2) ON CONFLICT DO NOTHING"},
      {"notify", "SELECT pg_notify($1, $2)"},
      {"list_exec",
       std::string("SELECT ") + kExecCols +
           " FROM {s}.executions WHERE (start_time < $1 OR (start_time = $1 AND run_id < $2)) "
           "AND ($3 = '' OR workflow_type = $3) AND ($4 = 0 OR status = $4) "
           "AND start_time >= $5 AND ($6 = 0 OR start_time < $6) "
           "ORDER BY start_time DESC, run_id DESC LIMIT $7"},
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

// The backend's edge: libpqxx exceptions become typed statuses.
Status PgStatus(const std::exception& e, const std::string& what) {
  std::string msg = what + ": " + e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    return Status::Unavailable(msg + " (the commit's outcome is unknown; it is retried)",
                               "commit_in_doubt");
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    return Status::Unavailable(msg + " (connection lost; it is retried)", "db_unreachable");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    if (state == "40001" || state == "40P01" || state == "55P03") {
      return Status::Unavailable(msg, "db_conflict");  // serialization, deadlock, lock
    }
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
      return Status::Unavailable(msg + " (connection lost; it is retried)", "db_unreachable");
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
  return Status::Internal(msg, "db_error");
}

std::string Bin(const pqxx::field& f) { return pqxx::binarystring(f).str(); }

ExecutionRow ReadExecRow(const pqxx::row& r) {
  ExecutionRow e;
  e.run_id = r[0].c_str();
  e.workflow_id = r[1].c_str();
  e.workflow_type = r[2].c_str();
  e.task_queue = r[3].c_str();
  e.status = static_cast<ExecutionStatus>(r[4].as<int>());
  e.version = r[5].as<int64_t>();
  e.next_event_id = r[6].as<int64_t>();
  e.wt_task_id = r[7].as<int64_t>();
  e.start_time = r[8].as<int64_t>();
  e.close_time = r[9].as<int64_t>();
  e.result = Bin(r[10]);
  e.failure = Bin(r[11]);
  e.wt_failure = Bin(r[12]);
  return e;
}

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

class PgTxn final : public Txn {
 public:
  PgTxn(pqxx::work& w, Millis now, const std::string& channel)
      : w_(w), now_(now), channel_(channel) {}

  Millis Now() const override { return now_; }
  // Per TxnFn bookkeeping: did it write, did the transaction die.
  void BeginFn() { wrote_ = false; }
  bool wrote() const { return wrote_; }
  bool aborted() const { return aborted_; }
  const std::set<std::string>& notifications() const { return notify_; }

  Result<std::optional<ExecutionRow>> GetExecution(std::string_view run_id) override {
    return Run<std::optional<ExecutionRow>>("reading execution", [&] {
      auto r = w_.exec_prepared("get_exec", std::string(run_id));
      return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
    });
  }
  Result<std::optional<std::string>> GetCurrentRunId(std::string_view workflow_id) override {
    return Run<std::optional<std::string>>("reading current run", [&] {
      auto r = w_.exec_prepared("get_current", std::string(workflow_id));
      return r.empty() ? std::optional<std::string>() : std::string(r[0][0].c_str());
    });
  }
  Status InsertExecution(const ExecutionRow& e) override {
    return Write("inserting execution", [&] {
      ExecPrepared("insert_exec", e, e.version);
      w_.exec_prepared("set_current", e.workflow_id, e.run_id);
      if (e.status != ExecutionStatus::kRunning) Closed(e);
    });
  }
  Status UpdateExecution(const ExecutionRow& e, int64_t expected_version) override {
    bool updated = false;
    Status s = Write("updating execution", [&] {
      auto r = w_.exec_prepared("update_exec", e.run_id, e.workflow_id, e.workflow_type,
                                e.task_queue, static_cast<int>(e.status), expected_version + 1,
                                e.next_event_id, e.wt_task_id, e.start_time, e.close_time,
                                pqxx::binarystring(e.result), pqxx::binarystring(e.failure),
                                pqxx::binarystring(e.wt_failure), expected_version);
      updated = r.affected_rows() == 1;
    });
    KEEL_RETURN_IF_ERROR(s);
    if (!updated) {
      return Status::ConditionFailed("execution " + e.run_id + " changed concurrently",
                                     "version_conflict");
    }
    if (e.status != ExecutionStatus::kRunning) Closed(e);
    return Status::Ok();
  }
  Status AppendHistory(std::string_view run_id,
                       const std::vector<proto::HistoryEvent>& events) override {
    if (events.empty()) return Status::Ok();
    std::string blob = EncodeHistoryBatch(events);
    return Write("appending history", [&] {
      w_.exec_prepared("append_history", std::string(run_id), events.front().event_id(),
                       events.back().event_id(), pqxx::binarystring(blob));
    });
  }
  Result<int64_t> InsertTask(const TaskRow& t) override {
    int64_t id = 0;
    KEEL_RETURN_IF_ERROR(Write("inserting task", [&] {
      auto r = w_.exec_prepared("insert_task", t.queue, static_cast<int>(t.kind), t.workflow_id,
                                t.run_id, t.activity_id, t.attempt, t.visible_at, t.lease_owner,
                                t.lease_token, t.lease_expires, t.lease_ms, t.started_at,
                                t.start_deadline, t.close_deadline, ComputeTaskDeadline(t),
                                pqxx::binarystring(t.info));
      id = r[0][0].as<int64_t>();
    }));
    NoteReady(t);
    return id;
  }
  Result<std::optional<TaskRow>> GetTask(int64_t id) override {
    return Run<std::optional<TaskRow>>("reading task", [&] {
      auto r = w_.exec_prepared("get_task", id);
      return r.empty() ? std::optional<TaskRow>() : ReadTaskRow(r[0]);
    });
  }
  Status UpdateTask(const TaskRow& t) override {
    KEEL_RETURN_IF_ERROR(Write("updating task", [&] {
      w_.exec_prepared("update_task", t.id, t.queue, static_cast<int>(t.kind), t.workflow_id,
                       t.run_id, t.activity_id, t.attempt, t.visible_at, t.lease_owner,
                       t.lease_token, t.lease_expires, t.lease_ms, t.started_at, t.start_deadline,
                       t.close_deadline, ComputeTaskDeadline(t), pqxx::binarystring(t.info));
    }));
    NoteReady(t);
    return Status::Ok();
  }
  Status DeleteTask(int64_t id) override {
    return Write("deleting task", [&] { w_.exec_prepared("delete_task", id); });
  }
  Result<std::optional<TaskRow>> FindActivityTask(std::string_view run_id,
                                                  std::string_view activity_id) override {
    return Run<std::optional<TaskRow>>("reading activity task", [&] {
      auto r = w_.exec_prepared("find_activity", std::string(run_id), std::string(activity_id));
      return r.empty() ? std::optional<TaskRow>() : ReadTaskRow(r[0]);
    });
  }
  Status DeleteTasksOfRun(std::string_view run_id) override {
    return Write("deleting tasks",
                 [&] { w_.exec_prepared("delete_tasks_of_run", std::string(run_id)); });
  }
  Result<std::vector<TaskRow>> LeaseTasks(std::string_view queue, TaskKind kind,
                                          std::string_view owner, Millis /*lease_ms*/,
                                          int limit) override {
    std::vector<TaskRow> out;
    KEEL_RETURN_IF_ERROR(Write("polling tasks", [&] {
      auto r =
          w_.exec_prepared("lease_select", std::string(queue), static_cast<int>(kind), now_, limit);
      for (const auto& row : r) out.push_back(ReadTaskRow(row));
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
    int64_t id = 0;
    KEEL_RETURN_IF_ERROR(Write("inserting timer", [&] {
      auto r = w_.exec_prepared("insert_timer", t.workflow_id, t.run_id, t.timer_id, t.fire_at);
      id = r[0][0].as<int64_t>();
    }));
    return id;
  }
  Result<bool> DeleteTimer(int64_t id) override {
    bool gone = false;
    KEEL_RETURN_IF_ERROR(Write("deleting timer", [&] {
      gone = w_.exec_prepared("delete_timer", id).affected_rows() == 1;
    }));
    return gone;
  }
  Result<bool> DeleteTimerByName(std::string_view run_id, std::string_view timer_id) override {
    bool gone = false;
    KEEL_RETURN_IF_ERROR(Write("deleting timer", [&] {
      gone = w_.exec_prepared("delete_timer_by_name", std::string(run_id), std::string(timer_id))
                 .affected_rows() >= 1;
    }));
    return gone;
  }
  Status DeleteTimersOfRun(std::string_view run_id) override {
    return Write("deleting timers",
                 [&] { w_.exec_prepared("delete_timers_of_run", std::string(run_id)); });
  }
  Result<bool> InsertRequestId(std::string_view run_id, std::string_view request_id) override {
    bool first = false;
    KEEL_RETURN_IF_ERROR(Write("recording request id", [&] {
      first = w_.exec_prepared("insert_request", std::string(run_id), std::string(request_id))
                  .affected_rows() == 1;
    }));
    return first;
  }

  // Queues the batch's notifications; they are delivered when the commit is.
  void SendNotifications() {
    for (const auto& n : notify_) w_.exec_prepared("notify", channel_, n);
  }

 private:
  template <typename T, typename F>
  Result<T> Run(const char* what, F&& f) {
    if (aborted_) return Status::Unavailable("transaction already failed", "db_error");
    try {
      return f();
    } catch (const std::exception& e) {
      aborted_ = true;
      return PgStatus(e, what);
    }
  }
  template <typename F>
  Status Write(const char* what, F&& f) {
    wrote_ = true;
    auto r = Run<bool>(what, [&] {
      f();
      return true;
    });
    return r.status();
  }
  void ExecPrepared(const char* name, const ExecutionRow& e, int64_t version) {
    w_.exec_prepared(name, e.run_id, e.workflow_id, e.workflow_type, e.task_queue,
                     static_cast<int>(e.status), version, e.next_event_id, e.wt_task_id,
                     e.start_time, e.close_time, pqxx::binarystring(e.result),
                     pqxx::binarystring(e.failure), pqxx::binarystring(e.wt_failure));
  }
  void NoteReady(const TaskRow& t) {
    if (t.lease_owner.empty() && t.visible_at <= now_) {
      notify_.insert("t|" + std::to_string(static_cast<int>(t.kind)) + "|" + t.queue);
    }
  }
  void Closed(const ExecutionRow& e) { notify_.insert("c|" + e.workflow_id + "|" + e.run_id); }

  pqxx::work& w_;
  Millis now_;
  std::string channel_;
  bool wrote_ = false;
  bool aborted_ = false;
  std::set<std::string> notify_;
};

class PgStore final : public Store {
 public:
  explicit PgStore(PostgresOptions o) : opts_(std::move(o)), channel_(Channel(opts_.schema)) {}

  ~PgStore() override {
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
    try {
      if (!c || !c->is_open()) c = Connect(opts_);
      pqxx::nontransaction t(*c);
      T out = f(t);
      std::lock_guard<std::mutex> l(readers_mu_);
      if (static_cast<int>(readers_.size()) < opts_.readers) readers_.push_back(std::move(c));
      return out;
    } catch (const std::exception& e) {
      return PgStatus(e, what);  // the connection is dropped; the next read makes a new one
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
      RunBatch(*conn, batch);
    }
  }

  // See the file comment for what happens when a TxnFn fails.
  void RunBatch(pqxx::connection& conn, std::vector<Item>& batch) {
    std::vector<Status> results(batch.size());
    size_t failed = batch.size();  // index of a TxnFn that forced a rollback
    Status commit;
    try {
      pqxx::work w(conn);
      PgTxn txn(w, clock()->Now(), channel_);
      for (size_t i = 0; i < batch.size(); ++i) {
        txn.BeginFn();
        results[i] = batch[i].fn(txn);
        if (txn.aborted() || (!results[i].ok() && txn.wrote())) {
          failed = i;
          break;
        }
      }
      if (failed == batch.size()) {
        txn.SendNotifications();
        w.commit();
      }
    } catch (const std::exception& e) {
      commit = PgStatus(e, "committing");
    }
    if (failed < batch.size()) {
      // Rolled back: the culprit learns why; the others run again in a new batch.
      if (batch[failed].done) batch[failed].done(results[failed]);
      std::lock_guard<std::mutex> l(mu_);
      for (size_t i = batch.size(); i-- > 0;) {
        if (i != failed) queue_.push_front(std::move(batch[i]));
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
