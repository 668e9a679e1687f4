// PgTxn: timers. Inserts and deletes by id or name run at once (their answers are
// needed); deleting a run's timers waits for the flush.

#include "persistence/postgres/pg_txn_impl.h"

namespace keel::persistence::pg {

Result<int64_t> PgTxn::InsertTimer(const TimerRow& t) {
  return Now<int64_t>("inserting timer", [&] {
    return w_.exec_prepared("insert_timer", t.workflow_id, t.run_id, t.timer_id, t.fire_at)[0][0]
        .as<int64_t>();
  });
}

Result<bool> PgTxn::DeleteTimer(int64_t id) {
  return Now<bool>("deleting timer",
                   [&] { return w_.exec_prepared("delete_timer", id).affected_rows() == 1; });
}

Result<bool> PgTxn::DeleteTimerByName(std::string_view run_id, std::string_view timer_id) {
  return Now<bool>("deleting timer", [&] {
    return w_.exec_prepared("delete_timer_by_name", std::string(run_id), std::string(timer_id))
               .affected_rows() >= 1;
  });
}

Status PgTxn::DeleteTimersOfRun(std::string_view run_id) {
  pending_.timer_run_deletes.push_back({fn_, std::string(run_id)});
  return Status::Ok();
}

}  // namespace keel::persistence::pg
