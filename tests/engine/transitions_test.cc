// Decide, with no store: each case is an input, the rows it may read (a Snapshot),
// and the Transition expected, written out as its writes in order.
#include <gtest/gtest.h>

#include "engine/history_events.h"
#include "engine/matcher.h"
#include "engine/payload.h"
#include "engine/transitions/commands/commands.h"
#include "engine/transitions/inputs.h"

namespace keel::transitions {
namespace {

constexpr Millis kNow = 1'000'000;

// ---- rows --------------------------------------------------------------------------

ExecutionRow RunRow(const std::string& run_id, int64_t next_event_id, int64_t wt_task_id = 0) {
  ExecutionRow r;
  r.workflow_id = "wf";
  r.run_id = run_id;
  r.workflow_type = "demo";
  r.task_queue = "q";
  r.version = 3;
  r.next_event_id = next_event_id;
  r.wt_task_id = wt_task_id;
  return r;
}

TaskRow WorkflowTask(int64_t id, const std::string& run_id, const std::string& owner = "w1") {
  TaskRow t;
  t.id = id;
  t.queue = "q";
  t.kind = TaskKind::kWorkflow;
  t.workflow_id = "wf";
  t.run_id = run_id;
  t.lease_owner = owner;
  t.lease_token = 4;
  t.lease_ms = 10'000;
  t.started_at = kNow - 100;
  t.lease_expires = owner.empty() ? 0 : kNow + 5'000;
  t.deadline = persistence::ComputeTaskDeadline(t);
  return t;
}

TaskRow ActivityTask(int64_t id, const std::string& run_id, const std::string& owner,
                     int max_attempts = 3) {
  TaskRow t = WorkflowTask(id, run_id, owner);
  t.kind = TaskKind::kActivity;
  t.activity_id = "a1";
  proto::ActivityTaskInfo info;
  info.set_activity_id("a1");
  info.set_activity_type("charge");
  info.mutable_options()->set_start_to_close_timeout_ms(1'000);
  info.mutable_options()->mutable_retry_policy()->set_maximum_attempts(max_attempts);
  t.info = info.SerializeAsString();
  return t;
}

proto::Command Cmd(std::function<void(proto::Command&)> fill) {
  proto::Command c;
  fill(c);
  return c;
}

// ---- a Transition as text ------------------------------------------------------------

std::string Events(const std::vector<proto::HistoryEvent>& events) {
  std::string out;
  for (const auto& e : events) {
    out += (out.empty() ? "" : ", ") + std::to_string(e.event_id()) + " " + EventTypeName(e);
  }
  return out;
}

std::string Task(const TaskRow& t) {
  return std::string(t.kind == TaskKind::kWorkflow ? "workflow" : "activity") + " task #" +
         std::to_string(t.id) + " of " + t.run_id + " attempt " + std::to_string(t.attempt) +
         (t.lease_owner.empty() ? "" : " leased to " + t.lease_owner);
}

struct Describe {
  std::string operator()(const InsertRun& w) const {
    return "insert run " + w.row.run_id + " (" + persistence::ExecutionStatusName(w.row.status) +
           ", wt #" + std::to_string(w.row.wt_task_id) + ")";
  }
  std::string operator()(const UpdateRun& w) const {
    return "update run " + w.row.run_id + " at v" + std::to_string(w.expected_version) + " (" +
           persistence::ExecutionStatusName(w.row.status) + ", wt #" +
           std::to_string(w.row.wt_task_id) + ")";
  }
  std::string operator()(const AppendHistory& w) const {
    return "append " + w.run_id + ": " + Events(w.events);
  }
  std::string operator()(const InsertTask& w) const { return "insert " + Task(w.row); }
  std::string operator()(const UpdateTask& w) const { return "update " + Task(w.row); }
  std::string operator()(const DeleteTask& w) const {
    return "delete task #" + std::to_string(w.id);
  }
  std::string operator()(const ClearRun& w) const { return "clear " + w.run_id; }
  std::string operator()(const InsertTimer& w) const {
    return "insert timer " + w.row.run_id + "/" + w.row.timer_id + " at +" +
           std::to_string(w.row.fire_at - kNow);
  }
  std::string operator()(const DeleteTimer& w) const {
    return "delete timer #" + std::to_string(w.id);
  }
  std::string operator()(const DeleteTimerByName& w) const {
    return "delete timer " + w.run_id + "/" + w.timer_id;
  }
  std::string operator()(const InsertRequestId& w) const {
    return "request " + w.run_id + "/" + w.request_id;
  }
  std::string operator()(const DeleteClosedRuns& w) const {
    return "delete runs closed before " + std::to_string(w.closed_before);
  }
};

std::vector<std::string> Writes(const Transition& t) {
  std::vector<std::string> out;
  for (const auto& w : t.writes) out.push_back(std::visit(Describe{}, w));
  return out;
}

// ---- the driver ----------------------------------------------------------------------

const Fresh& TestFresh() {
  static int n = 0;
  static const Fresh f{[](Millis) { return "new" + std::to_string(++n); }, [] { return 42u; }};
  return f;
}

struct Decided {
  Status status;
  Transition t;
  Reads needed;
};

Decided RunDecide(const Input& in, const Snapshot& snap) {
  static const Options opts{"keel-test", 10'000, 100};
  Tx tx(snap, opts, TestFresh());
  Status s = in.decide(tx);
  Reads needed = tx.needed();
  return {s, tx.Take(), needed};
}

struct Case {
  std::string name;
  std::function<void(Snapshot&)> rows;
  std::function<Input()> input;
  std::string error;  // the Status reason expected; empty: OK
  std::vector<std::string> writes;
};

void Check(const Case& c) {
  SCOPED_TRACE(c.name);
  Snapshot snap(kNow);
  c.rows(snap);
  Input in = c.input();
  Decided d = RunDecide(in, snap);
  ASSERT_FALSE(IsNeedRead(d.status)) << "the case's rows lack a read the input needs";
  if (c.error.empty()) {
    EXPECT_TRUE(d.status.ok()) << d.status.ToString();
  } else {
    EXPECT_EQ(d.status.reason(), c.error) << d.status.ToString();
  }
  if (!d.status.ok()) return;  // an error's Transition is dropped whole
  EXPECT_EQ(Writes(d.t), c.writes);
}

void Running(Snapshot& s, const ExecutionRow& r) {
  s.current[r.workflow_id] = r.run_id;
  s.runs[r.run_id] = r;
}

// ---- client inputs -------------------------------------------------------------------

TEST(TransitionsTest, ClientInputs) {
  NewRun fresh_run{"wf", "demo", "q", "r9", "", ToPayload(json::value(1)), 7, ""};
  ExecutionRow closed = RunRow("r1", 9);
  closed.status = persistence::ExecutionStatus::kCompleted;
  const std::vector<Case> cases = {
      {"start: a new workflow id",
       [](Snapshot& s) { s.current["wf"] = std::nullopt; },
       [&] { return Start(fresh_run, proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE); },
       "",
       {"insert workflow task #-1 of r9 attempt 1", "insert run r9 (running, wt #-1)",
        "append r9: 1 workflow_execution_started, 2 workflow_task_scheduled"}},
      {"start: the id is running (no writes; the reply names that run)",
       [](Snapshot& s) { Running(s, RunRow("r1", 4, 7)); },
       [&] { return Start(fresh_run, proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE); },
       "",
       {}},
      {"start: the reuse policy refuses",
       [&](Snapshot& s) { Running(s, closed); },
       [&] { return Start(fresh_run, proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE); },
       "workflow_id_reuse_rejected",
       {}},
      {"signal: recorded first, no second workflow task while one is scheduled",
       [](Snapshot& s) { Running(s, RunRow("r1", 4, 7)); },
       [] { return Signal("wf", "go", ToPayload(json::value(1)), "me", "req-1"); },
       "",
       {"request r1/req-1", "append r1: 4 workflow_execution_signaled",
        "update run r1 at v3 (running, wt #7)"}},
      {"signal: schedules a workflow task when none is",
       [](Snapshot& s) { Running(s, RunRow("r1", 4)); },
       [] { return Signal("wf", "go", ToPayload(json::value(1)), "me", "req-1"); },
       "",
       {"request r1/req-1", "insert workflow task #-1 of r1 attempt 1",
        "append r1: 4 workflow_execution_signaled, 5 workflow_task_scheduled",
        "update run r1 at v3 (running, wt #-1)"}},
      {"signal: a closed run",
       [&](Snapshot& s) { Running(s, closed); },
       [] { return Signal("wf", "go", ToPayload(json::value(1)), "me", "req-1"); },
       "workflow_closed",
       {}},
      {"signal: an unknown workflow id",
       [](Snapshot& s) { s.current["wf"] = std::nullopt; },
       [] { return Signal("wf", "go", ToPayload(json::value(1)), "me", "req-1"); },
       "workflow_not_found",
       {}},
      {"terminate: closes the run and clears its tasks and timers",
       [](Snapshot& s) { Running(s, RunRow("r1", 4, 7)); },
       [] { return Terminate("wf", "drill", "me"); },
       "",
       {"clear r1", "append r1: 4 workflow_execution_terminated",
        "update run r1 at v3 (terminated, wt #0)"}},
  };
  for (const auto& c : cases) Check(c);
}

// ---- workflow tasks ---------------------------------------------------------------------

TEST(TransitionsTest, WorkflowTaskCompleted) {
  auto rows = [](Snapshot& s) {
    s.runs["r1"] = RunRow("r1", 6, 7);
    s.tasks[7] = WorkflowTask(7, "r1");
  };
  auto schedule = Cmd([](proto::Command& c) {
    c.mutable_schedule_activity()->set_activity_id("a1");
    c.mutable_schedule_activity()->set_activity_type("charge");
    c.mutable_schedule_activity()->mutable_options()->set_task_queue("acts");
  });
  auto timer = Cmd([](proto::Command& c) {
    c.mutable_start_timer()->set_timer_id("t1");
    c.mutable_start_timer()->set_duration_ms(500);
  });
  auto complete = Cmd([](proto::Command& c) { c.mutable_complete_workflow(); });
  auto cancel_activity =
      Cmd([](proto::Command& c) { c.mutable_request_cancel_activity()->set_activity_id("a1"); });
  auto can = Cmd([](proto::Command& c) { c.mutable_continue_as_new(); });
  const std::vector<Case> cases = {
      {"an activity and a timer",
       rows,
       [&] {
         return CompleteWorkflowTask(WorkflowTask(7, "r1"), 5, {schedule, timer});
       },
       "",
       {"delete task #7", "insert activity task #-1 of r1 attempt 1", "insert timer r1/t1 at +500",
        "append r1: 6 workflow_task_started, 7 workflow_task_completed, "
        "8 activity_task_scheduled, 9 timer_started",
        "update run r1 at v3 (running, wt #0)"}},
      {"an activity scheduled and cancelled at once never runs",
       rows,
       [&] {
         return CompleteWorkflowTask(WorkflowTask(7, "r1"), 5, {schedule, cancel_activity});
       },
       "",
       {"delete task #7", "insert activity task #-1 of r1 attempt 1", "delete task #-1",
        "append r1: 6 workflow_task_started, 7 workflow_task_completed, "
        "8 activity_task_scheduled, 9 activity_task_cancel_requested, 10 activity_task_canceled",
        "update run r1 at v3 (running, wt #0)"}},
      {"inputs it has not seen: another workflow task",
       rows,
       [&] { return CompleteWorkflowTask(WorkflowTask(7, "r1"), 4, {timer}); },
       "",
       {"delete task #7", "insert timer r1/t1 at +500", "insert workflow task #-1 of r1 attempt 1",
        "append r1: 6 workflow_task_started, 7 workflow_task_completed, 8 timer_started, "
        "9 workflow_task_scheduled",
        "update run r1 at v3 (running, wt #-1)"}},
      {"closing with inputs unseen: the task goes back, nothing is appended",
       rows,
       [&] { return CompleteWorkflowTask(WorkflowTask(7, "r1"), 4, {complete}); },
       "",
       {"update workflow task #7 of r1 attempt 1"}},
      {"completes the run",
       rows,
       [&] {
         return CompleteWorkflowTask(WorkflowTask(7, "r1"), 5, {complete, timer});
       },
       "",
       {"delete task #7", "clear r1",
        "append r1: 6 workflow_task_started, 7 workflow_task_completed, "
        "8 workflow_execution_completed",
        "update run r1 at v3 (completed, wt #0)"}},
      {"continues as new: the old run is written before the new one",
       [&](Snapshot& s) {
         rows(s);
         s.current["wf"] = "r1";
       },
       [&] { return CompleteWorkflowTask(WorkflowTask(7, "r1"), 5, {can}); },
       "",
       {"delete task #7", "clear r1",
        "append r1: 6 workflow_task_started, 7 workflow_task_completed, "
        "8 workflow_execution_continued_as_new",
        "update run r1 at v3 (continued_as_new, wt #0)",
        "insert workflow task #-1 of new1 attempt 1", "insert run new1 (running, wt #-1)",
        "append new1: 1 workflow_execution_started, 2 workflow_task_scheduled"}},
      {"a lease another worker took over",
       rows,
       [&] { return CompleteWorkflowTask(WorkflowTask(7, "r1", "w2"), 5, {timer}); },
       "stale_task",
       {}},
      {"a task the run no longer waits for",
       [](Snapshot& s) {
         s.runs["r1"] = RunRow("r1", 6, 8);
         s.tasks[7] = WorkflowTask(7, "r1");
       },
       [&] { return CompleteWorkflowTask(WorkflowTask(7, "r1"), 5, {timer}); },
       "stale_task",
       {}},
      {"failed: offered again after a backoff, no history",
       rows,
       [] {
         proto::Failure f;
         f.set_message("boom");
         return FailWorkflowTask(WorkflowTask(7, "r1"), f);
       },
       "",
       {"update workflow task #7 of r1 attempt 2", "update run r1 at v3 (running, wt #7)"}},
  };
  for (const auto& c : cases) Check(c);
}

TEST(TransitionsTest, ClosedChildReportsToItsParent) {
  ExecutionRow child = RunRow("c1", 6, 7);
  child.workflow_id = "kid";
  proto::ParentInfo p;
  p.set_workflow_id("mom");
  p.set_run_id("p1");
  p.set_child_id("k");
  child.parent = p.SerializeAsString();
  child.parent_run_id = "p1";
  TaskRow task = WorkflowTask(7, "c1");
  Snapshot snap(kNow);
  snap.runs["c1"] = child;
  snap.tasks[7] = task;
  auto complete = Cmd([](proto::Command& c) { c.mutable_complete_workflow(); });
  Input in = CompleteWorkflowTask(task, 5, {complete});

  // The parent's row is not in the snapshot: Decide asks for it, and nothing else.
  Decided first = RunDecide(in, snap);
  ASSERT_TRUE(IsNeedRead(first.status)) << first.status.ToString();
  EXPECT_EQ(first.needed.runs, std::set<std::string>{"p1"});

  ExecutionRow parent = RunRow("p1", 20, 0);
  parent.workflow_id = "mom";
  snap.runs["p1"] = parent;
  Decided second = RunDecide(in, snap);
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(Writes(second.t),
            (std::vector<std::string>{
                "delete task #7", "clear c1", "insert workflow task #-1 of p1 attempt 1",
                "append p1: 20 child_workflow_execution_completed, 21 workflow_task_scheduled",
                "update run p1 at v3 (running, wt #-1)",
                "append c1: 6 workflow_task_started, 7 workflow_task_completed, "
                "8 workflow_execution_completed",
                "update run c1 at v3 (completed, wt #0)"}));
  ASSERT_EQ(second.t.fx.closed.size(), 1u);
  EXPECT_EQ(second.t.fx.closed[0].run_id, "c1");
}

// ---- activities and timers -------------------------------------------------------------

TEST(TransitionsTest, ActivitiesAndTimers) {
  auto rows = [](Snapshot& s) {
    s.runs["r1"] = RunRow("r1", 6, 0);
    s.tasks[5] = ActivityTask(5, "r1", "w1");
  };
  proto::Failure boom;
  boom.set_message("boom");
  const std::vector<Case> cases = {
      {"completed: its events and a workflow task",
       rows,
       [] { return CompleteActivity(ActivityTask(5, "r1", "w1"), ToPayload(json::value(1))); },
       "",
       {"delete task #5", "insert workflow task #-1 of r1 attempt 1",
        "append r1: 6 activity_task_started, 7 activity_task_completed, "
        "8 workflow_task_scheduled",
        "update run r1 at v3 (running, wt #-1)"}},
      {"failed with attempts left: retried, nothing appended",
       rows,
       [&] { return FailActivity(ActivityTask(5, "r1", "w1"), boom); },
       "",
       {"update activity task #5 of r1 attempt 2"}},
      {"failed on its last attempt: the workflow hears of it",
       [](Snapshot& s) {
         s.runs["r1"] = RunRow("r1", 6, 0);
         s.tasks[5] = ActivityTask(5, "r1", "w1", 1);
       },
       [&] { return FailActivity(ActivityTask(5, "r1", "w1", 1), boom); },
       "",
       {"delete task #5", "insert workflow task #-1 of r1 attempt 1",
        "append r1: 6 activity_task_started, 7 activity_task_failed, 8 workflow_task_scheduled",
        "update run r1 at v3 (running, wt #-1)"}},
      {"a workflow task past its lease is offered again",
       [](Snapshot& s) {
         TaskRow t = WorkflowTask(7, "r1");
         t.lease_expires = kNow - 1;
         t.deadline = persistence::ComputeTaskDeadline(t);
         s.tasks[7] = t;
         s.runs["r1"] = RunRow("r1", 6, 7);
       },
       [] { return TaskDeadline(7); },
       "",
       {"update workflow task #7 of r1 attempt 2"}},
      {"a deadline not yet due does nothing", rows, [] { return TaskDeadline(5); }, "", {}},
      {"a timer fires: deleted first, so a second firing is moot",
       [](Snapshot& s) { s.runs["r1"] = RunRow("r1", 6, 0); },
       [] {
         return FireTimer(TimerRow{11, "wf", "r1", "t1", kNow});
       },
       "",
       {"delete timer #11", "insert workflow task #-1 of r1 attempt 1",
        "append r1: 6 timer_fired, 7 workflow_task_scheduled",
        "update run r1 at v3 (running, wt #-1)"}},
  };
  for (const auto& c : cases) Check(c);
}

// ---- commands ---------------------------------------------------------------------------

TEST(TransitionsTest, EveryCommandKindHasAHandler) {
  const proto::Command::AttributesCase kinds[] = {proto::Command::kScheduleActivity,
                                                  proto::Command::kStartTimer,
                                                  proto::Command::kCancelTimer,
                                                  proto::Command::kRequestCancelActivity,
                                                  proto::Command::kRecordMarker,
                                                  proto::Command::kCompleteWorkflow,
                                                  proto::Command::kFailWorkflow,
                                                  proto::Command::kCancelWorkflow,
                                                  proto::Command::kContinueAsNew,
                                                  proto::Command::kStartChildWorkflow,
                                                  proto::Command::kRequestCancelChildWorkflow};
  for (auto k : kinds) EXPECT_NE(HandlerFor(k), nullptr) << k;
  EXPECT_EQ(CheckCommand(proto::Command()).reason(), "bad_command");
  auto negative = Cmd([](proto::Command& c) { c.mutable_start_timer()->set_duration_ms(-1); });
  EXPECT_EQ(CheckCommand(negative).reason(), "bad_command");
}

// ---- effects ------------------------------------------------------------------------------

TEST(TransitionsTest, EagerSlotsGoBackWithADroppedTransition) {
  Matcher m;
  Matcher::Pool* pool = m.AddPool(TaskKind::kWorkflow, {"q"}, 1, 2, 2);
  Snapshot snap(kNow);
  snap.current["wf"] = std::nullopt;
  NewRun run{"wf", "demo", "q", "r9", "", ToPayload(json::value(1)), 7, ""};
  Options opts{"me", 10'000, 100};
  {
    Decided d = RunDecide(Start(run, proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE), snap);
    ASSERT_TRUE(d.status.ok());
    ReserveEagerSlots(d.t, &m, opts, kNow);
    ASSERT_EQ(d.t.fx.eager.size(), 1u);
    EXPECT_EQ(d.t.fx.eager[0].lease_owner, "me");
    ASSERT_NE(d.t.fx.eager[0].events, nullptr);  // handed over with the run's events
    EXPECT_EQ(d.t.fx.eager[0].events->size(), 2u);
    EXPECT_EQ(std::get<InsertTask>(d.t.writes[0]).row.lease_owner, "me");  // written leased
    std::lock_guard<std::mutex> l(pool->mu);
    EXPECT_EQ(pool->reserved, 1);
  }  // dropped (its batch rolled back, say): the slot goes back
  {
    std::lock_guard<std::mutex> l(pool->mu);
    EXPECT_EQ(pool->reserved, 0);
  }
  Decided d = RunDecide(Start(run, proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE), snap);
  ReserveEagerSlots(d.t, &m, opts, kNow);
  d.t.fx.slots[0].Deliver(d.t.fx.eager[0]);
  d.t = Transition();  // delivered: dropping it gives nothing back twice
  std::lock_guard<std::mutex> l(pool->mu);
  EXPECT_EQ(pool->reserved, 0);
  EXPECT_EQ(pool->ready.size(), 1u);
}

TEST(TransitionsTest, NoSlotForATaskTheTransitionDeletes) {
  Matcher m;
  Matcher::Pool* pool = m.AddPool(TaskKind::kActivity, {"acts"}, 1, 4, 4);
  Snapshot snap(kNow);
  snap.runs["r1"] = RunRow("r1", 6, 7);
  snap.tasks[7] = WorkflowTask(7, "r1");
  auto schedule = Cmd([](proto::Command& c) {
    c.mutable_schedule_activity()->set_activity_id("a1");
    c.mutable_schedule_activity()->set_activity_type("charge");
    c.mutable_schedule_activity()->mutable_options()->set_task_queue("acts");
  });
  auto cancel =
      Cmd([](proto::Command& c) { c.mutable_request_cancel_activity()->set_activity_id("a1"); });
  Decided d = RunDecide(CompleteWorkflowTask(WorkflowTask(7, "r1"), 5, {schedule, cancel}), snap);
  ASSERT_TRUE(d.status.ok());
  ReserveEagerSlots(d.t, &m, Options{"me", 10'000, 100}, kNow);
  EXPECT_TRUE(d.t.fx.eager.empty());
  std::lock_guard<std::mutex> l(pool->mu);
  EXPECT_EQ(pool->reserved, 0);
}

}  // namespace
}  // namespace keel::transitions
