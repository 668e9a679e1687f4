#include "engine/history_events.h"

#include <google/protobuf/descriptor.h>

namespace keel {

using E = proto::HistoryEvent;
using C = proto::Command;

std::string EventTypeName(const proto::HistoryEvent& e) {
  const auto* field = E::descriptor()->FindFieldByNumber(static_cast<int>(e.attributes_case()));
  return field ? field->name() : "unknown";
}

bool IsInputEvent(const proto::HistoryEvent& e) {
  switch (e.attributes_case()) {
    case E::kWorkflowExecutionStarted:
    case E::kWorkflowExecutionCancelRequested:
    case E::kActivityTaskCompleted:
    case E::kActivityTaskFailed:
    case E::kActivityTaskTimedOut:
    case E::kActivityTaskCanceled:
    case E::kTimerFired:
    case E::kWorkflowExecutionSignaled:
    case E::kChildWorkflowExecutionStarted:
    case E::kChildWorkflowExecutionCompleted:
    case E::kChildWorkflowExecutionFailed:
    case E::kStartChildWorkflowExecutionFailed:
      return true;
    default:
      return false;
  }
}

bool IsCommandEvent(const proto::HistoryEvent& e) {
  switch (e.attributes_case()) {
    case E::kActivityTaskScheduled:
    case E::kTimerStarted:
    case E::kTimerCanceled:
    case E::kActivityTaskCancelRequested:
    case E::kMarkerRecorded:
    case E::kWorkflowExecutionCompleted:
    case E::kWorkflowExecutionFailed:
    case E::kWorkflowExecutionCancelled:
    case E::kWorkflowExecutionContinuedAsNew:
    case E::kChildWorkflowExecutionInitiated:
    case E::kRequestCancelChildWorkflowExecution:
      return true;
    default:
      return false;
  }
}

bool CommandMatchesEvent(const proto::Command& c, const proto::HistoryEvent& e) {
  switch (c.attributes_case()) {
    case C::kScheduleActivity:
      return e.has_activity_task_scheduled() &&
             e.activity_task_scheduled().activity_id() == c.schedule_activity().activity_id() &&
             e.activity_task_scheduled().activity_type() == c.schedule_activity().activity_type();
    case C::kStartTimer:
      return e.has_timer_started() && e.timer_started().timer_id() == c.start_timer().timer_id();
    case C::kCancelTimer:
      return e.has_timer_canceled() && e.timer_canceled().timer_id() == c.cancel_timer().timer_id();
    case C::kRequestCancelActivity:
      return e.has_activity_task_cancel_requested() &&
             e.activity_task_cancel_requested().activity_id() ==
                 c.request_cancel_activity().activity_id();
    case C::kRecordMarker:
      return e.has_marker_recorded() &&
             e.marker_recorded().marker_name() == c.record_marker().marker_name() &&
             e.marker_recorded().marker_id() == c.record_marker().marker_id();
    case C::kCompleteWorkflow:
      return e.has_workflow_execution_completed();
    case C::kFailWorkflow:
      return e.has_workflow_execution_failed();
    case C::kCancelWorkflow:
      return e.has_workflow_execution_cancelled();
    case C::kContinueAsNew:
      return e.has_workflow_execution_continued_as_new();
    case C::kStartChildWorkflow:
      return e.has_child_workflow_execution_initiated() &&
             e.child_workflow_execution_initiated().child_id() ==
                 c.start_child_workflow().child_id() &&
             e.child_workflow_execution_initiated().workflow_type() ==
                 c.start_child_workflow().workflow_type();
    case C::kRequestCancelChildWorkflow:
      return e.has_request_cancel_child_workflow_execution() &&
             e.request_cancel_child_workflow_execution().child_id() ==
                 c.request_cancel_child_workflow().child_id();
    default:
      return false;
  }
}

std::string DescribeEvent(const proto::HistoryEvent& e) {
  std::string s = EventTypeName(e) + " (event " + std::to_string(e.event_id());
  if (e.has_activity_task_scheduled()) {
    s += ", activity " + e.activity_task_scheduled().activity_id() + " " +
         e.activity_task_scheduled().activity_type();
  } else if (e.has_timer_started()) {
    s += ", timer " + e.timer_started().timer_id();
  } else if (e.has_marker_recorded()) {
    s += ", marker " + e.marker_recorded().marker_name() + "/" + e.marker_recorded().marker_id();
  } else if (e.has_child_workflow_execution_initiated()) {
    s += ", child " + e.child_workflow_execution_initiated().child_id() + " " +
         e.child_workflow_execution_initiated().workflow_type();
  }
  return s + ")";
}

std::string DescribeCommand(const proto::Command& c) {
  switch (c.attributes_case()) {
    case C::kScheduleActivity:
      return "schedule_activity (activity " + c.schedule_activity().activity_id() + " " +
             c.schedule_activity().activity_type() + ")";
    case C::kStartTimer:
      return "start_timer (timer " + c.start_timer().timer_id() + ")";
    case C::kCancelTimer:
      return "cancel_timer (timer " + c.cancel_timer().timer_id() + ")";
    case C::kRequestCancelActivity:
      return "request_cancel_activity (" + c.request_cancel_activity().activity_id() + ")";
    case C::kRecordMarker:
      return "record_marker (" + c.record_marker().marker_name() + "/" +
             c.record_marker().marker_id() + ")";
    case C::kCompleteWorkflow:
      return "complete_workflow";
    case C::kFailWorkflow:
      return "fail_workflow";
    case C::kCancelWorkflow:
      return "cancel_workflow";
    case C::kContinueAsNew:
      return "continue_as_new";
    case C::kStartChildWorkflow:
      return "start_child_workflow (child " + c.start_child_workflow().child_id() + " " +
             c.start_child_workflow().workflow_type() + ")";
    case C::kRequestCancelChildWorkflow:
      return "request_cancel_child_workflow (" + c.request_cancel_child_workflow().child_id() + ")";
    default:
      return "unknown command";
  }
}

}  // namespace keel
