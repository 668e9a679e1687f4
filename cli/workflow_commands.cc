// keel workflow start|describe|list|history|replay|query|signal|terminate|cancel|reset

#include <cctype>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"
#include "engine/client.h"
#include "engine/engine.h"
#include "engine/history_events.h"
#include "engine/inspect.h"
#include "engine/payload.h"
#include "engine/replayer.h"
#include "http/engine_client.h"

namespace keel::cli {
namespace {

using persistence::ExecutionRow;
using persistence::ExecutionStatus;

struct Flags {
  std::string db = "sqlite:./keel-data";
  std::string output = "table";
  std::string id, type, input = "null", task_queue, reuse = "allow_duplicate";
  std::string status, cursor, name, reason, start_after, start_before, file, run, id_prefix;
  int limit = 50;
  int64_t event_id = 0;
  std::string address, admin_token;  // --address: a running keel serve's engine API
};

Flags& F() {
  static Flags f;
  return f;
}

Status CheckOutput() {
  if (F().output != "table" && F().output != "json") {
    return Status::InvalidArgument("--output must be table or json");
  }
  return Status::Ok();
}

Result<json::value> JsonFlag(const std::string& text, const char* flag) {
  auto v = ParseJson(text);
  if (!v.ok()) {
    return Status::InvalidArgument(std::string(flag) +
                                   " is not valid JSON: " + v.status().message());
  }
  return v;
}

Result<Millis> ParseTimeFlag(const std::string& s, const char* flag) {
  if (s.empty()) return Millis{0};
  std::tm tm{};
  std::istringstream in(s);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) {
    return Status::InvalidArgument(std::string(flag) +
                                   " must be a UTC time like 2026-01-31T12:00:00");
  }
  return static_cast<Millis>(timegm(&tm)) * 1000;
}

Result<std::unique_ptr<EngineClient>> OpenBackend(const Registry& registry) {
  return OpenEngineClient(F().db, F().address, F().admin_token, registry);
}

#define OPEN_BACKEND(var, registry)                          \
  auto var##_or = OpenBackend(registry);                     \
  if (!var##_or.ok()) return ReportError(var##_or.status()); \
  EngineClient& var = **var##_or

int Start(const Registry& registry) {
  auto input = JsonFlag(F().input, "--input");
  if (!input.ok()) return ReportError(input.status());
  auto parsed = ParseReusePolicy(F().reuse);
  if (!parsed.ok())
    return ReportError(Status::InvalidArgument("--reuse-policy: " + parsed.status().message()));
  const proto::WorkflowIdReusePolicy policy = *parsed;
  OPEN_BACKEND(b, registry);
  StartWorkflowRequest req;
  req.workflow_id = F().id;
  req.workflow_type = F().type;
  req.task_queue = F().task_queue;
  req.input = std::move(input).value();
  req.reuse_policy = policy;
  req.identity = "keel-cli";
  auto r = b.Start(req);
  if (!r.ok()) return ReportError(r.status());
  if (F().output == "json") {
    std::cout << json::serialize(*r) << "\n";
  } else {
    std::cout << std::string(r->at("run_id").as_string()) << "\n";
  }
  return kExitOk;
}

std::string Str(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_null()) return "-";
  return json::serialize(v);
}

int Describe(const Registry& registry) {
  OPEN_BACKEND(b, registry);
  auto d = b.Describe(F().id, F().run);
  if (!d.ok()) return ReportError(d.status());
  json::object& o = *d;
  if (F().output == "json") {
    std::cout << json::serialize(o) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"Workflow ID", Str(o["workflow_id"])},
      {"Run ID", Str(o["run_id"])},
      {"Type", Str(o["type"])},
      {"Status", Str(o["status"])},
      {"Task queue", Str(o["task_queue"])},
      {"Started", Str(o["start_time"])},
      {"Closed", Str(o["close_time"])},
      {"History length", Str(o["history_length"])},
  };
  if (o.contains("parent")) rows.push_back({"Parent", Str(o["parent"].at("workflow_id"))});
  if (!o["result"].is_null()) rows.push_back({"Result", json::serialize(o["result"])});
  if (!o["failure"].is_null()) rows.push_back({"Failure", json::serialize(o["failure"])});
  if (!o["workflow_task_failure"].is_null()) {
    rows.push_back({"Workflow task failure", json::serialize(o["workflow_task_failure"])});
  }
  PrintTable(rows);
  const json::array& pending = o["pending_activities"].as_array();
  if (!pending.empty()) {
    std::cout << "\nPending activities:\n";
    std::vector<std::vector<std::string>> prow = {
        {"ID", "TYPE", "STATE", "ATTEMPT", "LAST FAILURE"}};
    for (const auto& p : pending) {
      const auto& po = p.as_object();
      std::string lf = po.at("last_failure").is_null()
                           ? "-"
                           : Str(po.at("last_failure").at("type")) + ": " +
                                 Str(po.at("last_failure").at("message"));
      prow.push_back({Str(po.at("activity_id")), Str(po.at("activity_type")), Str(po.at("state")),
                      Str(po.at("attempt")), lf});
    }
    PrintTable(prow);
  }
  return kExitOk;
}

