// A running activity heartbeats: its details are kept, and its lease lasts until the
// next heartbeat is due (never past its start-to-close timeout).
#include <algorithm>

#include "engine/retry.h"
#include "engine/transitions/inputs.h"

namespace keel::transitions {

Input HeartbeatActivity(TaskRow task, proto::Payload details) {
  Input in{"activity_heartbeat", {}, nullptr};
  in.reads.tasks.insert(task.id);
  in.decide = [task = std::move(task), details = std::move(details)](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(TaskRow cur, CheckLease(tx, task));
    proto::ActivityTaskInfo info;
    info.ParseFromString(cur.info);
    if (info.cancel_requested()) {
      return Status::FailedPrecondition("the workflow cancelled this activity",
                                        "activity_cancelled");
    }
    const Millis now = tx.Now();
    *info.mutable_heartbeat_details() = details;
    info.set_last_heartbeat_ms(now);
    cur.info = info.SerializeAsString();
    const Millis s2c = info.options().start_to_close_timeout_ms() > 0
                           ? info.options().start_to_close_timeout_ms()
                           : kDefaultStartToCloseMs;
    const Millis hb = info.options().heartbeat_timeout_ms();
    cur.lease_expires = hb > 0 ? std::min(cur.started_at + s2c, now + hb) : cur.started_at + s2c;
    cur.deadline = persistence::ComputeTaskDeadline(cur);
    tx.fx().Wake(cur.deadline);
    tx.UpdateTask(cur);
    return Status::Ok();
  };
  return in;
}

}  // namespace keel::transitions
