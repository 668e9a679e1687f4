#include "persistence/sqlite/sqlite_store.h"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <mutex>
#include <thread>

#include "persistence/columns.h"
#include "persistence/history_codec.h"
#include "persistence/migrations.h"
#include "persistence/sqlite/sqlite_db.h"

namespace keel::persistence {
namespace {

// The schema version the migrations end at (persistence/migrations.h).
int LatestVersion() { return static_cast<int>(SqliteMigrations().size()); }

ExecutionRow ReadExecRow(const SqliteStmt& st) {
  ExecutionRow r;
  r.run_id = st.Text(0);
  r.workflow_id = st.Text(1);
  r.workflow_type = st.Text(2);
  r.task_queue = st.Text(3);
  r.status = static_cast<ExecutionStatus>(st.Int(4));
  r.version = st.Int(5);
  r.next_event_id = st.Int(6);
  r.wt_task_id = st.Int(7);
  r.start_time = st.Int(8);
  r.close_time = st.Int(9);
  r.result = st.Text(10);
  r.failure = st.Text(11);
  r.wt_failure = st.Text(12);
  r.parent_run_id = st.Text(13);
  r.parent = st.Text(14);
  r.children = st.Int(15);
  return r;
}

TaskRow ReadTaskRow(const SqliteStmt& st) {
  TaskRow t;
  t.id = st.Int(0);
  t.queue = st.Text(1);
  t.kind = static_cast<TaskKind>(st.Int(2));
  t.workflow_id = st.Text(3);
  t.run_id = st.Text(4);
  t.activity_id = st.Text(5);
  t.attempt = static_cast<int32_t>(st.Int(6));
  t.visible_at = st.Int(7);
  t.lease_owner = st.Text(8);
  t.lease_token = st.Int(9);
  t.lease_expires = st.Int(10);
  t.lease_ms = st.Int(11);
  t.started_at = st.Int(12);
  t.start_deadline = st.Int(13);
  t.close_deadline = st.Int(14);
  t.deadline = st.Int(15);
  t.info = st.Text(16);
  return t;
}

TimerRow ReadTimerRow(const SqliteStmt& st) {
  TimerRow t;
  t.id = st.Int(0);
  t.workflow_id = st.Text(1);
  t.run_id = st.Text(2);
  t.timer_id = st.Text(3);
  t.fire_at = st.Int(4);
  return t;
}

#define PREPARE(var, db, sql)                     \
  auto var##_res = (db).Prepare(sql);             \
  if (!var##_res.ok()) return var##_res.status(); \
  SqliteStmt var(var##_res.value())

// Runs the schema migrations that `db` lacks, in one transaction.
Status Migrate(SqliteDb& db, bool allowed) {
  KEEL_RETURN_IF_ERROR(db.Exec("BEGIN IMMEDIATE"));
  auto fail = [&db](Status s) {
    (void)db.Exec("ROLLBACK");
    return s;
  };
  int version = 0;
  {
    PREPARE(st, db, "PRAGMA user_version");
    if (st.Step() == SQLITE_ROW) version = static_cast<int>(st.Int(0));
  }
  if (version > LatestVersion()) {
    return fail(
        Status::FailedPrecondition("the data dir has schema version " + std::to_string(version) +
                                       ", newer than this binary knows (" +
                                       std::to_string(LatestVersion()) + "); run a newer keel",
                                   "schema_too_new"));
  }
  if (version < LatestVersion() && !allowed) {
    return fail(Status::FailedPrecondition(
        "the data dir has schema version " + std::to_string(version) + "; run `keel db migrate`",
        "schema_out_of_date"));
  }
  for (int v = version; v < LatestVersion(); ++v) {
    Status s = db.Exec(SqliteMigrations()[v].sql);
    if (!s.ok()) return fail(s);
    s = db.Exec("PRAGMA user_version=" + std::to_string(v + 1));
    if (!s.ok()) return fail(s);
  }
  return db.Exec("COMMIT");
}

class SqliteTxn final : public Txn {
 public:
  SqliteTxn(SqliteDb& db, Clock* clock) : db_(db), clock_(clock) {}

  Millis Now() const override { return now_; }
  void set_now(Millis now) { now_ = now; }

  // Store::RecordPoller's write; not part of the Txn interface.
  Status UpsertPoller(std::string_view queue, TaskKind kind, std::string_view identity) {
    PREPARE(up, db_,
            "INSERT INTO pollers(queue, kind, identity, last_poll_at) VALUES(?1, ?2, ?3, ?4) "
            "ON CONFLICT(queue, kind, identity) DO UPDATE SET last_poll_at=excluded.last_poll_at");
    up.Bind(1, queue).Bind(2, static_cast<int>(kind)).Bind(3, identity).Bind(4, now_);
    int rc = up.Step();
    if (rc != SQLITE_DONE) return SqliteStatus(rc, db_.handle(), "recording a poller");
    PREPARE(del, db_, "DELETE FROM pollers WHERE last_poll_at<?1");
    del.Bind(1, now_ - Store::kPollerForgetMs);
    rc = del.Step();
    return rc == SQLITE_DONE ? Status::Ok() : SqliteStatus(rc, db_.handle(), "forgetting pollers");
  }

  Result<std::optional<ExecutionRow>> GetExecution(std::string_view run_id) override {
    static const std::string sql =
        std::string("SELECT ") + kExecCols + " FROM executions WHERE run_id=?1";
    PREPARE(st, db_, sql.c_str());
    st.Bind(1, run_id);
    int rc = st.Step();
    if (rc == SQLITE_ROW) return std::optional<ExecutionRow>(ReadExecRow(st));
    if (rc == SQLITE_DONE) return std::optional<ExecutionRow>();
    return SqliteStatus(rc, db_.handle(), "reading execution");
  }

  Result<std::optional<std::string>> GetCurrentRunId(std::string_view workflow_id) override {
    PREPARE(st, db_, "SELECT run_id FROM current_executions WHERE workflow_id=?1");
    st.Bind(1, workflow_id);
    int rc = st.Step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(st.Text(0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return SqliteStatus(rc, db_.handle(), "reading current run");
  }

  Status InsertExecution(const ExecutionRow& r) override {
    static const std::string sql =
        std::string("INSERT INTO executions(") + kExecCols +
        ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)";
    {
      PREPARE(st, db_, sql.c_str());
      BindExec(st, r);
      KEEL_RETURN_IF_ERROR(db_.Run(st, "inserting execution"));
    }
    PREPARE(cur, db_,
            "INSERT INTO current_executions(workflow_id, run_id) VALUES(?1,?2) "
            "ON CONFLICT(workflow_id) DO UPDATE SET run_id=excluded.run_id");
    cur.Bind(1, r.workflow_id).Bind(2, r.run_id);
    return db_.Run(cur, "setting current run");
  }

  Status UpdateExecution(const ExecutionRow& r, int64_t expected_version) override {
    PREPARE(
        st, db_,
        "UPDATE executions SET workflow_id=?2, workflow_type=?3, task_queue=?4, status=?5, "
        "version=?6, next_event_id=?7, wt_task_id=?8, start_time=?9, close_time=?10, "
        "result=?11, failure=?12, wt_failure=?13, children=?16 WHERE run_id=?1 AND version=?17");
    ExecutionRow copy = r;
    copy.version = expected_version + 1;
    BindExec(st, copy);  // (?14 and ?15, the parent, never change)
    st.Bind(17, expected_version);
    KEEL_RETURN_IF_ERROR(db_.Run(st, "updating execution"));
    if (sqlite3_changes(db_.handle()) != 1) {
      return Status::ConditionFailed("execution " + r.run_id + " changed concurrently",
                                     "version_conflict");
    }
    return Status::Ok();
  }

  Status AppendHistory(std::string_view run_id,
                       const std::vector<proto::HistoryEvent>& events) override {
    if (events.empty()) return Status::Ok();
    std::string blob = EncodeHistoryBatch(events);
    PREPARE(st, db_,
            "INSERT INTO history(run_id, first_event_id, last_event_id, data) "
            "VALUES(?1,?2,?3,?4)");
    st.Bind(1, run_id)
        .Bind(2, events.front().event_id())
        .Bind(3, events.back().event_id())
        .BindBlob(4, blob);
    Status s = db_.Run(st, "appending history");
    if (s.reason() == "constraint") {  // these events are there already: a stale writer
      return Status::ConditionFailed("a run changed concurrently", "version_conflict");
    }
    return s;
  }

  Result<int64_t> InsertTask(const TaskRow& t) override {
    PREPARE(st, db_,
            "INSERT INTO tasks(queue, kind, workflow_id, run_id, activity_id, attempt, "
            "visible_at, lease_owner, lease_token, lease_expires, lease_ms, started_at, "
            "start_deadline, close_deadline, deadline, info) "
            "VALUES(?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17)");
    BindTask(st, t);
    KEEL_RETURN_IF_ERROR(db_.Run(st, "inserting task"));
    return sqlite3_last_insert_rowid(db_.handle());
  }

  Result<std::optional<TaskRow>> GetTask(int64_t id) override {
    static const std::string sql = std::string("SELECT ") + kTaskCols + " FROM tasks WHERE id=?1";
    PREPARE(st, db_, sql.c_str());
    st.Bind(1, id);
    int rc = st.Step();
    if (rc == SQLITE_ROW) return std::optional<TaskRow>(ReadTaskRow(st));
    if (rc == SQLITE_DONE) return std::optional<TaskRow>();
    return SqliteStatus(rc, db_.handle(), "reading task");
  }

  Status UpdateTask(const TaskRow& t) override {
    PREPARE(st, db_,
            "UPDATE tasks SET queue=?2, kind=?3, workflow_id=?4, run_id=?5, activity_id=?6, "
            "attempt=?7, visible_at=?8, lease_owner=?9, lease_token=?10, lease_expires=?11, "
            "lease_ms=?12, started_at=?13, start_deadline=?14, close_deadline=?15, "
            "deadline=?16, info=?17 WHERE id=?1");
    BindTask(st, t);
    st.Bind(1, t.id);
    return db_.Run(st, "updating task");
  }

  Status DeleteTask(int64_t id) override {
    PREPARE(st, db_, "DELETE FROM tasks WHERE id=?1");
    st.Bind(1, id);
    return db_.Run(st, "deleting task");
  }

  Result<std::optional<TaskRow>> FindActivityTask(std::string_view run_id,
                                                  std::string_view activity_id) override {
    static const std::string sql = std::string("SELECT ") + kTaskCols +
                                   " FROM tasks WHERE run_id=?1 AND activity_id=?2 AND kind=2";
    PREPARE(st, db_, sql.c_str());
    st.Bind(1, run_id).Bind(2, activity_id);
    int rc = st.Step();
    if (rc == SQLITE_ROW) return std::optional<TaskRow>(ReadTaskRow(st));
    if (rc == SQLITE_DONE) return std::optional<TaskRow>();
    return SqliteStatus(rc, db_.handle(), "reading activity task");
  }

  Status DeleteTasksOfRun(std::string_view run_id) override {
    PREPARE(st, db_, "DELETE FROM tasks WHERE run_id=?1");
    st.Bind(1, run_id);
    return db_.Run(st, "deleting tasks");
  }

  Result<std::vector<TaskRow>> LeaseTasks(std::string_view queue, TaskKind kind,
                                          std::string_view owner, Millis /*lease_ms*/,
                                          int limit) override {
    std::vector<TaskRow> out;
    {
      static const std::string sql =
          std::string("SELECT ") + kTaskCols +
          " FROM tasks WHERE queue=?1 AND kind=?2 AND lease_owner='' AND visible_at<=?3 "
          "ORDER BY visible_at LIMIT ?4";
      PREPARE(st, db_, sql.c_str());
      st.Bind(1, queue).Bind(2, static_cast<int>(kind)).Bind(3, now_).Bind(4, limit);
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadTaskRow(st));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db_.handle(), "polling tasks");
    }
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
    PREPARE(st, db_,
            "INSERT INTO timers(workflow_id, run_id, timer_id, fire_at) VALUES(?1,?2,?3,?4)");
    st.Bind(1, t.workflow_id).Bind(2, t.run_id).Bind(3, t.timer_id).Bind(4, t.fire_at);
    KEEL_RETURN_IF_ERROR(db_.Run(st, "inserting timer"));
    return sqlite3_last_insert_rowid(db_.handle());
  }

  Result<bool> DeleteTimer(int64_t id) override {
    PREPARE(st, db_, "DELETE FROM timers WHERE id=?1");
    st.Bind(1, id);
    KEEL_RETURN_IF_ERROR(db_.Run(st, "deleting timer"));
    return sqlite3_changes(db_.handle()) == 1;
  }

  Result<bool> DeleteTimerByName(std::string_view run_id, std::string_view timer_id) override {
    PREPARE(st, db_, "DELETE FROM timers WHERE run_id=?1 AND timer_id=?2");
    st.Bind(1, run_id).Bind(2, timer_id);
    KEEL_RETURN_IF_ERROR(db_.Run(st, "deleting timer"));
    return sqlite3_changes(db_.handle()) >= 1;
  }

  Status DeleteTimersOfRun(std::string_view run_id) override {
    PREPARE(st, db_, "DELETE FROM timers WHERE run_id=?1");
    st.Bind(1, run_id);
    return db_.Run(st, "deleting timers");
  }

  Result<bool> InsertRequestId(std::string_view run_id, std::string_view request_id) override {
    PREPARE(st, db_, "INSERT OR IGNORE INTO requests(run_id, request_id) VALUES(?1,?2)");
    st.Bind(1, run_id).Bind(2, request_id);
    KEEL_RETURN_IF_ERROR(db_.Run(st, "recording request id"));
    return sqlite3_changes(db_.handle()) == 1;
  }
  Result<int64_t> DeleteClosedRuns(Millis closed_before, int limit) override {
    std::vector<std::pair<std::string, std::string>> runs;  // run id, workflow id
    {
      PREPARE(st, db_,
              "SELECT run_id, workflow_id FROM executions WHERE status<>1 AND close_time>0 AND "
              "close_time<?1 ORDER BY close_time LIMIT ?2");
      st.Bind(1, closed_before).Bind(2, static_cast<int64_t>(limit));
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) runs.emplace_back(st.Text(0), st.Text(1));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db_.handle(), "finding expired runs");
    }
    for (const auto& [run, wid] : runs) {
      for (const char* sql :
           {"DELETE FROM history WHERE run_id=?1", "DELETE FROM requests WHERE run_id=?1",
            "DELETE FROM current_executions WHERE run_id=?1",
            "DELETE FROM executions WHERE run_id=?1"}) {
        PREPARE(st, db_, sql);
        st.Bind(1, run);
        KEEL_RETURN_IF_ERROR(db_.Run(st, "deleting an expired run"));
      }
    }
    return static_cast<int64_t>(runs.size());
  }
  Result<std::vector<ExecutionRow>> ListOpenChildren(std::string_view parent_run_id) override {
    // The last term lets the plan use the partial index executions_by_parent.
    static const std::string sql = std::string("SELECT ") + kExecCols +
                                   " FROM executions WHERE parent_run_id=?1 AND status=1 "
                                   "AND parent_run_id <> ''";
    PREPARE(st, db_, sql.c_str());
    st.Bind(1, parent_run_id);
    std::vector<ExecutionRow> out;
    int rc;
    while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadExecRow(st));
    if (rc != SQLITE_DONE) return SqliteStatus(rc, db_.handle(), "listing child runs");
    return out;
  }