// --type, --id-prefix, --start-after and --start-before: what list and count share.
Result<persistence::ListFilter> FilterFromFlags() {
  persistence::ListFilter q;
  q.workflow_type = F().type;
  q.workflow_id_prefix = F().id_prefix;
  KEEL_ASSIGN_OR_RETURN(q.start_after, ParseTimeFlag(F().start_after, "--start-after"));
  KEEL_ASSIGN_OR_RETURN(q.start_before, ParseTimeFlag(F().start_before, "--start-before"));
  return q;
}

int Count(const Registry& registry) {
  auto q = FilterFromFlags();
  if (!q.ok()) return ReportError(q.status());
  OPEN_BACKEND(b, registry);
  auto counts = b.Count(*q);
  if (!counts.ok()) return ReportError(counts.status());
  if (F().output == "json") {
    std::cout << json::serialize(*counts) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"STATUS", "WORKFLOWS"}};
  for (const auto& [status, n] : (*counts)["by_status"].as_object()) {
    rows.push_back({std::string(status), std::to_string(n.as_int64())});
  }
  rows.push_back({"total", std::to_string((*counts)["total"].as_int64())});
  PrintTable(rows);
  return kExitOk;
}

int List(const Registry& registry) {
  auto filter = FilterFromFlags();
  if (!filter.ok()) return ReportError(filter.status());
  persistence::ListFilter q = *filter;
  q.cursor = F().cursor;
  q.limit = F().limit;
  if (!F().status.empty()) {
    auto status = ParseStatusFilter(F().status);
    if (!status.ok()) return ReportError(Status::InvalidArgument("--" + status.status().message()));
    q.status = *status;
  }
  OPEN_BACKEND(b, registry);
  auto page = b.List(q);
  if (!page.ok()) return ReportError(page.status());
  if (F().output == "json") {
    std::cout << json::serialize(*page) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"WORKFLOW ID", "TYPE", "STATUS", "STARTED", "CLOSED", "RUN ID"}};
  for (const auto& r : (*page)["workflows"].as_array()) {
    rows.push_back({Str(r.at("workflow_id")), Str(r.at("type")), Str(r.at("status")),
                    Str(r.at("start_time")), Str(r.at("close_time")), Str(r.at("run_id"))});
  }
  PrintTable(rows);
  if (!(*page)["next_cursor"].is_null()) {
    std::cout << "\nmore: --cursor " << Str((*page)["next_cursor"]) << "\n";
  }
  return kExitOk;
}

