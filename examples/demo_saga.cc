#include "examples/demo_saga.h"

#include <sqlite3.h>

#include <chrono>
#include <thread>

#include "engine/errors.h"
#include "engine/saga.h"

namespace keel::examples {

// ---- EffectLog -----------------------------------------------------------------

Result<std::unique_ptr<EffectLog>> EffectLog::Open(const std::string& path) {
  std::unique_ptr<EffectLog> log(new EffectLog());
  if (sqlite3_open_v2(path.c_str(), &log->db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return Status::FailedPrecondition("cannot open effect log " + path, "db_unusable");
  }
  sqlite3_busy_timeout(log->db_, 10000);
  const char* schema =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS effects(seq INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT "
      "NULL, workflow_id TEXT NOT NULL, step INTEGER NOT NULL, kind TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS effects_key ON effects(key);"
      "CREATE TABLE IF NOT EXISTS duplicate_attempts(key TEXT NOT NULL);";
  if (sqlite3_exec(log->db_, schema, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Status::Internal(std::string("effect log schema: ") + sqlite3_errmsg(log->db_));
  }
  return log;
}

EffectLog::~EffectLog() {
  if (db_) sqlite3_close_v2(db_);
}

Result<bool> EffectLog::Apply(const std::string& key, const std::string& workflow_id, int step,
                              const std::string& kind) {
  std::lock_guard<std::mutex> l(mu_);
  // One conditional statement: applied at most once per key, even across crashes.
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_,
                     "INSERT INTO effects(key, workflow_id, step, kind) SELECT ?1,?2,?3,?4 "
                     "WHERE NOT EXISTS (SELECT 1 FROM effects WHERE key=?1)",
                     -1, &st, nullptr);
  sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, workflow_id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 3, step);
  sqlite3_bind_text(st, 4, kind.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    return Status::Unavailable(std::string("effect log: ") + sqlite3_errmsg(db_), "db_locked");
  }
  bool applied = sqlite3_changes(db_) == 1;
  if (!applied) {
    sqlite3_prepare_v2(db_, "INSERT INTO duplicate_attempts(key) VALUES(?1)", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_step(st);
    sqlite3_finalize(st);
  }
  return applied;
}

Result<std::vector<EffectLog::Effect>> EffectLog::ReadAll() {
  std::lock_guard<std::mutex> l(mu_);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_, "SELECT seq, key, workflow_id, step, kind FROM effects ORDER BY seq", -1,
                     &st, nullptr);
  std::vector<Effect> out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    out.push_back(
        {sqlite3_column_int64(st, 0), reinterpret_cast<const char*>(sqlite3_column_text(st, 1)),
         reinterpret_cast<const char*>(sqlite3_column_text(st, 2)), sqlite3_column_int(st, 3),
         reinterpret_cast<const char*>(sqlite3_column_text(st, 4))});
  }
  sqlite3_finalize(st);
  return out;
}

Result<int64_t> EffectLog::DuplicateAttempts() {
  std::lock_guard<std::mutex> l(mu_);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_, "SELECT count(*) FROM duplicate_attempts", -1, &st, nullptr);
  int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  return n;
}

// ---- The workflow ----------------------------------------------------------------

