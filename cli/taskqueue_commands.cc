// keel taskqueue list|describe: the backlog of every queue, and one queue's tasks.

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"
#include "http/client.h"
#include "proto/history.pb.h"

namespace keel::cli {
namespace {

using persistence::TaskKind;
using persistence::TaskRow;

struct Flags {
  std::string db = "sqlite:./keel-data";
  std::string output = "table";
  std::string queue;
  int limit = 20;
  std::string address, admin_token;
};

Flags& F() {
  static Flags f;
  return f;
}

Millis AgeOf(Millis since, Millis now) { return since > 0 && now > since ? now - since : 0; }

json::object StatsJson(const persistence::QueueStats& q, Millis now) {
  return json::object{{"queue", q.queue},
                      {"ready", q.ready},
                      {"leased", q.leased},
                      {"delayed", q.delayed},
                      {"oldest_ready_age_ms", AgeOf(q.oldest_ready_at, now)}};
}

// {"queues":[StatsJson...]}, from the store or from a running server.
Result<json::value> QueuesJson() {
  if (!F().address.empty()) {
    KEEL_ASSIGN_OR_RETURN(auto url, http::ParseHttpUrl(F().address));
    KEEL_ASSIGN_OR_RETURN(auto r, http::HttpCall(url, "GET", url.path + "/v1/task-queues", "",
                                                 {{"Authorization", "Bearer " + F().admin_token}}));
    if (r.status != 200) {
      return Status::FailedPrecondition(
          "the server answered " + std::to_string(r.status) + ": " + r.body.substr(0, 300),
          "http_" + std::to_string(r.status));
    }
    return ParseJson(r.body);
  }
  KEEL_ASSIGN_OR_RETURN(auto store, OpenDb(F().db));
  KEEL_ASSIGN_OR_RETURN(auto stats, store->QueueStatistics());
  Millis now = SystemClock().Now();
  json::array out;
  for (const auto& q : stats) out.push_back(StatsJson(q, now));
  return json::value(json::object{{"queues", out}});
}

int List() {
  auto v = QueuesJson();
  if (!v.ok()) return ReportError(v.status());
  if (F().output == "json") {
    std::cout << json::serialize(*v) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"QUEUE", "READY", "LEASED", "DELAYED", "OLDEST READY AGE"}};
  const auto& queues = v->at("queues").as_array();
  for (const auto& q : queues) {
    int64_t ready = q.at("ready").as_int64();
    rows.push_back({std::string(q.at("queue").as_string()), std::to_string(ready),
                    std::to_string(q.at("leased").as_int64()),
                    std::to_string(q.at("delayed").as_int64()),
                    ready ? std::to_string(q.at("oldest_ready_age_ms").as_int64()) + " ms" : "-"});
  }
  PrintTable(rows);
  if (queues.empty()) std::cout << "(no tasks waiting or running)\n";
  return kExitOk;
}

std::string StateOf(const TaskRow& t, Millis now) {
  if (!t.lease_owner.empty()) return "leased";
  return t.visible_at > now ? "delayed" : "ready";
}

int Describe() {
  if (!F().address.empty()) {
    return ReportError(Status::InvalidArgument(
        "taskqueue describe reads the store: use --db (the API has GET /v1/task-queues, which "
        "`taskqueue list --address` shows)"));
  }
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto stats = (*store)->QueueStatistics();
  if (!stats.ok()) return ReportError(stats.status());
  auto tasks = (*store)->ListQueueTasks(F().queue, F().limit);
  if (!tasks.ok()) return ReportError(tasks.status());
  Millis now = SystemClock().Now();
  persistence::QueueStats mine;
  mine.queue = F().queue;
  for (const auto& q : *stats) {
    if (q.queue == F().queue) mine = q;
  }
  json::array list;
  for (const auto& t : *tasks) {
    proto::ActivityTaskInfo info;
    if (t.kind == TaskKind::kActivity) info.ParseFromString(t.info);
    json::object o{{"task_id", t.id},
                   {"kind", t.kind == TaskKind::kWorkflow ? "workflow" : "activity"},
                   {"workflow_id", t.workflow_id},
                   {"run_id", t.run_id},
                   {"activity_type", info.activity_type()},
                   {"attempt", t.attempt},
                   {"state", StateOf(t, now)},
                   {"visible_at", FormatUtc(t.visible_at)},
                   {"lease_owner", t.lease_owner}};
    if (info.has_last_failure()) {
      o["last_failure"] = info.last_failure().type() + ": " + info.last_failure().message();
    }
    list.push_back(o);
  }
  if (F().output == "json") {
    json::object out = StatsJson(mine, now);
    out["tasks"] = list;
    std::cout << json::serialize(out) << "\n";
    return kExitOk;
  }
  PrintTable({{"Queue", mine.queue},
              {"Ready", std::to_string(mine.ready)},
              {"Leased", std::to_string(mine.leased)},
              {"Delayed (retry backoff)", std::to_string(mine.delayed)},
              {"Oldest ready age",
               mine.ready ? std::to_string(AgeOf(mine.oldest_ready_at, now)) + " ms" : "-"}});
  if (list.empty()) {
    std::cout << "\n(no tasks)\n";
    return kExitOk;
  }
  std::cout << "\nTasks, next first:\n";
  std::vector<std::vector<std::string>> rows = {
      {"TASK", "KIND", "WORKFLOW ID", "ACTIVITY", "ATTEMPT", "STATE", "LEASE OWNER"}};
  for (const auto& v : list) {
    const auto& o = v.as_object();
    rows.push_back(
        {std::to_string(o.at("task_id").as_int64()), std::string(o.at("kind").as_string()),
         std::string(o.at("workflow_id").as_string()),
         std::string(o.at("activity_type").as_string()), std::to_string(o.at("attempt").as_int64()),
         std::string(o.at("state").as_string()),
         o.at("lease_owner").as_string().empty() ? "-"
                                                 : std::string(o.at("lease_owner").as_string())});
  }
  PrintTable(rows);
  return kExitOk;
}

void Common(CLI::App* c) {
  c->add_option("--db", F().db, "sqlite:DIR or postgresql://...")->envname("KEEL_DB");
  c->add_option("--address", F().address, "a running keel serve (http://HOST:PORT)")
      ->envname("KEEL_ADDRESS");
  c->add_option("--admin-token", F().admin_token, "the server's engine API token")
      ->envname("KEEL_ADMIN_TOKEN");
  c->add_option("--output,-o", F().output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->envname("KEEL_OUTPUT");
}

}  // namespace

void AddTaskQueueCommands(CLI::App& app, CliState& state) {
  auto* tq = app.add_subcommand("taskqueue", "inspect task queues: backlog, leases, retries");
  tq->require_subcommand(1);
  auto* list = tq->add_subcommand("list", "every queue with tasks: ready, leased, delayed");
  Common(list);
  list->callback([&state] { state.action = List; });
  auto* describe = tq->add_subcommand("describe", "one queue: its counts and its next tasks");
  Common(describe);
  describe->add_option("queue", F().queue, "queue name")->required();
  describe->add_option("--limit", F().limit, "tasks to show")->check(CLI::Range(1, 1000));
  describe->callback([&state] { state.action = Describe; });
}

}  // namespace keel::cli
