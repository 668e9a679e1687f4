#include "persistence/postgres/postgres_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
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
#include <tuple>

#include "persistence/history_codec.h"
#include "persistence/migrations.h"

namespace keel::persistence {
namespace {

// The schema version the migrations end at (persistence/migrations.h).
int LatestVersion() { return static_cast<int>(PostgresMigrations().size()); }

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

// "a, b" -> "NULL, NULL"
std::string Nulls(const std::string& cols) {
  std::string out = "NULL";
  for (char c : cols) {
    if (c == ',') out += ", NULL";
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
      {"read_history",
       "SELECT data FROM {s}.history WHERE run_id=$1 AND last_event_id>=$2 "
       "ORDER BY first_event_id"},
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
      {"open_children", std::string("SELECT ") + kExecCols +
                            " FROM {s}.executions WHERE parent_run_id=$1 AND status=1"},
      {"insert_request",
       "INSERT INTO {s}.requests(run_id, request_id) VALUES($1,$2) ON CONFLICT DO NOTHING"},
      {"flush",
       "SELECT {s}.flush($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,"
       "$21,$22,$23,$24,$25,$26,$27,$28,$29,$30,$31,$32,$33,$34,$35,$36,$37,$38,$39,$40,$41,$42,"
       "$43,$44,$45,$46)"},
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

// What flush() raises when an execution update's expected version no longer matches.
constexpr const char* kVersionConflictState = "KL001";

// Task ids come from the sequence in blocks, so inserting a task needs no round trip
// for its id. One per writer connection.
struct IdBlock {
  std::vector<int64_t> ids;
};

// One batch's transaction. Writes whose answer nobody needs wait, and go to the server
// together as one call of the flush() function: before the next read that could see
// them, before any statement that must run now, and at the end. Reads that cannot see
// them run at once. Version-checked execution updates that miss are reported by
// position, so a conflict is pinned on the TxnFn that queued it. GetTask also fetches
// the task's execution row.
//
// The server transaction starts (BEGIN) only when something must run between the
// writes: a statement that writes or locks, or a flush before a read. A batch of
// plain transitions sends its reads, then one flush in autocommit, which is atomic
// and durable on its own: its reads plus one round trip, with no BEGIN or COMMIT.
// Reads outside the transaction lose nothing: at READ COMMITTED each statement takes
// a new snapshot anyway, and the version checks in flush() fence every write.
class PgTxn final : public Txn {
 public:
  PgTxn(pqxx::nontransaction& w, Millis now, const std::string& channel, IdBlock* ids)
      : w_(w), now_(now), channel_(channel), ids_(ids) {}
  ~PgTxn() override { Rollback(); }  // a transaction left open is rolled back

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
    return Ahead<std::optional<ExecutionRow>>("reading execution", [&] {
      auto r = w_.exec_prepared("get_exec", run);
      return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
    });
  }
  Result<std::optional<std::string>> GetCurrentRunId(std::string_view workflow_id) override {
    if (dirty_wids_.count(std::string(workflow_id))) KEEL_RETURN_IF_ERROR(Flush());
    auto hit = prefetched_current_.find(std::string(workflow_id));
    if (hit != prefetched_current_.end()) return hit->second;
    return Ahead<std::optional<std::string>>("reading current run", [&] {
      auto r = w_.exec_prepared("get_current", std::string(workflow_id));
      return r.empty() ? std::optional<std::string>() : std::string(r[0][0].c_str());
    });
  }
  Status InsertExecution(const ExecutionRow& e) override {
    pending_.execs.push_back({fn_, e, -1});
    pending_.currents.push_back({fn_, e.workflow_id, e.run_id});
    DirtyRun(e.run_id);
    dirty_wids_.insert(e.workflow_id);
    prefetched_current_.erase(e.workflow_id);
    if (e.status != ExecutionStatus::kRunning) Closed(e);
    return Status::Ok();
  }
  Status UpdateExecution(const ExecutionRow& e, int64_t expected_version) override {
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
  Status AppendHistory(std::string_view run_id,
                       const std::vector<proto::HistoryEvent>& events) override {
    if (events.empty()) return Status::Ok();
    pending_.history.push_back({fn_, std::string(run_id), events.front().event_id(),
                                events.back().event_id(), EncodeHistoryBatch(events)});
    DirtyRun(std::string(run_id));
    return Status::Ok();
  }
  Result<int64_t> InsertTask(const TaskRow& t) override {
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
  Result<std::optional<TaskRow>> GetTask(int64_t id) override {
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

  // Reads the tasks that the batch's TxnFns said they will read (SubmitHint), with
  // their runs, in one round trip. Best effort: what it cannot fetch is read later.
  // Reads what a batch declared (persistence::ReadHint) in one round trip; the
  // TxnFns' reads then find them here unless the batch has changed them since.
  void Prefetch(const std::vector<ReadHint>& hints) {
    ArrayLiteral tasks, runs, wids;
    bool any = false;
    for (const auto& h : hints) {
      if (h.task_id > 0) tasks.Int(h.task_id), prefetched_tasks_[h.task_id] = std::nullopt;
      if (!h.run_id.empty()) runs.Text(h.run_id), prefetched_[h.run_id] = std::nullopt;
      if (!h.workflow_id.empty()) {
        wids.Text(h.workflow_id), prefetched_current_[h.workflow_id] = std::nullopt;
      }
      any = any || h.task_id > 0 || !h.run_id.empty() || !h.workflow_id.empty();
    }
    if (!any) return;
    try {
      for (const auto& row : w_.exec_prepared("prefetch", tasks.Take(), runs.Take(), wids.Take())) {
        if (!row[0].is_null()) {
          TaskRow t = TakeTaskAndExec(row);
          prefetched_tasks_[t.id] = std::move(t);
          continue;
        }
        ExecutionRow e = ReadExecRowAt(row, 17);
        if (!row[33].is_null()) prefetched_current_[row[33].c_str()] = e.run_id;
        prefetched_[e.run_id] = std::move(e);
      }
    } catch (const std::exception&) {  // the reads will tell
      ForgetPrefetched();
    }
  }
  void ForgetPrefetched() {
    prefetched_tasks_.clear();
    prefetched_.clear();
    prefetched_current_.clear();
  }
  Status UpdateTask(const TaskRow& t) override {
    if (pending_.updated_tasks.count(t.id)) KEEL_RETURN_IF_ERROR(Flush());  // as for runs
    TaskRow row = t;
    row.events.reset();
    pending_.tasks.push_back({fn_, std::move(row), false});
    pending_.updated_tasks.insert(t.id);
    DirtyTask(t);
    return Status::Ok();
  }
  Status DeleteTask(int64_t id) override {
    pending_.task_deletes.push_back({fn_, id});
    prefetched_tasks_.erase(id);
    dirty_tasks_.insert(id);
    deleted_any_task_ = true;  // its run is not known here: FindActivityTask must flush
    return Status::Ok();
  }
  Result<std::optional<TaskRow>> FindActivityTask(std::string_view run_id,
                                                  std::string_view activity_id) override {
    if (deleted_any_task_ || dirty_task_runs_.count(std::string(run_id))) {
      KEEL_RETURN_IF_ERROR(Flush());
    }
    return Ahead<std::optional<TaskRow>>("reading activity task", [&] {
      auto r = w_.exec_prepared("find_activity", std::string(run_id), std::string(activity_id));
      return r.empty() ? std::optional<TaskRow>() : ReadTaskRow(r[0]);
    });
  }
  Status DeleteTasksOfRun(std::string_view run_id) override {
    std::string run(run_id);
    pending_.task_run_deletes.push_back({fn_, run});
    pending_.task_run_deletes_set.insert(run);
    dirty_task_runs_.insert(run);
    return Status::Ok();
  }
  Result<std::vector<TaskRow>> LeaseTasks(std::string_view queue, TaskKind kind,
                                          std::string_view owner, Millis /*lease_ms*/,
                                          int limit) override {
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
    pending_.timer_run_deletes.push_back({fn_, std::string(run_id)});
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
      ForgetPrefetched();
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
    return InTxn<bool>("recording request id", [&] {
      return w_.exec_prepared("insert_request", std::string(run_id), std::string(request_id))
                 .affected_rows() == 1;
    });
  }

  // Sends every queued write in one call of flush() (see kMigrations), inside the
  // server transaction, which it starts if need be. On failure, culprits() names the
  // TxnFns to blame.
  Status Flush() {
    if (aborted()) return Status::Unavailable("transaction already failed", "db_error");
    if (pending_.empty()) return Status::Ok();
    KEEL_RETURN_IF_ERROR(Begin());
    return SendFlush(false);
  }

  // Ends the batch: the last flush, with the batch's notifications, and COMMIT. Without
  // a server transaction the flush runs alone in autocommit. A lost connection then
  // leaves the outcome unknown: kUnavailable "commit_in_doubt". Other failures name
  // culprits, and the caller rolls back.
  Status Commit() {
    if (aborted()) return culprits_.begin()->second;
    if (!pending_.empty() || !notify_.empty()) KEEL_RETURN_IF_ERROR(SendFlush(true));
    if (!began_) return Status::Ok();
    try {
      w_.exec("COMMIT");
      began_ = false;
      return Status::Ok();
    } catch (const std::exception& e) {
      began_ = false;
      return InDoubt(e);
    }
  }

  // Ends a server transaction that will not commit.
  void Rollback() {
    if (!began_) return;
    began_ = false;
    try {
      w_.exec("ROLLBACK");
    } catch (const std::exception&) {
      // The connection is gone: so is the transaction.
    }
  }

 private:
  // A PostgreSQL array literal in text form, built one element at a time.
  class ArrayLiteral {
   public:
    void Text(std::string_view v) {
      Sep();
      s_ += '"';
      for (char c : v) {
        if (c == '"' || c == '\\') s_ += '\\';
        s_ += c;
      }
      s_ += '"';
    }
    void Int(int64_t v) {
      Sep();
      s_ += std::to_string(v);
    }
    void Bool(bool v) {
      Sep();
      s_ += v ? 't' : 'f';
    }
    void Bytes(std::string_view v) {  // bytea's hex form: "\\x0a1b"
      static const char kHex[] = "0123456789abcdef";
      Sep();
      s_ += "\"\\\\x";
      for (unsigned char c : v) {
        s_ += kHex[c >> 4];
        s_ += kHex[c & 15];
      }
      s_ += '"';
    }
    std::string Take() { return "{" + std::move(s_) + "}"; }

   private:
    void Sep() {
      if (!s_.empty()) s_ += ',';
    }
    std::string s_;
  };

  // Writes waiting for the next flush, in the order flush() applies them: execution
  // inserts, current-run pointers, execution updates (version-checked), history, task
  // inserts, task updates, task deletes, timer deletes.
  struct ExecOp {
    size_t fn;
    ExecutionRow row;  // version: the one to store
    int64_t expected;  // -1: insert
  };
  struct CurrentOp {
    size_t fn;
    std::string workflow_id, run_id;
  };
  struct HistoryOp {
    size_t fn;
    std::string run;
    int64_t first, last;
    std::string data;
  };
  struct TaskOp {
    size_t fn;
    TaskRow row;
    bool insert;
  };
  struct TaskDeleteOp {
    size_t fn;
    int64_t id;
  };
  struct RunOp {  // timers or tasks of a run, to delete
    size_t fn;
    std::string run;
  };
  struct Pending {
    std::vector<ExecOp> execs;
    std::vector<CurrentOp> currents;
    std::vector<HistoryOp> history;
    std::vector<TaskOp> tasks;
    std::vector<TaskDeleteOp> task_deletes;
    std::vector<RunOp> task_run_deletes;
    std::vector<RunOp> timer_run_deletes;
    std::set<std::string> task_run_deletes_set;
    std::set<std::string> updated_runs;
    std::set<int64_t> updated_tasks;

    template <typename F>
    void Each(F&& f) {
      f(execs);
      f(currents);
      f(history);
      f(tasks);
      f(task_deletes);
      f(task_run_deletes);
      f(timer_run_deletes);
    }
    bool empty() {
      bool out = true;
      Each([&](auto& v) { out = out && v.empty(); });
      return out;
    }
    std::set<size_t> Fns() {
      std::set<size_t> out;
      Each([&](auto& v) {
        for (const auto& op : v) out.insert(op.fn);
      });
      return out;
    }
    void Drop(size_t fn) {
      Each([fn](auto& v) { std::erase_if(v, [fn](const auto& op) { return op.fn == fn; }); });
      updated_runs.clear();
      updated_tasks.clear();
      for (const auto& op : execs) {
        if (op.expected >= 0) updated_runs.insert(op.row.run_id);
      }
      for (const auto& op : tasks) {
        if (!op.insert) updated_tasks.insert(op.row.id);
      }
      task_run_deletes_set.clear();
      for (const auto& op : task_run_deletes) task_run_deletes_set.insert(op.run);
    }
    // flush()'s arguments, in its parameter order.
    std::vector<std::string> Params() {
      std::vector<std::string> out;
      {
        ArrayLiteral a[17];
        for (const auto& op : execs) {
          const ExecutionRow& e = op.row;
          a[0].Text(e.run_id);
          a[1].Text(e.workflow_id);
          a[2].Text(e.workflow_type);
          a[3].Text(e.task_queue);
          a[4].Int(static_cast<int>(e.status));
          a[5].Int(e.version);
          a[6].Int(e.next_event_id);
          a[7].Int(e.wt_task_id);
          a[8].Int(e.start_time);
          a[9].Int(e.close_time);
          a[10].Bytes(e.result);
          a[11].Bytes(e.failure);
          a[12].Bytes(e.wt_failure);
          a[13].Text(e.parent_run_id);
          a[14].Bytes(e.parent);
          a[15].Int(e.children);
          a[16].Int(op.expected);
        }
        for (auto& x : a) out.push_back(x.Take());
      }
      {
        ArrayLiteral a[2];
        for (const auto& op : currents) {
          a[0].Text(op.workflow_id);
          a[1].Text(op.run_id);
        }
        for (auto& x : a) out.push_back(x.Take());
      }
      {
        ArrayLiteral a[4];
        for (const auto& op : history) {
          a[0].Text(op.run);
          a[1].Int(op.first);
          a[2].Int(op.last);
          a[3].Bytes(op.data);
        }
        for (auto& x : a) out.push_back(x.Take());
      }
      {
        ArrayLiteral a[18];
        for (const auto& op : tasks) {
          const TaskRow& t = op.row;
          a[0].Bool(op.insert);
          a[1].Int(t.id);
          a[2].Text(t.queue);
          a[3].Int(static_cast<int>(t.kind));
          a[4].Text(t.workflow_id);
          a[5].Text(t.run_id);
          a[6].Text(t.activity_id);
          a[7].Int(t.attempt);
          a[8].Int(t.visible_at);
          a[9].Text(t.lease_owner);
          a[10].Int(t.lease_token);
          a[11].Int(t.lease_expires);
          a[12].Int(t.lease_ms);
          a[13].Int(t.started_at);
          a[14].Int(t.start_deadline);
          a[15].Int(t.close_deadline);
          a[16].Int(ComputeTaskDeadline(t));
          a[17].Bytes(t.info);
        }
        for (auto& x : a) out.push_back(x.Take());
      }
      ArrayLiteral d, dr, r;
      for (const auto& op : task_deletes) d.Int(op.id);
      for (const auto& op : task_run_deletes) dr.Text(op.run);
      for (const auto& op : timer_run_deletes) r.Text(op.run);
      out.push_back(d.Take());
      out.push_back(dr.Take());
      out.push_back(r.Take());
      return out;
    }
  };

  void DirtyRun(const std::string& run) {
    dirty_runs_.insert(run);
    prefetched_.erase(run);
  }
  // The task and execution columns of get_task_exec's row; keeps the execution row for
  // GetExecution unless this transaction has changed it.
  TaskRow TakeTaskAndExec(const pqxx::row& r) {
    TaskRow t = ReadTaskRow(r);
    if (!dirty_runs_.count(t.run_id)) {
      prefetched_[t.run_id] = r[17].is_null() ? std::optional<ExecutionRow>()
                                              : std::optional<ExecutionRow>(ReadExecRowAt(r, 17));
    }
    return t;
  }
  void DirtyTask(const TaskRow& t) {
    prefetched_tasks_.erase(t.id);
    dirty_tasks_.insert(t.id);
    dirty_task_runs_.insert(t.run_id);
    if (t.lease_owner.empty() && t.visible_at <= now_) {
      notify_.insert("t|" + std::to_string(static_cast<int>(t.kind)) + "|" + t.queue);
    }
  }
  // Runs a statement now, inside the server transaction and after the queued writes
  // (which it may depend on).
  template <typename T, typename F>
  Result<T> Now(const char* what, F&& f) {
    KEEL_RETURN_IF_ERROR(Flush());
    return InTxn<T>(what, std::forward<F>(f));
  }
  // Runs a statement now, inside the server transaction, ahead of the queued writes:
  // one that writes or locks what they do not touch.
  template <typename T, typename F>
  Result<T> InTxn(const char* what, F&& f) {
    KEEL_RETURN_IF_ERROR(Begin());
    return Ahead<T>(what, std::forward<F>(f));
  }
  Status Begin() {
    if (aborted()) return culprits_.begin()->second;
    if (began_) return Status::Ok();
    try {
      w_.exec("BEGIN");
      began_ = true;
      return Status::Ok();
    } catch (const std::exception& e) {
      Status s = PgStatus(e, "starting a transaction");
      culprits_[fn_] = s;
      return s;
    }
  }
  static Status InDoubt(const std::exception& e) {
    Status s = PgStatus(e, "committing");
    if (s.reason() != "db_unreachable") return s;
    return Status::Unavailable(s.message() + " (the commit's outcome is unknown; it is retried)",
                               "commit_in_doubt");
  }
  Status SendFlush(bool final);
  void Blame(const Pending& p, const std::set<size_t>& fns, const std::exception& e);
  // Runs a statement now, ahead of the queued writes: only for one that reads or writes
  // nothing they touch (the caller checks the dirty sets).
  template <typename T, typename F>
  Result<T> Ahead(const char* what, F&& f) {
    if (aborted()) return Status::Unavailable("transaction already failed", "db_error");
    try {
      return f();
    } catch (const std::exception& e) {
      Status s = PgStatus(e, what);
      culprits_[fn_] = s;
      return s;
    }
  }
  void Closed(const ExecutionRow& e) { notify_.insert("c|" + e.workflow_id + "|" + e.run_id); }

  pqxx::nontransaction& w_;
  Millis now_;
  std::string channel_;
  bool began_ = false;
  IdBlock* ids_;
  size_t fn_ = 0;
  std::map<size_t, Status> culprits_;
  Pending pending_;
  std::set<size_t> flushed_fns_;
  std::set<std::string> dirty_runs_, dirty_wids_;
  std::set<int64_t> dirty_tasks_;
  std::set<std::string> dirty_task_runs_;
  bool deleted_any_task_ = false;
  std::map<std::string, std::optional<ExecutionRow>> prefetched_;
  std::map<int64_t, std::optional<TaskRow>> prefetched_tasks_;
  std::map<std::string, std::optional<std::string>> prefetched_current_;  // workflow id -> run
  std::set<std::string> notify_;
};

Status PgTxn::SendFlush(bool final) {
  Pending p = std::move(pending_);
  pending_ = Pending();
  std::set<size_t> fns = p.Fns();
  flushed_fns_.insert(fns.begin(), fns.end());
  dirty_runs_.clear();
  dirty_wids_.clear();
  dirty_tasks_.clear();
  dirty_task_runs_.clear();
  deleted_any_task_ = false;
  std::vector<std::string> params = p.Params();
  ArrayLiteral notes;
  if (final) {
    for (const auto& n : notify_) notes.Text(n);
  }
  params.push_back(channel_);
  params.push_back(notes.Take());
  try {
    w_.exec_prepared("flush", pqxx::prepare::make_dynamic_params(params));
    return Status::Ok();
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == kVersionConflictState) {
      // "... at {2,5}": the 1-based positions in the execution arrays of the updates
      // whose expected version no longer matched.
      std::string what = e.what();
      size_t at = what.find('{');
      while (at != std::string::npos && at + 1 < what.size()) {
        size_t k = std::strtoull(what.c_str() + at + 1, nullptr, 10);
        if (k >= 1 && k <= p.execs.size()) {
          culprits_[p.execs[k - 1].fn] =
              Status::ConditionFailed("a run changed concurrently", "version_conflict");
        }
        at = what.find_first_of(",}", at + 1);
        if (at != std::string::npos && what[at] == '}') break;
      }
    }
    if (culprits_.empty()) Blame(p, fns, e);
  } catch (const std::exception& e) {
    if (final && !began_) {
      Status s = InDoubt(e);
      if (s.reason() == "commit_in_doubt") return s;  // not a culprit's fault
    }
    Blame(p, fns, e);
  }
  return culprits_.begin()->second;
}

void PgTxn::Blame(const Pending& p, const std::set<size_t>& fns, const std::exception& e) {
  Status s = PgStatus(e, "writing");
  if (s.reason() == "constraint") {
    // Two writers appending the same events to one run: the same as a version
    // conflict. The server's message names the key: blame whoever appended to it.
    Status conflict = Status::ConditionFailed("a run changed concurrently", "version_conflict");
    std::string what = e.what();
    for (const auto& h : p.history) {
      if (what.find("(" + h.run + ", ") != std::string::npos) culprits_[h.fn] = conflict;
    }
    if (culprits_.empty()) {
      for (const auto& h : p.history) culprits_[h.fn] = conflict;
    }
  }
  if (culprits_.empty()) {
    for (size_t fn : fns) culprits_[fn] = s;
  }
  if (culprits_.empty()) culprits_[fn_] = s;
}

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

  void Submit(TxnFn fn, DoneFn done, ReadHint hint) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back({std::move(fn), std::move(done), hint});
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

  // One statement in autocommit, on a reader connection: a poll waits for no batch
  // and makes none wait. An empty poll writes nothing.
  Result<std::vector<TaskRow>> PollTasks(std::string_view queue, TaskKind kind,
                                         std::string_view owner, int limit) override {
    Millis now = clock()->Now();
    return Read<std::vector<TaskRow>>("polling tasks", [&](pqxx::nontransaction& t) {
      return LeaseStatement(t, queue, kind, owner, now, limit);
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
    ReadHint hint;
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
      if (version > LatestVersion()) {
        return Status::FailedPrecondition(
            "the database schema " + opts_.schema + " has version " + std::to_string(version) +
                ", newer than this binary knows (" + std::to_string(LatestVersion()) +
                "); run a newer keel",
            "schema_too_new");
      }
      if (version < LatestVersion() && !opts_.migrate) {
        return Status::FailedPrecondition("the database schema " + opts_.schema + " has version " +
                                              std::to_string(version) + "; run `keel db migrate`",
                                          "schema_out_of_date");
      }
      for (int v = version; v < LatestVersion(); ++v)
        w.exec(WithSchema(PostgresMigrations()[v].sql, w.quote_name(opts_.schema)));
      if (version < LatestVersion()) {
        w.exec("DELETE FROM " + w.quote_name(opts_.schema) + ".schema_version");
        w.exec("INSERT INTO " + w.quote_name(opts_.schema) + ".schema_version VALUES(" +
               std::to_string(LatestVersion()) + ")");
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
        // Group commit: a writer starts a batch when none is running, or when enough
        // is queued to be worth a second commit in parallel. Idle writers that took
        // whatever was queued would split the load into batches of one or two.
        cv_.wait(l, [this] {
          return stopping_ || (!queue_.empty() &&
                               (busy_ == 0 || static_cast<int>(queue_.size()) >= kParallelBatch));
        });
        if (queue_.empty() && stopping_) return;
        while (!queue_.empty() && static_cast<int>(batch.size()) < opts_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        ++busy_;
      }
      struct Idle {  // wakes a writer that waited for this batch to end
        PgStore* s;
        ~Idle() {
          {
            std::lock_guard<std::mutex> g(s->mu_);
            --s->busy_;
          }
          s->cv_.notify_all();
        }
      } idle{this};
      if (!conn || !conn->is_open()) {
        try {
          conn = Connect(opts_);
          // A writer's statements touch a few rows by key. Plan them once (generic
          // plans), and through the keys' indexes: a plan made while a table was
          // empty would otherwise scan it whole for the rest of the session.
          pqxx::nontransaction(*conn).exec(
              "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; "
              "SET enable_hashjoin = off; SET enable_mergejoin = off");
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
      pqxx::nontransaction w(conn);
      PgTxn txn(w, clock()->Now(), channel_, ids);
      std::vector<ReadHint> hints;
      hints.reserve(batch.size());
      for (const auto& it : batch) hints.push_back(it.hint);
      txn.Prefetch(hints);
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
      if (culprits.empty()) {
        Status c = txn.Commit();
        if (txn.aborted()) {
          culprits = txn.culprits();
        } else {
          commit = c;
        }
      }
      if (!culprits.empty()) txn.Rollback();
    } catch (const std::exception& e) {
      commit = PgStatus(e, "committing");
    }
    if (!culprits.empty()) {
      counters_.rollbacks.Inc();
      spdlog::debug("rollback: {} culprits, first: {}", culprits.size(),
                    culprits.begin()->second.ToString());
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
    if (commit.ok()) {
      counters_.commits.Inc();
      counters_.transactions.Inc(static_cast<int64_t>(batch.size()));
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
  StoreCounters& counters_ = StoreCounters::For("postgres");
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::vector<std::thread> writers_;
  int busy_ = 0;  // writers running a batch; guarded by mu_
  // Queued transitions that make a second batch worth running beside a running one.
  static constexpr int kParallelBatch = 8;
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

int PostgresSchemaVersionLatest() { return LatestVersion(); }

}  // namespace keel::persistence