 private:
  static void BindExec(SqliteStmt& st, const ExecutionRow& r) {
    st.Bind(1, r.run_id)
        .Bind(2, r.workflow_id)
        .Bind(3, r.workflow_type)
        .Bind(4, r.task_queue)
        .Bind(5, static_cast<int>(r.status))
        .Bind(6, r.version)
        .Bind(7, r.next_event_id)
        .Bind(8, r.wt_task_id)
        .Bind(9, r.start_time)
        .Bind(10, r.close_time)
        .BindBlob(11, r.result)
        .BindBlob(12, r.failure)
        .BindBlob(13, r.wt_failure)
        .Bind(14, r.parent_run_id)
        .BindBlob(15, r.parent)
        .Bind(16, r.children);
  }
  static void BindTask(SqliteStmt& st, const TaskRow& t) {
    st.Bind(2, t.queue)
        .Bind(3, static_cast<int>(t.kind))
        .Bind(4, t.workflow_id)
        .Bind(5, t.run_id)
        .Bind(6, t.activity_id)
        .Bind(7, t.attempt)
        .Bind(8, t.visible_at)
        .Bind(9, t.lease_owner)
        .Bind(10, t.lease_token)
        .Bind(11, t.lease_expires)
        .Bind(12, t.lease_ms)
        .Bind(13, t.started_at)
        .Bind(14, t.start_deadline)
        .Bind(15, t.close_deadline)
        .Bind(16, ComputeTaskDeadline(t))
        .BindBlob(17, t.info);
  }