int History(const Registry& registry) {
  OPEN_BACKEND(b, registry);
  auto h = b.History(F().id, F().run);
  if (!h.ok()) return ReportError(h.status());
  if (F().output == "json") {
    std::cout << HistoryToJson(*h) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "TIME", "TYPE", "DETAILS"}};
  for (const auto& e : h->events())
    rows.push_back({std::to_string(e.event_id()), FormatUtc(e.event_time_ms()), EventTypeName(e),
                    EventDetails(e)});
  PrintTable(rows);
  return kExitOk;
}

// One replay's outcome, as `replay` reports it.
struct ReplayLine {
  std::string workflow_id, run_id;
  int64_t events = 0;
  Status status;
};

ReplayLine ReplayOne(const Registry& registry, const proto::History& h) {
  ReplayLine line{h.workflow_id(), h.run_id(), h.events_size(), Status::Ok()};
  auto r = ReplayHistory(registry, h);
  if (!r.ok()) line.status = r.status();
  return line;
}

// The safe-deploy check: replays stored histories against this binary's workflow code.
int Replay(const Registry& registry) {
  int sources = !F().file.empty() + !F().id.empty() + !F().type.empty();
  if (sources != 1) {
    return ReportError(Status::InvalidArgument(
        "give exactly one of: a workflow id, --type (every open run of it), or --file"));
  }
  std::vector<ReplayLine> lines;
  if (!F().file.empty()) {
    std::ifstream in(F().file);
    if (!in) return ReportError(Status::NotFound("cannot read " + F().file, "file_not_found"));
    std::stringstream ss;
    ss << in.rdbuf();
    auto h = ParseHistoryJson(ss.str());
    if (!h.ok()) return ReportError(h.status());
    lines.push_back(ReplayOne(registry, *h));
  } else {
    OPEN_BACKEND(b, registry);
    std::vector<std::pair<std::string, std::string>> runs;  // workflow id, run id
    if (!F().id.empty()) {
      runs.emplace_back(F().id, F().run);
    } else {
      persistence::ListFilter q;
      q.workflow_type = F().type;
      q.status = ExecutionStatus::kRunning;
      q.limit = 500;
      do {
        auto page = b.List(q);
        if (!page.ok()) return ReportError(page.status());
        for (const auto& r : (*page)["workflows"].as_array()) {
          runs.emplace_back(Str(r.at("workflow_id")), Str(r.at("run_id")));
        }
        q.cursor = (*page)["next_cursor"].is_null() ? "" : Str((*page)["next_cursor"]);
      } while (!q.cursor.empty());
    }
    for (const auto& [id, run] : runs) {
      auto h = b.History(id, run);
      if (!h.ok()) return ReportError(h.status());
      lines.push_back(ReplayOne(registry, *h));
    }
  }
  int bad = 0;
  for (const auto& l : lines) bad += !l.status.ok();
  if (F().output == "json") {
    json::array out;
    for (const auto& l : lines) {
      json::object o{{"workflow_id", l.workflow_id},
                     {"run_id", l.run_id},
                     {"events", l.events},
                     {"ok", l.status.ok()}};
      if (!l.status.ok()) {
        o["reason"] = l.status.reason();
        o["message"] = l.status.message();
      }
      out.push_back(o);
    }
    std::cout << json::serialize(
                     json::object{{"replayed", lines.size()}, {"failed", bad}, {"runs", out}})
              << "\n";
  } else {
    std::vector<std::vector<std::string>> rows = {{"WORKFLOW ID", "RUN ID", "EVENTS", "RESULT"}};
    for (const auto& l : lines) {
      rows.push_back({l.workflow_id, l.run_id, std::to_string(l.events),
                      l.status.ok() ? "ok" : l.status.reason() + ": " + l.status.message()});
    }
    PrintTable(rows);
    std::cout << "\n" << lines.size() << " replayed, " << bad << " failed\n";
  }
  return bad == 0 ? kExitOk : kExitFailure;
}

