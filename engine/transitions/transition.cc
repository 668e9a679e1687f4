#include "engine/transitions/transition.h"

#include <algorithm>

namespace keel::transitions {

// ---- Slot ------------------------------------------------------------------------

Slot& Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    if (m_) m_->Release(kind_, queue_);
    m_ = std::exchange(o.m_, nullptr);
    kind_ = o.kind_;
    queue_ = std::move(o.queue_);
  }
  return *this;
}

Slot::~Slot() {
  if (m_) m_->Release(kind_, queue_);
}

void Slot::Deliver(const TaskRow& task) {
  if (!m_) return;
  m_->Deliver(task);  // the reservation becomes the delivered task
  m_ = nullptr;
}

// ---- reads -----------------------------------------------------------------------

bool IsNeedRead(const Status& s) { return s.reason() == kNeedRead; }

Status Tx::Need() {
  return Status::Unavailable("the transition needs a read the snapshot does not hold", kNeedRead);
}

Result<std::optional<ExecutionRow>> Tx::GetExecution(const std::string& run_id) {
  if (auto it = runs_.find(run_id); it != runs_.end())
    return std::optional<ExecutionRow>(it->second);
  auto it = snap_.runs.find(run_id);
  if (it == snap_.runs.end()) {
    need_.runs.insert(run_id);
    return Need();
  }
  return it->second;
}

Result<std::optional<std::string>> Tx::GetCurrentRunId(const std::string& workflow_id) {
  if (auto it = current_.find(workflow_id); it != current_.end()) {
    return std::optional<std::string>(it->second);
  }
  auto it = snap_.current.find(workflow_id);
  if (it == snap_.current.end()) {
    need_.workflows.insert(workflow_id);
    return Need();
  }
  return it->second;
}

Result<std::optional<TaskRow>> Tx::GetTask(int64_t id) {
  if (auto it = tasks_.find(id); it != tasks_.end()) return it->second;
  auto it = snap_.tasks.find(id);
  if (it == snap_.tasks.end()) {
    need_.tasks.insert(id);
    return Need();
  }
  if (it->second && cleared_.count(it->second->run_id)) return std::optional<TaskRow>();
  return it->second;
}

Result<std::optional<TaskRow>> Tx::FindActivityTask(const std::string& run_id,
                                                    const std::string& activity_id) {
  // This transition's own tasks first (an activity scheduled and cancelled at once).
  for (auto it = tasks_.rbegin(); it != tasks_.rend(); ++it) {
    const auto& t = it->second;
    if (t && t->kind == TaskKind::kActivity && t->run_id == run_id &&
        t->activity_id == activity_id) {
      return t;
    }
  }
  auto it = snap_.activity_tasks.find({run_id, activity_id});
  if (it == snap_.activity_tasks.end()) {
    need_.activity_tasks.insert({run_id, activity_id});
    return Need();
  }
  if (!it->second || cleared_.count(run_id)) return std::optional<TaskRow>();
  if (auto own = tasks_.find(it->second->id); own != tasks_.end()) return own->second;
  return it->second;
}

Result<std::vector<ExecutionRow>> Tx::ListOpenChildren(const std::string& parent_run_id) {
  auto it = snap_.children.find(parent_run_id);
  if (it == snap_.children.end()) {
    need_.children.insert(parent_run_id);
    return Need();
  }
  std::vector<ExecutionRow> out;
  std::set<std::string> seen;
  for (const auto& child : it->second) {
    seen.insert(child.run_id);
    auto own = runs_.find(child.run_id);
    const ExecutionRow& row = own == runs_.end() ? child : own->second;
    if (row.status == persistence::ExecutionStatus::kRunning) out.push_back(row);
  }
  for (const auto& [run, row] : runs_) {  // children started by this transition
    if (!seen.count(run) && row.parent_run_id == parent_run_id &&
        row.status == persistence::ExecutionStatus::kRunning) {
      out.push_back(row);
    }
  }
  return out;
}

// ---- writes ----------------------------------------------------------------------

void Tx::InsertExecution(const ExecutionRow& row) {
  t_.writes.push_back(transitions::InsertRun{row});
  runs_[row.run_id] = row;
  current_[row.workflow_id] = row.run_id;
}

