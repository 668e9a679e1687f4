// keel taskqueue list|describe: the backlog of every queue, and one queue's tasks.

#include <iostream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"

namespace keel::cli {
namespace {

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

// {"queues":[{queue, ready, leased, delayed, oldest_ready_age_ms, pollers}...]}, from
// the store or from a running server.
Result<json::object> QueuesJson() {
  Registry none;  // a queue listing runs no workflow code
  KEEL_ASSIGN_OR_RETURN(auto client, OpenEngineClient(F().db, F().address, F().admin_token, none));
  return client->TaskQueues();
}

int List() {
  auto v = QueuesJson();
  if (!v.ok()) return ReportError(v.status());
  if (F().output == "json") {
    std::cout << json::serialize(*v) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"QUEUE", "READY", "LEASED", "DELAYED", "OLDEST READY AGE", "POLLERS"}};
  const auto& queues = v->at("queues").as_array();
  for (const auto& q : queues) {
    int64_t ready = q.at("ready").as_int64();
    rows.push_back({std::string(q.at("queue").as_string()), std::to_string(ready),
                    std::to_string(q.at("leased").as_int64()),
                    std::to_string(q.at("delayed").as_int64()),
                    ready ? std::to_string(q.at("oldest_ready_age_ms").as_int64()) + " ms" : "-",
                    std::to_string(q.at("pollers").as_array().size())});
  }
  PrintTable(rows);
  if (queues.empty()) std::cout << "(no tasks and no pollers)\n";
  return kExitOk;
}

// Who polled the queue lately: one row per process and task kind.
void PrintPollers(const json::array& pollers) {
  if (pollers.empty()) {
    std::cout << "\n(no pollers in the last " << EngineClient::kPollersRecentMs / 1000 << " s)\n";
    return;
  }
  std::cout << "\nPollers:\n";
  std::vector<std::vector<std::string>> rows = {{"IDENTITY", "KIND", "LAST POLL"}};
  for (const auto& v : pollers) {
    const auto& p = v.as_object();
    rows.push_back({std::string(p.at("identity").as_string()),
                    std::string(p.at("kind").as_string()),
                    std::to_string(p.at("last_poll_age_ms").as_int64()) + " ms ago"});
  }
  PrintTable(rows);
}

int Describe() {
  Registry none;  // a queue listing runs no workflow code
  auto client = OpenEngineClient(F().db, F().address, F().admin_token, none);
  if (!client.ok()) return ReportError(client.status());
  auto q = (*client)->DescribeTaskQueue(F().queue, F().limit);
  if (!q.ok()) return ReportError(q.status());
  if (F().output == "json") {
    std::cout << json::serialize(*q) << "\n";
    return kExitOk;
  }
  const json::object& o = *q;
  auto num = [&](const char* k) { return o.at(k).as_int64(); };
  PrintTable({{"Queue", F().queue},
              {"Ready", std::to_string(num("ready"))},
              {"Leased", std::to_string(num("leased"))},
              {"Delayed (retry backoff)", std::to_string(num("delayed"))},
              {"Oldest ready age",
               num("ready") ? std::to_string(num("oldest_ready_age_ms")) + " ms" : "-"}});
  PrintPollers(o.at("pollers").as_array());
  const json::array& tasks = o.at("tasks").as_array();
  if (tasks.empty()) {
    std::cout << "\n(no tasks)\n";
    return kExitOk;
  }
  std::cout << "\nTasks, next first:\n";
  std::vector<std::vector<std::string>> rows = {
      {"TASK", "KIND", "WORKFLOW ID", "ACTIVITY", "ATTEMPT", "STATE", "LEASE OWNER"}};
  auto str = [](const json::value& v) {
    return v.is_string() && !v.as_string().empty() ? std::string(v.as_string()) : "-";
  };
  for (const auto& v : tasks) {
    const auto& t = v.as_object();
    rows.push_back({std::to_string(t.at("task_id").as_int64()), str(t.at("kind")),
                    str(t.at("workflow_id")), str(t.at("activity_type")),
                    std::to_string(t.at("attempt").as_int64()), str(t.at("state")),
                    str(t.at("lease_owner"))});
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