// Answers a query from the run's replayed history (here, or in the server).
int Query(const Registry& registry) {
  auto args = JsonFlag(F().input, "--input");
  if (!args.ok()) return ReportError(args.status());
  OPEN_BACKEND(b, registry);
  auto v = b.Query(F().id, F().run, F().name, *args);
  if (!v.ok()) return ReportError(v.status());
  std::cout << json::serialize(*v) << "\n";
  return kExitOk;
}

int Signal(const Registry& registry) {
  auto input = JsonFlag(F().input, "--input");
  if (!input.ok()) return ReportError(input.status());
  OPEN_BACKEND(b, registry);
  Status s = b.Signal(F().id, F().name, *input, "");
  if (!s.ok()) return ReportError(s);
  std::cout << "signal '" << F().name << "' sent to " << F().id << "\n";
  return kExitOk;
}

int Terminate(const Registry& registry) {
  OPEN_BACKEND(b, registry);
  Status s = b.Terminate(F().id, F().reason);
  if (!s.ok()) return ReportError(s);
  std::cout << "terminated " << F().id << "\n";
  return kExitOk;
}

int Cancel(const Registry& registry) {
  OPEN_BACKEND(b, registry);
  Status s = b.Cancel(F().id, F().reason, "");
  if (!s.ok()) return ReportError(s);
  std::cout << "cancel requested for " << F().id << "\n";
  return kExitOk;
}

int Reset(const Registry& registry) {
  OPEN_BACKEND(b, registry);
  auto run = b.Reset(ResetRequest{F().id, F().run, F().event_id, F().reason, "keel-cli"});
  if (!run.ok()) return ReportError(run.status());
  if (F().output == "json") {
    std::cout << json::serialize(json::object{{"workflow_id", F().id}, {"run_id", *run}}) << "\n";
  } else {
    std::cout << "reset " << F().id << ": new run " << *run << "\n";
  }
  return kExitOk;
}

void Common(CLI::App* c) {
  c->add_option("--db", F().db, "sqlite:DIR or postgresql://...")->envname("KEEL_DB");
  c->add_option("--address", F().address, "a running keel serve (http://HOST:PORT) instead of --db")
      ->envname("KEEL_ADDRESS");
  c->add_option("--admin-token", F().admin_token, "the server's engine API token (--address)")
      ->envname("KEEL_ADMIN_TOKEN");
  c->add_option("--output,-o", F().output, "table or json")
      ->check(CLI::IsMember({"table", "json"}))
      ->envname("KEEL_OUTPUT");
}

}  // namespace

