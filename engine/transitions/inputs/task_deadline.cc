// A task's deadline passed (persistence::ComputeTaskDeadline): a workflow task whose
// worker died or stalled is offered again; an activity attempt timed out (schedule-to-
// close, schedule-to-start, start-to-close or heartbeat) is retried or fails.
#include "engine/retry.h"
#include "engine/transitions/inputs.h"

namespace keel::transitions {
namespace {

// Which timeout an activity attempt hit now, if any.
std::optional<proto::Failure> ActivityTimeout(const TaskRow& task, Millis now) {
  proto::Failure f;
  const bool started = !task.lease_owner.empty();
  if (task.close_deadline > 0 && now >= task.close_deadline) {
    f.set_type("ScheduleToCloseTimeout");
    f.set_non_retryable(true);
  } else if (!started && task.start_deadline > 0 && now >= task.start_deadline) {
    f.set_type("ScheduleToStartTimeout");
    f.set_non_retryable(true);
  } else if (started && now >= task.lease_expires) {
    proto::ActivityTaskInfo info;
    info.ParseFromString(task.info);
    const Millis s2c = info.options().start_to_close_timeout_ms() > 0
                           ? info.options().start_to_close_timeout_ms()
                           : kDefaultStartToCloseMs;
    const bool heartbeat =
        info.options().heartbeat_timeout_ms() > 0 && task.lease_expires < task.started_at + s2c;
    f.set_type(heartbeat ? "HeartbeatTimeout" : "StartToCloseTimeout");
  } else {
    return std::nullopt;
  }
  f.set_message("activity " + task.activity_id + " attempt " + std::to_string(task.attempt) + ": " +
                f.type());
  f.set_code("activity_timeout");
  return f;
}

}  // namespace

Input TaskDeadline(int64_t task_id) {
  Input in{"task_deadline", {}, nullptr};
  in.reads.tasks.insert(task_id);
  in.decide = [task_id](Tx& tx) -> Status {
    KEEL_ASSIGN_OR_RETURN(auto found, tx.GetTask(task_id));
    const Millis now = tx.Now();
    if (!found || found->deadline == 0 || found->deadline > now) return Status::Ok();
    if (found->kind == TaskKind::kWorkflow) {
      OfferWorkflowTaskAgain(tx, std::move(*found));
      return Status::Ok();
    }
    auto timeout = ActivityTimeout(*found, now);
    if (!timeout) return Status::Ok();
    const bool started = !found->lease_owner.empty();
    return RetryOrFailActivity(tx, std::move(*found), *timeout, /*timed_out=*/true, started);
  };
  return in;
}

}  // namespace keel::transitions