  SqliteDb& db_;
  Clock* clock_;
  Millis now_ = 0;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(SqliteOptions opts) : opts_(std::move(opts)) {}
  ~SqliteStore() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard<std::mutex> l(ckpt_mu_);
      ckpt_stop_ = true;
    }
    ckpt_cv_.notify_all();
    if (checkpointer_.joinable()) checkpointer_.join();
  }

  Status Init() {
    KEEL_RETURN_IF_ERROR(PrepareDataDir(opts_.dir));
    path_ = (std::filesystem::path(opts_.dir) / "engine.db").string();
    KEEL_RETURN_IF_ERROR(writer_db_.Open(path_, true, opts_.synchronous, opts_.busy_timeout_ms));
    KEEL_RETURN_IF_ERROR(Migrate(writer_db_, opts_.migrate));
    if (opts_.max_size_bytes > 0) {
      KEEL_RETURN_IF_ERROR(writer_db_.Exec("PRAGMA max_page_count=" +
                                           std::to_string(opts_.max_size_bytes / 4096 + 1)));
    }
    // Checkpoints run on their own connection and thread, so the writer's COMMIT
    // never waits for the WAL to be copied back into the database file.
    KEEL_RETURN_IF_ERROR(writer_db_.Exec("PRAGMA wal_autocheckpoint=0"));
    sqlite3_wal_hook(writer_db_.handle(), &SqliteStore::OnWalCommit, this);
    KEEL_RETURN_IF_ERROR(ckpt_db_.Open(path_, false, opts_.synchronous, opts_.busy_timeout_ms));
    checkpointer_ = std::thread([this] { CheckpointLoop(); });
    writer_ = std::thread([this] { WriterLoop(); });
    return Status::Ok();
  }

  // Runs on the writer thread after each commit; `pages` is the WAL's length. One
  // checkpoint is asked for each kCheckpointPages the WAL grows: asking again on every
  // commit while the WAL waits to restart ran a checkpoint (two fsyncs) every few
  // commits.
  static int OnWalCommit(void* self, sqlite3*, const char*, int pages) {
    auto* store = static_cast<SqliteStore*>(self);
    if (pages < store->wal_asked_at_) store->wal_asked_at_ = 0;  // the WAL restarted
    if (pages - store->wal_asked_at_ >= kCheckpointPages) {
      store->wal_asked_at_ = pages;
      {
        std::lock_guard<std::mutex> l(store->ckpt_mu_);
        store->ckpt_wanted_ = true;
      }
      store->ckpt_cv_.notify_one();
    }
    return SQLITE_OK;
  }

  void CheckpointLoop() {
    std::unique_lock<std::mutex> l(ckpt_mu_);
    for (;;) {
      ckpt_cv_.wait_for(l, std::chrono::seconds(1), [this] { return ckpt_stop_ || ckpt_wanted_; });
      if (ckpt_stop_) return;
      ckpt_wanted_ = false;
      l.unlock();
      // PASSIVE: copies what it can without blocking the writer or readers.
      sqlite3_wal_checkpoint_v2(ckpt_db_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                nullptr);
      counters_.checkpoints.Inc();
      l.lock();
    }
  }

  void Submit(TxnFn fn, DoneFn done, ReadHint /*hint*/) override {  // reads are local
    bool wake;
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back({std::move(fn), std::move(done)});
      wake = writer_idle_;
    }
    if (wake) cv_.notify_one();  // a busy writer picks it up after its commit
  }

  Result<std::optional<ExecutionRow>> ReadExecution(std::string_view run_id) override {
    return WithReader([&](SqliteDb& db) -> Result<std::optional<ExecutionRow>> {
      SqliteTxn t(db, clock());
      return t.GetExecution(run_id);
    });
  }

  Result<std::optional<ExecutionRow>> ReadCurrentExecution(std::string_view wid) override {
    return WithReader([&](SqliteDb& db) -> Result<std::optional<ExecutionRow>> {
      SqliteTxn t(db, clock());
      KEEL_ASSIGN_OR_RETURN(auto run, t.GetCurrentRunId(wid));
      if (!run) return std::optional<ExecutionRow>();
      return t.GetExecution(*run);
    });
  }

  Result<std::vector<proto::HistoryEvent>> ReadHistory(std::string_view run_id,
                                                       int64_t from) override {
    return WithReader([&](SqliteDb& db) -> Result<std::vector<proto::HistoryEvent>> {
      PREPARE(st, db,
              "SELECT data FROM history WHERE run_id=?1 AND last_event_id>=?2 "
              "ORDER BY first_event_id");
      st.Bind(1, run_id).Bind(2, from);
      std::vector<proto::HistoryEvent> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) {
        KEEL_RETURN_IF_ERROR(DecodeHistoryBatch(st.Text(0), from, &out));
      }
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "reading history");
      return out;
    });
  }

  Result<std::map<std::string, proto::HistoryEvent>> ReadStartEvents(
      const std::vector<std::string>& run_ids) override {
    return WithReader([&](SqliteDb& db) -> Result<std::map<std::string, proto::HistoryEvent>> {
      std::vector<std::pair<std::string, std::string>> blobs;
      for (const auto& id : run_ids) {
        PREPARE(st, db, "SELECT data FROM history WHERE run_id=?1 AND first_event_id=1");
        st.Bind(1, id);
        int rc = st.Step();
        if (rc == SQLITE_ROW) {
          blobs.emplace_back(id, st.Text(0));
        } else if (rc != SQLITE_DONE) {
          return SqliteStatus(rc, db.handle(), "reading first events");
        }
      }
      return FirstEvents(blobs);
    });
  }

  Result<std::map<ExecutionStatus, int64_t>> CountExecutions(const ListFilter& f) override {
    return WithReader([&](SqliteDb& db) -> Result<std::map<ExecutionStatus, int64_t>> {
      PREPARE(st, db,
              "SELECT status, count(*) FROM executions WHERE (?1 = '' OR workflow_type = ?1) "
              "AND start_time >= ?2 AND (?3 = 0 OR start_time < ?3) "
              "AND (?4 = '' OR substr(workflow_id, 1, length(?4)) = ?4) GROUP BY status");
      st.Bind(1, f.workflow_type)
          .Bind(2, f.start_after)
          .Bind(3, f.start_before)
          .Bind(4, f.workflow_id_prefix);
      std::map<ExecutionStatus, int64_t> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) {
        out[static_cast<ExecutionStatus>(st.Int(0))] = st.Int(1);
      }
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "counting executions");
      return out;
    });
  }

  Result<ListPage> ListExecutions(const ListFilter& f) override {
    return WithReader([&](SqliteDb& db) -> Result<ListPage> {
      Millis cur_start = INT64_MAX;
      std::string cur_run = "\xff";
      if (!f.cursor.empty()) {
        auto sep = f.cursor.find('_');
        if (sep == std::string::npos) {
          return Status::InvalidArgument("bad cursor", "bad_cursor");
        }
        try {
          cur_start = std::stoll(f.cursor.substr(0, sep));
        } catch (...) {
          return Status::InvalidArgument("bad cursor", "bad_cursor");
        }
        cur_run = f.cursor.substr(sep + 1);
      }
      static const std::string sql =
          std::string("SELECT ") + kExecCols +
          " FROM executions WHERE (start_time < ?1 OR (start_time = ?1 AND run_id < ?2)) "
          "AND (?3 = '' OR workflow_type = ?3) AND (?4 = 0 OR status = ?4) "
          "AND start_time >= ?5 AND (?6 = 0 OR start_time < ?6) "
          "AND (?8 = '' OR substr(workflow_id, 1, length(?8)) = ?8) "
          "ORDER BY start_time DESC, run_id DESC LIMIT ?7";
      PREPARE(st, db, sql.c_str());
      st.Bind(1, cur_start)
          .Bind(2, cur_run)
          .Bind(3, f.workflow_type)
          .Bind(4, f.status ? static_cast<int>(*f.status) : 0)
          .Bind(5, f.start_after)
          .Bind(6, f.start_before)
          .Bind(7, f.limit + 1)
          .Bind(8, f.workflow_id_prefix);
      ListPage page;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) page.rows.push_back(ReadExecRow(st));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "listing executions");
      if (static_cast<int>(page.rows.size()) > f.limit) {
        page.rows.pop_back();
        const auto& last = page.rows.back();
        page.next_cursor = std::to_string(last.start_time) + "_" + last.run_id;
      }
      return page;
    });
  }

  Status RecordPoller(std::string_view queue, TaskKind kind, std::string_view identity) override {
    return Transact(
        [&](Txn& t) { return static_cast<SqliteTxn&>(t).UpsertPoller(queue, kind, identity); });
  }

  Result<std::vector<PollerRow>> ListPollers(Millis since) override {
    return WithReader([&](SqliteDb& db) -> Result<std::vector<PollerRow>> {
      PREPARE(st, db,
              "SELECT queue, kind, identity, last_poll_at FROM pollers WHERE last_poll_at>=?1 "
              "ORDER BY queue, kind, identity");
      st.Bind(1, since);
      std::vector<PollerRow> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) {
        out.push_back({st.Text(0), static_cast<TaskKind>(st.Int(1)), st.Text(2), st.Int(3)});
      }
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "listing pollers");
      return out;
    });
  }

  Result<int64_t> CountTimers() override {
    return WithReader([&](SqliteDb& db) -> Result<int64_t> {
      PREPARE(st, db, "SELECT count(*) FROM timers");
      int rc = st.Step();
      if (rc != SQLITE_ROW) return SqliteStatus(rc, db.handle(), "counting timers");
      return st.Int(0);
    });
  }
  Result<std::vector<TaskRow>> ListQueueTasks(std::string_view queue, int limit) override {
    return WithReader([&](SqliteDb& db) -> Result<std::vector<TaskRow>> {
      static const std::string sql = std::string("SELECT ") + kTaskCols +
                                     " FROM tasks WHERE queue=?1 ORDER BY visible_at, id LIMIT ?2";
      PREPARE(st, db, sql.c_str());
      st.Bind(1, queue).Bind(2, static_cast<int64_t>(limit));
      std::vector<TaskRow> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadTaskRow(st));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "listing queue tasks");
      return out;
    });
  }
  Result<std::vector<TaskRow>> ListLeasedTasks(int limit) override {
    return WithReader([&](SqliteDb& db) -> Result<std::vector<TaskRow>> {
      static const std::string sql =
          std::string("SELECT ") + kTaskCols + " FROM tasks WHERE lease_owner <> '' LIMIT ?1";
      PREPARE(st, db, sql.c_str());
      st.Bind(1, static_cast<int64_t>(limit));
      std::vector<TaskRow> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadTaskRow(st));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "listing leased tasks");
      return out;
    });
  }
  Result<std::vector<TaskRow>> ListTasksOfRun(std::string_view run_id) override {
    return WithReader([&](SqliteDb& db) -> Result<std::vector<TaskRow>> {
      static const std::string sql =
          std::string("SELECT ") + kTaskCols + " FROM tasks WHERE run_id=?1 ORDER BY id";
      PREPARE(st, db, sql.c_str());
      st.Bind(1, run_id);
      std::vector<TaskRow> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadTaskRow(st));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "listing tasks");
      return out;
    });
  }

  Result<std::vector<TimerRow>> DueTimers(Millis now, int limit) override {
    return WithReader([&](SqliteDb& db) -> Result<std::vector<TimerRow>> {
      PREPARE(st, db,
              "SELECT id, workflow_id, run_id, timer_id, fire_at FROM timers "
              "WHERE fire_at<=?1 ORDER BY fire_at LIMIT ?2");
      st.Bind(1, now).Bind(2, limit);
      std::vector<TimerRow> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadTimerRow(st));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "reading timers");
      return out;
    });
  }

  Result<std::vector<TaskRow>> DueTaskDeadlines(Millis now, int limit) override {
    return WithReader([&](SqliteDb& db) -> Result<std::vector<TaskRow>> {
      static const std::string sql = std::string("SELECT ") + kTaskCols +
                                     " FROM tasks WHERE deadline>0 AND deadline<=?1 "
                                     "ORDER BY deadline LIMIT ?2";
      PREPARE(st, db, sql.c_str());
      st.Bind(1, now).Bind(2, limit);
      std::vector<TaskRow> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) out.push_back(ReadTaskRow(st));
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "reading task deadlines");
      return out;
    });
  }

  Result<std::optional<Millis>> NextWakeTime() override {
    return WithReader([&](SqliteDb& db) -> Result<std::optional<Millis>> {
      PREPARE(st, db,
              "SELECT min(ifnull((SELECT min(fire_at) FROM timers), 9e18), "
              "ifnull((SELECT min(deadline) FROM tasks WHERE deadline>0), 9e18), "
              "ifnull((SELECT min(visible_at) FROM tasks WHERE lease_owner='' AND "
              "visible_at>?1), 9e18))");
      st.Bind(1, clock()->Now());
      int rc = st.Step();
      if (rc != SQLITE_ROW) return SqliteStatus(rc, db.handle(), "reading next wake time");
      int64_t v = st.Int(0);
      if (v >= static_cast<int64_t>(9e18)) return std::optional<Millis>();
      return std::optional<Millis>(v);
    });
  }

  Result<bool> HasReadyTasks(std::string_view queue, TaskKind kind) override {
    Millis now = clock()->Now();
    return WithReader([&](SqliteDb& db) -> Result<bool> {
      PREPARE(st, db,
              "SELECT 1 FROM tasks WHERE queue=?1 AND kind=?2 AND lease_owner='' AND "
              "visible_at<=?3 LIMIT 1");
      st.Bind(1, queue).Bind(2, static_cast<int>(kind)).Bind(3, now);
      int rc = st.Step();
      if (rc == SQLITE_ROW) return true;
      if (rc == SQLITE_DONE) return false;
      return SqliteStatus(rc, db.handle(), "checking tasks");
    });
  }

  Result<std::vector<QueueStats>> QueueStatistics() override {
    Millis now = clock()->Now();
    return WithReader([&](SqliteDb& db) -> Result<std::vector<QueueStats>> {
      PREPARE(st, db,
              "SELECT queue, "
              "sum(lease_owner='' AND visible_at<=?1), sum(lease_owner<>''), "
              "sum(lease_owner='' AND visible_at>?1), "
              "ifnull(min(CASE WHEN lease_owner='' AND visible_at<=?1 THEN visible_at END), 0) "
              "FROM tasks GROUP BY queue ORDER BY queue");
      st.Bind(1, now);
      std::vector<QueueStats> out;
      int rc;
      while ((rc = st.Step()) == SQLITE_ROW) {
        out.push_back({st.Text(0), st.Int(1), st.Int(2), st.Int(3), st.Int(4)});
      }
      if (rc != SQLITE_DONE) return SqliteStatus(rc, db.handle(), "reading queue stats");
      return out;
    });
  }

  Result<int> SchemaVersion() override {
    return WithReader([&](SqliteDb& db) -> Result<int> {
      PREPARE(st, db, "PRAGMA user_version");
      if (st.Step() != SQLITE_ROW) return Status::Internal("no user_version");
      return static_cast<int>(st.Int(0));
    });
  }

  Clock* clock() const override { return opts_.clock ? opts_.clock : SystemClock::Default(); }

 private:
  struct Item {
    TxnFn fn;
    DoneFn done;
  };

  template <typename F>
  auto WithReader(F&& f) -> decltype(f(std::declval<SqliteDb&>())) {
    std::unique_ptr<SqliteDb> db;
    {
      std::lock_guard<std::mutex> l(readers_mu_);
      if (!readers_.empty()) {
        db = std::move(readers_.back());
        readers_.pop_back();
      }
    }
    if (!db) {
      db = std::make_unique<SqliteDb>();
      Status s = db->Open(path_, false, opts_.synchronous, opts_.busy_timeout_ms);
      if (!s.ok()) return s;
    }
    auto result = f(*db);
    std::lock_guard<std::mutex> l(readers_mu_);
    if (static_cast<int>(readers_.size()) < opts_.readers) readers_.push_back(std::move(db));
    return result;
  }

  void WriterLoop() {
    SqliteTxn txn(writer_db_, clock());
    std::vector<Item> batch;
    std::vector<Status> results;
    for (;;) {
      {
        std::unique_lock<std::mutex> l(mu_);
        writer_idle_ = true;
        cv_.wait(l, [this] { return stopping_ || !queue_.empty(); });
        writer_idle_ = false;
        if (queue_.empty() && stopping_) return;
        while (!queue_.empty() && static_cast<int>(batch.size()) < opts_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      results.assign(batch.size(), Status::Ok());
      size_t ran = batch.size();
      Status commit = RunBatch(txn, batch, results, &ran);
      counters_.commits.Inc();
      counters_.transactions.Inc(static_cast<int64_t>(ran));
      if (ran < batch.size()) {  // never ran: back to the front of the queue, in order
        std::lock_guard<std::mutex> l(mu_);
        for (size_t i = batch.size(); i-- > ran;) queue_.push_front(std::move(batch[i]));
      }
      for (size_t i = 0; i < ran; ++i) {
        const Status& s = commit.ok() ? results[i] : commit;
        if (batch[i].done) batch[i].done(s);
      }
      batch.clear();
    }
  }

  // Runs batch[0..*ran) in one transaction. Some errors (a full disk, I/O) make
  // SQLite roll back the whole transaction: then the TxnFns that ran before lose
  // their writes too and get a transient error, and the rest are not run (*ran).
  Status RunBatch(SqliteTxn& txn, std::vector<Item>& batch, std::vector<Status>& results,
                  size_t* ran) {
    Status s = writer_db_.ExecCached("BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    txn.set_now(clock()->Now());
    for (size_t i = 0; i < batch.size(); ++i) {
      s = writer_db_.ExecCached("SAVEPOINT t");
      if (!s.ok()) break;
      results[i] = batch[i].fn(txn);
      if (!results[i].ok() && sqlite3_get_autocommit(writer_db_.handle())) {
        for (size_t j = 0; j < i; ++j) {
          results[j] = Status::Unavailable(
              "rolled back with a transaction that failed: " + results[i].message(),
              "batch_rolled_back");
        }
        *ran = i + 1;
        return Status::Ok();
      }
      if (results[i].ok()) {
        s = writer_db_.ExecCached("RELEASE t");
      } else {
        s = writer_db_.ExecCached("ROLLBACK TO t");
        if (s.ok()) s = writer_db_.ExecCached("RELEASE t");
      }
      if (!s.ok()) break;
    }
    if (s.ok()) s = writer_db_.ExecCached("COMMIT");
    if (!s.ok()) (void)writer_db_.Exec("ROLLBACK");
    return s;
  }

  SqliteOptions opts_;
  std::string path_;
  SqliteDb writer_db_;  // declared before the checkpointer members: destroyed after them
  std::thread writer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  bool writer_idle_ = false;
  static constexpr int kCheckpointPages = 1000;
  int wal_asked_at_ = 0;  // WAL length at the last checkpoint asked for (writer thread)
  SqliteDb ckpt_db_;
  std::thread checkpointer_;
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_wanted_ = false;
  bool ckpt_stop_ = false;
  StoreCounters& counters_ = StoreCounters::For("sqlite");
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<SqliteDb>> readers_;
};

}  // namespace

int SqliteSchemaVersionLatest() { return LatestVersion(); }

Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteOptions& options) {
  auto store = std::make_unique<SqliteStore>(options);
  KEEL_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace keel::persistence