void Tx::UpdateExecution(const ExecutionRow& row, int64_t expected_version) {
  t_.writes.push_back(UpdateRun{row, expected_version});
  ExecutionRow stored = row;
  stored.version = expected_version + 1;
  runs_[row.run_id] = std::move(stored);
}

void Tx::AppendHistory(const std::string& run_id, const std::vector<proto::HistoryEvent>& events) {
  if (events.empty()) return;
  t_.writes.push_back(transitions::AppendHistory{run_id, events});
}

int64_t Tx::InsertTask(TaskRow row) {
  row.id = next_task_id_--;
  row.deadline = persistence::ComputeTaskDeadline(row);
  t_.writes.push_back(transitions::InsertTask{row});
  tasks_[row.id] = row;
  return row.id;
}

void Tx::UpdateTask(const TaskRow& row) {
  t_.writes.push_back(transitions::UpdateTask{row});
  tasks_[row.id] = row;
}

void Tx::DeleteTask(int64_t id) {
  t_.writes.push_back(transitions::DeleteTask{id});
  tasks_[id] = std::nullopt;
}

void Tx::ClearRun(const std::string& run_id) {
  t_.writes.push_back(transitions::ClearRun{run_id});
  cleared_.insert(run_id);
  for (auto& [id, t] : tasks_) {
    if (t && t->run_id == run_id) t.reset();
  }
}

void Tx::InsertTimer(const TimerRow& row) { t_.writes.push_back(transitions::InsertTimer{row}); }

void Tx::DeleteTimer(int64_t id) { t_.writes.push_back(transitions::DeleteTimer{id}); }

void Tx::DeleteTimerByName(const std::string& run_id, const std::string& timer_id) {
  t_.writes.push_back(transitions::DeleteTimerByName{run_id, timer_id});
}

void Tx::InsertRequestId(const std::string& run_id, const std::string& request_id) {
  t_.writes.push_back(transitions::InsertRequestId{run_id, request_id});
}

void Tx::DeleteClosedRuns(Millis closed_before, int limit) {
  t_.writes.push_back(transitions::DeleteClosedRuns{closed_before, limit});
}

// ---- eager dispatch --------------------------------------------------------------

namespace {

// Whether the task inserted at writes[i] is still there when the transition ends.
bool Survives(const std::vector<Write>& writes, size_t i) {
  const TaskRow& row = std::get<InsertTask>(writes[i]).row;
  for (size_t j = i + 1; j < writes.size(); ++j) {
    if (auto* d = std::get_if<DeleteTask>(&writes[j]); d && d->id == row.id) return false;
    if (auto* c = std::get_if<ClearRun>(&writes[j]); c && c->run_id == row.run_id) return false;
  }
  return true;
}

}  // namespace

void ReserveEagerSlots(Transition& t, Matcher* matcher, const Options& opts, Millis now) {
  std::map<std::string, std::vector<proto::HistoryEvent>> appended;  // by run
  for (const auto& w : t.writes) {
    if (auto* a = std::get_if<AppendHistory>(&w)) {
      auto& v = appended[a->run_id];
      v.insert(v.end(), a->events.begin(), a->events.end());
    }
  }
  for (size_t i = 0; i < t.writes.size(); ++i) {
    auto* ins = std::get_if<InsertTask>(&t.writes[i]);
    if (!ins || !Survives(t.writes, i)) continue;
    TaskRow& row = ins->row;
    // A task visible only later (a retry's backoff) waits for the pollers.
    if (matcher && row.lease_owner.empty() && row.visible_at <= now &&
        matcher->TryReserve(row.kind, row.queue)) {
      row.lease_owner = opts.identity;
      row.lease_token = 1;
      row.started_at = now;
      row.lease_expires = now + row.lease_ms;
      row.deadline = persistence::ComputeTaskDeadline(row);
      TaskRow eager = row;
      if (row.kind == TaskKind::kWorkflow) {
        auto it = appended.find(row.run_id);
        if (it != appended.end() && !it->second.empty()) {
          eager.events = std::make_shared<const std::vector<proto::HistoryEvent>>(it->second);
        }
      }
      t.fx.eager.push_back(std::move(eager));
      t.fx.slots.emplace_back(matcher, row.kind, row.queue);
    } else {
      t.fx.notify.emplace_back(row.kind, row.queue);
      if (row.visible_at > now) t.fx.Wake(row.visible_at);
    }
    t.fx.Wake(row.deadline);
  }
}

}  // namespace keel::transitions