namespace {

struct DemoInput {
  int64_t steps, fail_at, activity_ms, stuck_at;
};

DemoInput ParseInput(const json::value& v) {
  if (!v.is_object()) {
    throw ApplicationError("InvalidInput", "DemoSaga input must be a JSON object", true);
  }
  const auto& o = v.as_object();
  auto get = [&o](const char* k, int64_t def, int64_t lo, int64_t hi) {
    auto r = GetInt(o, k, def);
    if (!r.ok()) throw ApplicationError("InvalidInput", r.status().message(), true);
    if (*r < lo || *r > hi) {
      throw ApplicationError("InvalidInput",
                             std::string("field '") + k + "' must be between " +
                                 std::to_string(lo) + " and " + std::to_string(hi),
                             true);
    }
    return *r;
  };
  DemoInput in;
  in.steps = get("steps", 3, 0, 10000);
  in.fail_at = get("fail_at", 0, 0, in.steps);
  in.activity_ms = get("activity_ms", 0, 0, 600000);
  in.stuck_at = get("stuck_at", 0, 0, in.steps);
  return in;
}

ActivityOptions StepOptions(int64_t activity_ms) {
  ActivityOptions o;
  o.task_queue = kDemoQueue;
  o.start_to_close_timeout = std::max<Millis>(10'000, 10 * activity_ms);
  o.retry.initial_interval = 100;
  o.retry.maximum_interval = 2'000;
  o.retry.non_retryable_error_types = {"DemoFailure"};
  return o;
}

json::value StepInput(const WorkflowContext& ctx, int64_t k, const DemoInput& in,
                      const char* kind) {
  return json::object{{"step", k},
                      {"activity_ms", in.activity_ms},
                      {"fail", std::string(kind) == "do" && k == in.fail_at},
                      {"stuck", std::string(kind) == "do" && k == in.stuck_at},
                      {"key", ctx.info().run_id + "/" + kind + "/" + std::to_string(k)}};
}

Workflow<json::value> DemoSaga(WorkflowContext& ctx, json::value raw) {
  DemoInput in = ParseInput(raw);
  Saga saga(ctx);
  json::array completed;
  bool failed = false;
  for (int64_t k = 1; k <= in.steps && !failed; ++k) {
    try {
      co_await ctx.ExecuteActivity("DemoStep", StepInput(ctx, k, in, "do"),
                                   StepOptions(in.activity_ms));
      completed.push_back(k);
      saga.AddCompensation("DemoUndo", StepInput(ctx, k, in, "undo"), StepOptions(in.activity_ms));
    } catch (const ActivityError&) {
      failed = true;
    }
  }
  json::array compensated;
  if (failed) {
    for (const auto& r : co_await saga.Compensate()) compensated.push_back(r.at("step"));
  }
  co_return json::object{{"completed", completed}, {"compensated", compensated}};
}

// The same steps, but each compensation is registered before its step runs.
Workflow<json::value> ReorderedDemoSaga(WorkflowContext& ctx, json::value raw) {
  DemoInput in = ParseInput(raw);
  json::array completed;
  for (int64_t k = 1; k <= in.steps; ++k) {
    co_await ctx.Sleep(1);
    co_await ctx.ExecuteActivity("DemoStep", StepInput(ctx, k, in, "do"),
                                 StepOptions(in.activity_ms));
    completed.push_back(k);
  }
  co_return json::object{{"completed", completed}, {"compensated", json::array()}};
}

json::value RunStep(EffectLog* log, ActivityContext& ctx, const json::value& input,
                    const char* kind) {
  const auto& o = input.as_object();
  int64_t step = o.at("step").as_int64();
  int64_t ms = o.at("activity_ms").as_int64();
  if (o.at("fail").as_bool()) {
    throw ApplicationError("DemoFailure", "step " + std::to_string(step) + " fails (fail_at)",
                           true);
  }
  if (o.at("stuck").as_bool()) {
    throw ApplicationError("DemoStuck",
                           "step " + std::to_string(step) + " fails on every attempt (stuck_at)");
  }
  if (log) {
    auto r = log->Apply(std::string(o.at("key").as_string()), ctx.info().workflow_id,
                        static_cast<int>(step), kind);
    if (!r.ok()) throw ApplicationError("EffectLogBusy", r.status().message());
  }
  // The effect lands first and the reply is slow, like a charge: a crash in between
  // re-runs the step, and only the idempotency key keeps it from applying twice.
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return json::object{{"step", step}};
}

}  // namespace

void RegisterDemo(Registry& registry, EffectLog* log) {
  registry.RegisterWorkflow("DemoSaga", DemoSaga);
  registry.RegisterActivity(
      "DemoStep",
      [log](ActivityContext& ctx, const json::value& in) { return RunStep(log, ctx, in, "do"); },
      kDemoQueue);
  registry.RegisterActivity(
      "DemoUndo",
      [log](ActivityContext& ctx, const json::value& in) { return RunStep(log, ctx, in, "undo"); },
      kDemoQueue);
}

void RegisterReorderedDemoForTest(Registry& registry) {
  RegisterDemo(registry, nullptr);
  registry.RegisterWorkflow("DemoSaga", ReorderedDemoSaga);
}

}  // namespace keel::examples
