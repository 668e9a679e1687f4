// flush()'s arguments: one table of columns per kind of queued write, each column
// named as flush() names its parameter, so the order is written down once.

#include "persistence/postgres/pg_write_buffer.h"

#include <algorithm>

namespace keel::persistence::pg {

void ArrayLiteral::Text(std::string_view v) {
  Sep();
  s_ += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') s_ += '\\';
    s_ += c;
  }
  s_ += '"';
}

void ArrayLiteral::Int(int64_t v) {
  Sep();
  s_ += std::to_string(v);
}

void ArrayLiteral::Bool(bool v) {
  Sep();
  s_ += v ? 't' : 'f';
}

void ArrayLiteral::Bytes(std::string_view v) {  // "\\x0a1b"
  static const char kHex[] = "0123456789abcdef";
  Sep();
  s_ += "\"\\\\x";
  for (unsigned char c : v) {
    s_ += kHex[c >> 4];
    s_ += kHex[c & 15];
  }
  s_ += '"';
}

namespace {

using W = WriteBuffer;

template <typename Op>
struct Column {
  const char* param;  // flush()'s parameter
  void (*put)(ArrayLiteral&, const Op&);
};

const Column<W::ExecOp> kExecColumns[] = {
    {"e_run", [](ArrayLiteral& a, const W::ExecOp& o) { a.Text(o.row.run_id); }},
    {"e_wid", [](ArrayLiteral& a, const W::ExecOp& o) { a.Text(o.row.workflow_id); }},
    {"e_type", [](ArrayLiteral& a, const W::ExecOp& o) { a.Text(o.row.workflow_type); }},
    {"e_queue", [](ArrayLiteral& a, const W::ExecOp& o) { a.Text(o.row.task_queue); }},
    {"e_status",
     [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(static_cast<int>(o.row.status)); }},
    {"e_version", [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(o.row.version); }},
    {"e_next", [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(o.row.next_event_id); }},
    {"e_wt", [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(o.row.wt_task_id); }},
    {"e_start", [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(o.row.start_time); }},
    {"e_close", [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(o.row.close_time); }},
    {"e_result", [](ArrayLiteral& a, const W::ExecOp& o) { a.Bytes(o.row.result); }},
    {"e_failure", [](ArrayLiteral& a, const W::ExecOp& o) { a.Bytes(o.row.failure); }},
    {"e_wtf", [](ArrayLiteral& a, const W::ExecOp& o) { a.Bytes(o.row.wt_failure); }},
    {"e_prun", [](ArrayLiteral& a, const W::ExecOp& o) { a.Text(o.row.parent_run_id); }},
    {"e_parent", [](ArrayLiteral& a, const W::ExecOp& o) { a.Bytes(o.row.parent); }},
    {"e_children", [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(o.row.children); }},
    {"e_expected", [](ArrayLiteral& a, const W::ExecOp& o) { a.Int(o.expected); }},
};

const Column<W::CurrentOp> kCurrentColumns[] = {
    {"c_wid", [](ArrayLiteral& a, const W::CurrentOp& o) { a.Text(o.workflow_id); }},
    {"c_run", [](ArrayLiteral& a, const W::CurrentOp& o) { a.Text(o.run_id); }},
};

const Column<W::HistoryOp> kHistoryColumns[] = {
    {"h_run", [](ArrayLiteral& a, const W::HistoryOp& o) { a.Text(o.run); }},
    {"h_first", [](ArrayLiteral& a, const W::HistoryOp& o) { a.Int(o.first); }},
    {"h_last", [](ArrayLiteral& a, const W::HistoryOp& o) { a.Int(o.last); }},
    {"h_data", [](ArrayLiteral& a, const W::HistoryOp& o) { a.Bytes(o.data); }},
};

const Column<W::TaskOp> kTaskColumns[] = {
    {"t_insert", [](ArrayLiteral& a, const W::TaskOp& o) { a.Bool(o.insert); }},
    {"t_id", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.id); }},
    {"t_queue", [](ArrayLiteral& a, const W::TaskOp& o) { a.Text(o.row.queue); }},
    {"t_kind", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(static_cast<int>(o.row.kind)); }},
    {"t_wid", [](ArrayLiteral& a, const W::TaskOp& o) { a.Text(o.row.workflow_id); }},
    {"t_run", [](ArrayLiteral& a, const W::TaskOp& o) { a.Text(o.row.run_id); }},
    {"t_aid", [](ArrayLiteral& a, const W::TaskOp& o) { a.Text(o.row.activity_id); }},
    {"t_attempt", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.attempt); }},
    {"t_visible", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.visible_at); }},
    {"t_owner", [](ArrayLiteral& a, const W::TaskOp& o) { a.Text(o.row.lease_owner); }},
    {"t_token", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.lease_token); }},
    {"t_expires", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.lease_expires); }},
    {"t_lease_ms", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.lease_ms); }},
    {"t_started", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.started_at); }},
    {"t_sdl", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.start_deadline); }},
    {"t_cdl", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(o.row.close_deadline); }},
    {"t_deadline", [](ArrayLiteral& a, const W::TaskOp& o) { a.Int(ComputeTaskDeadline(o.row)); }},
    {"t_info", [](ArrayLiteral& a, const W::TaskOp& o) { a.Bytes(o.row.info); }},
};

