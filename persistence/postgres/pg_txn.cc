// One batch's transaction on PostgreSQL: queued writes, one flush() call, and blame.

#include "persistence/postgres/pg_txn.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <set>

#include "persistence/history_codec.h"

namespace keel::persistence::pg {
namespace {

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
class PgTxn final : public BatchTxn {
 public:
  PgTxn(pqxx::nontransaction& w, Millis now, const std::string& channel, IdBlock* ids)
      : w_(w), now_(now), channel_(channel), ids_(ids) {}
  ~PgTxn() override { Rollback(); }  // a transaction left open is rolled back

  Millis Now() const override { return now_; }
  void BeginFn(size_t index) override { fn_ = index; }
  bool aborted() const override { return !culprits_.empty(); }
  // TxnFns whose writes made the transaction fail, with why.
  const std::map<size_t, Status>& culprits() const override { return culprits_; }
  // Whether any write of TxnFn `index` has reached the server.
  bool Flushed(size_t index) const override { return flushed_fns_.count(index) > 0; }
  // Forgets the queued writes of a TxnFn that failed before they were sent.
  void DropPending(size_t index) override { pending_.Drop(index); }

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
  void Prefetch(const std::vector<ReadHint>& hints) override {
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
  Status Commit() override {
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
  void Rollback() override {
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

}  // namespace

std::unique_ptr<BatchTxn> BatchTxn::Open(pqxx::nontransaction& w, Millis now,
                                         const std::string& channel, IdBlock* ids) {
  return std::make_unique<PgTxn>(w, now, channel, ids);
}

}  // namespace keel::persistence::pg
