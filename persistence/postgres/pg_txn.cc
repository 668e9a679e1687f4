// PgTxn's transaction: prefetch, flush, commit and blame (pg_txn_impl.h explains the
// batching).

#include "persistence/postgres/pg_txn.h"

#include <cstdlib>

#include "persistence/postgres/pg_txn_impl.h"

namespace keel::persistence::pg {
namespace {

// The 1-based positions flush() names in a conflict it raises: "... at {2,5}".
std::vector<size_t> ConflictPositions(const std::string& what) {
  std::vector<size_t> out;
  size_t at = what.rfind('{');
  while (at != std::string::npos && at + 1 < what.size() && what[at] != '}') {
    out.push_back(std::strtoull(what.c_str() + at + 1, nullptr, 10));
    at = what.find_first_of(",}", at + 1);
  }
  return out;
}

}  // namespace

// Reads what a batch declared (persistence::ReadHint) in one round trip; the TxnFns'
// reads then find them here unless the batch has changed them since. Best effort: what
// it cannot fetch is read later.
void PgTxn::Prefetch(const std::vector<ReadHint>& hints) {
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

void PgTxn::ForgetPrefetched() {
  prefetched_tasks_.clear();
  prefetched_.clear();
  prefetched_current_.clear();
}

Status PgTxn::Flush() {
  if (aborted()) return Status::Unavailable("transaction already failed", "db_error");
  if (pending_.empty()) return Status::Ok();
  KEEL_RETURN_IF_ERROR(Begin());
  return SendFlush(false);
}

// Ends the batch: the last flush, with the batch's notifications, and COMMIT. Without a
// server transaction the flush runs alone in autocommit. A lost connection then leaves
// the outcome unknown: kUnavailable "commit_in_doubt". Other failures name culprits,
// and the caller rolls back.
Status PgTxn::Commit() {
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

void PgTxn::Rollback() {
  if (!began_) return;
  began_ = false;
  try {
    w_.exec("ROLLBACK");
  } catch (const std::exception&) {
    // The connection is gone: so is the transaction.
  }
}

Status PgTxn::Begin() {
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

Status PgTxn::InDoubt(const std::exception& e) {
  Status s = PgStatus(e, "committing");
  if (s.reason() != "db_unreachable") return s;
  return Status::Unavailable(s.message() + " (the commit's outcome is unknown; it is retried)",
                             "commit_in_doubt");
}

Status PgTxn::SendFlush(bool final) {
  WriteBuffer p = std::move(pending_);
  pending_ = WriteBuffer();
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
    Blame(p, fns, e);
  } catch (const std::exception& e) {
    if (final && !began_) {
      Status s = InDoubt(e);
      if (s.reason() == "commit_in_doubt") return s;  // not a culprit's fault
    }
    Blame(p, fns, e);
  }
  return culprits_.begin()->second;
}

// A conflict flush() reports names the writes by position: the TxnFns that queued them
// lost a race and are retried. Any other failure is blamed on every TxnFn in the flush.
void PgTxn::Blame(const WriteBuffer& p, const std::set<size_t>& fns, const std::exception& e) {
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  const std::string state = sql ? sql->sqlstate() : "";
  Status conflict = Status::ConditionFailed("a run changed concurrently", "version_conflict");
  for (size_t k : ConflictPositions(e.what())) {
    if (state == kVersionConflictState && k >= 1 && k <= p.execs.size()) {
      culprits_[p.execs[k - 1].fn] = conflict;
    } else if (state == kHistoryConflictState && k >= 1 && k <= p.history.size()) {
      culprits_[p.history[k - 1].fn] = conflict;
    }
  }
  if (!culprits_.empty()) return;
  Status s = PgStatus(e, "writing");
  for (size_t fn : fns) culprits_[fn] = s;
  if (culprits_.empty()) culprits_[fn_] = s;
}

std::unique_ptr<BatchTxn> BatchTxn::Open(pqxx::nontransaction& w, Millis now,
                                         const std::string& channel, IdBlock* ids) {
  return std::make_unique<PgTxn>(w, now, channel, ids);
}

}  // namespace keel::persistence::pg