const Column<W::TaskDeleteOp> kTaskDeleteColumns[] = {
    {"d_task", [](ArrayLiteral& a, const W::TaskDeleteOp& o) { a.Int(o.id); }},
};
const Column<W::RunOp> kTaskRunDeleteColumns[] = {
    {"d_task_run", [](ArrayLiteral& a, const W::RunOp& o) { a.Text(o.run); }},
};
const Column<W::RunOp> kTimerRunDeleteColumns[] = {
    {"d_timer_run", [](ArrayLiteral& a, const W::RunOp& o) { a.Text(o.run); }},
};

// Calls f(ops, columns) for each kind of write, in flush()'s parameter order.
template <typename Buffer, typename F>
void Sections(Buffer& b, F&& f) {
  f(b.execs, kExecColumns);
  f(b.currents, kCurrentColumns);
  f(b.history, kHistoryColumns);
  f(b.tasks, kTaskColumns);
  f(b.task_deletes, kTaskDeleteColumns);
  f(b.task_run_deletes, kTaskRunDeleteColumns);
  f(b.timer_run_deletes, kTimerRunDeleteColumns);
}

}  // namespace

bool WriteBuffer::empty() const {
  bool out = true;
  Sections(*this, [&](const auto& ops, const auto&) { out = out && ops.empty(); });
  return out;
}

std::set<size_t> WriteBuffer::Fns() const {
  std::set<size_t> out;
  Sections(*this, [&](const auto& ops, const auto&) {
    for (const auto& op : ops) out.insert(op.fn);
  });
  return out;
}

void WriteBuffer::Drop(size_t fn) {
  Sections(*this, [fn](auto& ops, const auto&) {
    std::erase_if(ops, [fn](const auto& op) { return op.fn == fn; });
  });
  updated_runs.clear();
  updated_tasks.clear();
  task_run_deletes_set.clear();
  for (const auto& op : execs) {
    if (op.expected >= 0) updated_runs.insert(op.row.run_id);
  }
  for (const auto& op : tasks) {
    if (!op.insert) updated_tasks.insert(op.row.id);
  }
  for (const auto& op : task_run_deletes) task_run_deletes_set.insert(op.run);
}

std::vector<std::string> WriteBuffer::Params() const {
  std::vector<std::string> out;
  Sections(*this, [&](const auto& ops, const auto& columns) {
    for (const auto& c : columns) {
      ArrayLiteral a;
      for (const auto& op : ops) c.put(a, op);
      out.push_back(a.Take());
    }
  });
  return out;
}

std::vector<std::string> WriteBuffer::ParamNames() {
  std::vector<std::string> out;
  WriteBuffer none;
  Sections(none, [&](const auto&, const auto& columns) {
    for (const auto& c : columns) out.push_back(c.param);
  });
  return out;
}

std::string FlushStatement() {
  size_t n = WriteBuffer::ParamNames().size() + 2;  // and n_channel, n_notes
  std::string sql = "SELECT {s}.flush(";
  for (size_t i = 1; i <= n; ++i) sql += (i > 1 ? ",$" : "$") + std::to_string(i);
  return sql + ")";
}

}  // namespace keel::persistence::pg
