#pragma once
// One batch's transaction on PostgreSQL, as the store's writer drives it: it runs the
// batch's TxnFns one after another (BeginFn names the one running), queues their
// writes and sends them as one call of flush() (pg_txn_impl.h explains when), and says
// which TxnFn to blame when the server refuses a write. Internal to
// persistence/postgres/.

#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "persistence/postgres/pg_sql.h"
#include "persistence/store.h"

namespace keel::persistence::pg {

class BatchTxn : public Txn {
 public:
  // `w` must outlive the transaction. A transaction dropped while open rolls back.
  static std::unique_ptr<BatchTxn> Open(pqxx::nontransaction& w, Millis now,
                                        const std::string& channel, IdBlock* ids);
  // The TxnFn at `index` of the batch runs next; its writes are tagged with it.
  virtual void BeginFn(size_t index) = 0;
  // Fetches the rows the batch declared it reads (ReadHint), in one round trip.
  virtual void Prefetch(const std::vector<ReadHint>& hints) = 0;
  // True once the server refused a write; culprits() names the TxnFns to blame.
  virtual bool aborted() const = 0;
  virtual const std::map<size_t, Status>& culprits() const = 0;
  // Whether any write of TxnFn `index` reached the server already.
  virtual bool Flushed(size_t index) const = 0;
  // Forgets the queued writes of a TxnFn that failed before they were sent.
  virtual void DropPending(size_t index) = 0;
  // Sends what is queued and commits; on a refusal, aborted() tells whose fault.
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
};

}  // namespace keel::persistence::pg
