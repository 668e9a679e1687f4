#pragma once
// The writes a PostgreSQL batch transaction holds back for its next call of flush()
// (migrations/0006), each tagged with the TxnFn that queued it, and flush()'s
// arguments built from them. Internal to persistence/postgres/.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/store.h"

namespace keel::persistence::pg {

// A PostgreSQL array literal in text form, built one element at a time.
class ArrayLiteral {
 public:
  void Text(std::string_view v);
  void Int(int64_t v);
  void Bool(bool v);
  void Bytes(std::string_view v);  // bytea's hex form
  std::string Take() { return "{" + std::move(s_) + "}"; }

 private:
  void Sep() {
    if (!s_.empty()) s_ += ',';
  }
  std::string s_;
};

// Queued writes, in the order flush() applies them: execution inserts, current-run
// pointers, execution updates (version-checked), history, task inserts and updates,
// task deletes, timer deletes.
struct WriteBuffer {
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
  struct RunOp {  // the tasks or timers of a run, to delete
    size_t fn;
    std::string run;
  };

  std::vector<ExecOp> execs;  // flush() reports conflicts by position in this
  std::vector<CurrentOp> currents;
  std::vector<HistoryOp> history;  // and in this
  std::vector<TaskOp> tasks;
  std::vector<TaskDeleteOp> task_deletes;
  std::vector<RunOp> task_run_deletes;
  std::vector<RunOp> timer_run_deletes;
  // Indexes of the above, for the transaction's read-your-writes checks.
  std::set<std::string> task_run_deletes_set;
  std::set<std::string> updated_runs;
  std::set<int64_t> updated_tasks;

  bool empty() const;
  // The TxnFns with a queued write.
  std::set<size_t> Fns() const;
  // Forgets every write of TxnFn `fn`.
  void Drop(size_t fn);

  // flush()'s arguments before its notification pair (n_channel, n_notes), in its
  // parameter order; ParamNames() are their names there, which a test checks against
  // the function the migrations define.
  std::vector<std::string> Params() const;
  static std::vector<std::string> ParamNames();
};

// The "flush" statement: SELECT {s}.flush($1, ..., $N).
std::string FlushStatement();

}  // namespace keel::persistence::pg