void AddWorkflowCommands(CLI::App& app, CliState& state) {
  auto* wf = app.add_subcommand("workflow", "start and inspect workflows");
  wf->require_subcommand(1);
  auto action = [&state](int (*fn)(const Registry&)) {
    return [&state, fn] {
      state.action = [fn] {
        Status s = CheckOutput();
        if (!s.ok()) return ReportError(s);
        Registry registry;
        RegisterAll(registry, F().db, /*run_activities=*/false);
        return fn(registry);
      };
    };
  };

  auto* start = wf->add_subcommand("start", "start a workflow (idempotent per running id)");
  Common(start);
  start->add_option("--type", F().type, "workflow type")->required();
  start->add_option("--id", F().id, "workflow id")->required();
  start->add_option("--input", F().input, "input as JSON");
  start->add_option("--task-queue", F().task_queue, "workflow task queue");
  start->add_option("--reuse-policy", F().reuse,
                    "allow_duplicate | allow_duplicate_failed_only | reject_duplicate");
  start->callback(action(Start));

  auto* describe = wf->add_subcommand("describe", "show a workflow's state");
  Common(describe);
  describe->add_option("id", F().id, "workflow id")->required();
  describe->callback(action(Describe));

  auto* list = wf->add_subcommand("list", "list workflows, newest first");
  Common(list);
  list->add_option("--type", F().type, "only this workflow type");
  list->add_option("--status", F().status, "only this status");
  list->add_option("--start-after", F().start_after, "started at or after (UTC)");
  list->add_option("--start-before", F().start_before, "started before (UTC)");
  list->add_option("--limit", F().limit, "rows per page")->check(CLI::Range(1, 1000));
  list->add_option("--id-prefix", F().id_prefix, "only workflow ids that start with this");
  list->add_option("--cursor", F().cursor, "next page, from a previous list");
  list->callback(action(List));

  auto* count = wf->add_subcommand("count", "count workflows by status");
  Common(count);
  count->add_option("--type", F().type, "only this workflow type");
  count->add_option("--id-prefix", F().id_prefix, "only workflow ids that start with this");
  count->add_option("--start-after", F().start_after, "started at or after (UTC)");
  count->add_option("--start-before", F().start_before, "started before (UTC)");
  count->callback(action(Count));

  auto* history = wf->add_subcommand("history", "show a workflow's history");
  Common(history);
  history->add_option("id", F().id, "workflow id")->required();
  history->callback(action(History));

  auto* replay = wf->add_subcommand(
      "replay",
      "replay histories against this binary's code and report nondeterminism (exit 1): the "
      "safe-deploy check");
  Common(replay);
  replay->add_option("id", F().id, "one workflow (its current run, or --run)");
  replay->add_option("--run", F().run, "a specific run of the workflow id");
  replay->add_option("--type", F().type, "every open run of this workflow type");
  replay->add_option("--file", F().file, "a history file (`history --output json`)");
  replay->callback(action(Replay));

  auto* query = wf->add_subcommand("query", "ask an open workflow a query (its state, replayed)");
  Common(query);
  query->add_option("id", F().id, "workflow id")->required();
  query->add_option("--name", F().name, "query name (checkout_saga and shipment_tracking: state)")
      ->required();
  query->add_option("--input", F().input, "query arguments as JSON");
  query->callback(action(Query));

  auto* signal = wf->add_subcommand("signal", "send a signal");
  Common(signal);
  signal->add_option("id", F().id, "workflow id")->required();
  signal->add_option("--name", F().name, "signal name")->required();
  signal->add_option("--input", F().input, "payload as JSON");
  signal->callback(action(Signal));

  auto* terminate = wf->add_subcommand("terminate", "end a workflow now, without compensation");
  Common(terminate);
  terminate->add_option("id", F().id, "workflow id")->required();
  terminate->add_option("--reason", F().reason, "why");
  terminate->callback(action(Terminate));

  auto* reset = wf->add_subcommand(
      "reset",
      "start a new run that replays this one up to a workflow task and decides again from there "
      "(the old run, if running, is terminated)");
  Common(reset);
  reset->add_option("id", F().id, "workflow id")->required();
  reset
      ->add_option("--event-id", F().event_id,
                   "a workflow_task_completed event (see `history`); default: the last one")
      ->check(CLI::PositiveNumber);
  reset->add_option("--run", F().run, "the run to reset (default: the current one)");
  reset->add_option("--reason", F().reason, "why");
  reset->callback(action(Reset));

  auto* cancel = wf->add_subcommand("cancel", "ask a workflow to cancel");
  Common(cancel);
  cancel->add_option("id", F().id, "workflow id")->required();
  cancel->add_option("--reason", F().reason, "why");
  cancel->callback(action(Cancel));
}

Result<std::unique_ptr<EngineClient>> OpenEngineClient(const std::string& db,
                                                       const std::string& address,
                                                       const std::string& admin_token,
                                                       const Registry& registry) {
  if (!address.empty()) {
    KEEL_ASSIGN_OR_RETURN(auto url, http::ParseHttpUrl(address));
    if (admin_token.empty()) {
      return Status::InvalidArgument("--address needs --admin-token (or KEEL_ADMIN_TOKEN)");
    }
    return http::MakeRemoteEngineClient(std::move(url), admin_token);
  }
  KEEL_ASSIGN_OR_RETURN(auto store, OpenDb(db));
  return OpenLocalEngineClient(std::move(store), &registry, "keel-cli");
}

}  // namespace keel::cli
