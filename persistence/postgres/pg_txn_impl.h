#pragma once
// PgTxn, the BatchTxn of pg_txn.h. Its methods live by concern: the transaction itself
// (flush, commit, blame) in pg_txn.cc, runs and history in pg_txn_runs.cc, tasks in
// pg_txn_tasks.cc, timers in pg_txn_timers.cc. Internal to persistence/postgres/.
//
// Writes whose answer nobody needs wait in a WriteBuffer and go to the server together
// as one call of flush(): before the next read that could see them, before any
// statement that must run now, and at the end. Reads that cannot see them run at once.
// flush() reports conflicting writes by position, so a conflict is pinned on the TxnFn
// that queued it.
//
// The server transaction starts (BEGIN) only when something must run between the
// writes: a statement that writes or locks, or a flush before a read. A batch of plain
// transitions sends its reads, then one flush in autocommit, which is atomic and
// durable on its own: its reads plus one round trip, with no BEGIN or COMMIT. Reads
// outside the transaction lose nothing: at READ COMMITTED each statement takes a new
// snapshot anyway, and the version checks in flush() fence every write.

#include <map>
#include <optional>
#include <set>
#include <string>

#include "persistence/postgres/pg_txn.h"
#include "persistence/postgres/pg_write_buffer.h"

namespace keel::persistence::pg {

class PgTxn final : public BatchTxn {
 public:
  PgTxn(pqxx::nontransaction& w, Millis now, const std::string& channel, IdBlock* ids)
      : w_(w), now_(now), channel_(channel), ids_(ids) {}
  ~PgTxn() override { Rollback(); }  // a transaction left open is rolled back

  // BatchTxn (pg_txn.cc).
  Millis Now() const override { return now_; }
  void BeginFn(size_t index) override { fn_ = index; }
  bool aborted() const override { return !culprits_.empty(); }
  const std::map<size_t, Status>& culprits() const override { return culprits_; }
  bool Flushed(size_t index) const override { return flushed_fns_.count(index) > 0; }
  void DropPending(size_t index) override { pending_.Drop(index); }
  void Prefetch(const std::vector<ReadHint>& hints) override;
  Status Commit() override;
  void Rollback() override;

  // Runs and history (pg_txn_runs.cc).
  Result<std::optional<ExecutionRow>> GetExecution(std::string_view run_id) override;
  Result<std::optional<std::string>> GetCurrentRunId(std::string_view workflow_id) override;
  Status InsertExecution(const ExecutionRow& e) override;
  Status UpdateExecution(const ExecutionRow& e, int64_t expected_version) override;
  Status AppendHistory(std::string_view run_id,
                       const std::vector<proto::HistoryEvent>& events) override;
  Result<int64_t> DeleteClosedRuns(Millis closed_before, int limit) override;
  Result<std::vector<ExecutionRow>> ListOpenChildren(std::string_view parent_run_id) override;
  Result<bool> InsertRequestId(std::string_view run_id, std::string_view request_id) override;

  // Tasks (pg_txn_tasks.cc).
  Result<int64_t> InsertTask(const TaskRow& t) override;
  Result<std::optional<TaskRow>> GetTask(int64_t id) override;
  Status UpdateTask(const TaskRow& t) override;
  Status DeleteTask(int64_t id) override;
  Result<std::optional<TaskRow>> FindActivityTask(std::string_view run_id,
                                                  std::string_view activity_id) override;
  Status DeleteTasksOfRun(std::string_view run_id) override;
  Result<std::vector<TaskRow>> LeaseTasks(std::string_view queue, TaskKind kind,
                                          std::string_view owner, Millis lease_ms,
                                          int limit) override;

  // Timers (pg_txn_timers.cc).
  Result<int64_t> InsertTimer(const TimerRow& t) override;
  Result<bool> DeleteTimer(int64_t id) override;
  Result<bool> DeleteTimerByName(std::string_view run_id, std::string_view timer_id) override;
  Status DeleteTimersOfRun(std::string_view run_id) override;

 private:
  // Sends every queued write in one call of flush(), inside the server transaction,
  // which it starts if need be. On failure, culprits() names the TxnFns to blame.
  Status Flush();
  Status SendFlush(bool final);
  void Blame(const WriteBuffer& p, const std::set<size_t>& fns, const std::exception& e);
  Status Begin();
  static Status InDoubt(const std::exception& e);
  void ForgetPrefetched();

  // The read-your-writes bookkeeping: what the queued writes touch.
  void DirtyRun(const std::string& run) {
    dirty_runs_.insert(run);
    prefetched_.erase(run);
  }
  void DirtyTask(const TaskRow& t);
  // The task and execution columns of get_task_exec's row; keeps the execution row for
  // GetExecution unless this transaction has changed it.
  TaskRow TakeTaskAndExec(const pqxx::row& r);
  void Closed(const ExecutionRow& e) { notify_.insert("c|" + e.workflow_id + "|" + e.run_id); }

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

  pqxx::nontransaction& w_;
  Millis now_;
  std::string channel_;
  bool began_ = false;
  IdBlock* ids_;
  size_t fn_ = 0;
  std::map<size_t, Status> culprits_;
  WriteBuffer pending_;
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

}  // namespace keel::persistence::pg
