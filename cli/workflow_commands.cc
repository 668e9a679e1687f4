// keel workflow start|describe|list|history|replay|query|signal|terminate|cancel|reset

#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/json.h"
#include "engine/engine.h"
#include "engine/history_events.h"
#include "engine/inspect.h"
#include "engine/payload.h"
#include "engine/replayer.h"

namespace keel::cli {
namespace {

using persistence::ExecutionRow;
using persistence::ExecutionStatus;

struct Flags {
  std::string db = "sqlite:./keel-data";
  std::string output = "table";
  std::string id, type, input = "null", task_queue, reuse = "allow_duplicate";
  std::string status, cursor, name, reason, start_after, start_before, file, run;
  int limit = 50;
  int64_t event_id = 0;
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

int Start(const Registry& registry) {
  auto input = ParseJson(F().input);
  if (!input.ok()) {
    return ReportError(
        Status::InvalidArgument("--input is not valid JSON: " + input.status().message()));
  }
  const WorkflowDef* def = registry.FindWorkflow(F().type);
  if (!def) {
    std::string known;
    for (const auto& t : registry.WorkflowTypes()) known += (known.empty() ? "" : ", ") + t;
    return ReportError(Status::InvalidArgument("unknown workflow type '" + F().type +
                                               "'; registered types: " + known));
  }
  proto::WorkflowIdReusePolicy policy;
  if (F().reuse == "allow_duplicate") {
    policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE;
  } else if (F().reuse == "allow_duplicate_failed_only") {
    policy = proto::WORKFLOW_ID_REUSE_ALLOW_DUPLICATE_FAILED_ONLY;
  } else if (F().reuse == "reject_duplicate") {
    policy = proto::WORKFLOW_ID_REUSE_REJECT_DUPLICATE;
  } else {
    return ReportError(Status::InvalidArgument(
        "--reuse-policy must be allow_duplicate, allow_duplicate_failed_only or "
        "reject_duplicate"));
  }
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto engine = MakeClientEngine(store->get(), &registry);
  StartWorkflowRequest req;
  req.workflow_id = F().id;
  req.workflow_type = F().type;
  req.task_queue = F().task_queue.empty() ? def->task_queue : F().task_queue;
  req.input = std::move(input).value();
  req.reuse_policy = policy;
  req.identity = "keel-cli";
  auto r = engine->history().StartWorkflow(req);
  if (!r.ok()) return ReportError(r.status());
  if (F().output == "json") {
    std::cout << json::serialize(json::object{
                     {"workflow_id", F().id}, {"run_id", r->run_id}, {"started", r->started}})
              << "\n";
  } else {
    std::cout << r->run_id << "\n";
  }
  return kExitOk;
}

int Describe(const Registry& registry) {
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto engine = MakeClientEngine(store->get(), &registry);
  auto d = engine->history().Describe(F().id);
  if (!d.ok()) return ReportError(d.status());
  json::object o = DescriptionJson(*d);
  const json::array& pending = o["pending_activities"].as_array();
  if (F().output == "json") {
    std::cout << json::serialize(o) << "\n";
    return kExitOk;
  }
  const auto& e = d->execution;
  std::vector<std::vector<std::string>> rows = {
      {"Workflow ID", e.workflow_id},      {"Run ID", e.run_id},
      {"Type", e.workflow_type},           {"Status", persistence::ExecutionStatusName(e.status)},
      {"Task queue", e.task_queue},        {"Started", FormatUtc(e.start_time)},
      {"Closed", FormatUtc(e.close_time)}, {"History length", std::to_string(e.next_event_id - 1)},
  };
  if (!o["result"].is_null()) rows.push_back({"Result", json::serialize(o["result"])});
  if (!o["failure"].is_null()) rows.push_back({"Failure", json::serialize(o["failure"])});
  if (!o["workflow_task_failure"].is_null()) {
    rows.push_back({"Workflow task failure", json::serialize(o["workflow_task_failure"])});
  }
  PrintTable(rows);
  if (!pending.empty()) {
    std::cout << "\nPending activities:\n";
    std::vector<std::vector<std::string>> prow = {
        {"ID", "TYPE", "STATE", "ATTEMPT", "LAST FAILURE"}};
    for (const auto& p : pending) {
      const auto& po = p.as_object();
      std::string lf = po.at("last_failure").is_null()
                           ? "-"
                           : std::string(po.at("last_failure").at("type").as_string()) + ": " +
                                 std::string(po.at("last_failure").at("message").as_string());
      prow.push_back({std::string(po.at("activity_id").as_string()),
                      std::string(po.at("activity_type").as_string()),
                      std::string(po.at("state").as_string()),
                      std::to_string(po.at("attempt").as_int64()), lf});
    }
    PrintTable(prow);
  }
  return kExitOk;
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

int List(const Registry&) {
  persistence::ListFilter f;
  f.workflow_type = F().type;
  f.cursor = F().cursor;
  f.limit = F().limit;
  if (!F().status.empty()) {
    auto st = persistence::ParseExecutionStatus(F().status);
    if (!st) {
      return ReportError(Status::InvalidArgument(
          "--status must be running, completed, failed, cancelled, terminated, "
          "continued_as_new or timed_out"));
    }
    f.status = st;
  }
  auto after = ParseTimeFlag(F().start_after, "--start-after");
  if (!after.ok()) return ReportError(after.status());
  auto before = ParseTimeFlag(F().start_before, "--start-before");
  if (!before.ok()) return ReportError(before.status());
  f.start_after = *after;
  f.start_before = *before;
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto page = (*store)->ListExecutions(f);
  if (!page.ok()) return ReportError(page.status());
  if (F().output == "json") {
    json::array rows;
    for (const auto& r : page->rows) rows.push_back(ExecutionJson(r));
    std::cout << json::serialize(json::object{
                     {"workflows", rows},
                     {"next_cursor", page->next_cursor.empty() ? json::value(nullptr)
                                                               : json::value(page->next_cursor)}})
              << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"WORKFLOW ID", "TYPE", "STATUS", "STARTED", "CLOSED", "RUN ID"}};
  for (const auto& r : page->rows) {
    rows.push_back({r.workflow_id, r.workflow_type, persistence::ExecutionStatusName(r.status),
                    FormatUtc(r.start_time), FormatUtc(r.close_time), r.run_id});
  }
  PrintTable(rows);
  if (!page->next_cursor.empty()) {
    std::cout << "\nmore: --cursor " << page->next_cursor << "\n";
  }
  return kExitOk;
}

int History(const Registry&) {
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto row = (*store)->ReadCurrentExecution(F().id);
  if (!row.ok()) return ReportError(row.status());
  if (!*row) {
    return ReportError(
        Status::NotFound("workflow '" + F().id + "' not found", "workflow_not_found"));
  }
  auto events = (*store)->ReadHistory((*row)->run_id, 1);
  if (!events.ok()) return ReportError(events.status());
  if (F().output == "json") {
    proto::History h;
    h.set_workflow_id((*row)->workflow_id);
    h.set_run_id((*row)->run_id);
    for (auto& e : *events) *h.add_events() = e;
    std::cout << HistoryToJson(h) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"ID", "TIME", "TYPE", "DETAILS"}};
  for (const auto& e : *events)
    rows.push_back({std::to_string(e.event_id()), FormatUtc(e.event_time_ms()), EventTypeName(e),
                    DescribeEvent(e)});
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

Result<proto::History> ReadRunHistory(persistence::Store& store, const ExecutionRow& row) {
  KEEL_ASSIGN_OR_RETURN(auto events, store.ReadHistory(row.run_id, 1));
  proto::History h;
  h.set_workflow_id(row.workflow_id);
  h.set_run_id(row.run_id);
  for (auto& e : events) *h.add_events() = std::move(e);
  return h;
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
    auto store = OpenDb(F().db);
    if (!store.ok()) return ReportError(store.status());
    std::vector<ExecutionRow> rows;
    if (!F().id.empty()) {
      auto row = F().run.empty() ? (*store)->ReadCurrentExecution(F().id)
                                 : (*store)->ReadExecution(F().run);
      if (!row.ok()) return ReportError(row.status());
      if (!*row || (*row)->workflow_id != F().id) {
        return ReportError(
            Status::NotFound("workflow '" + F().id + "' not found", "workflow_not_found"));
      }
      rows.push_back(**row);
    } else {
      persistence::ListFilter f;
      f.workflow_type = F().type;
      f.status = ExecutionStatus::kRunning;
      f.limit = 500;
      do {
        auto page = (*store)->ListExecutions(f);
        if (!page.ok()) return ReportError(page.status());
        rows.insert(rows.end(), page->rows.begin(), page->rows.end());
        f.cursor = page->next_cursor;
      } while (!f.cursor.empty());
    }
    for (const auto& row : rows) {
      auto h = ReadRunHistory(**store, row);
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

// Answers a query from the run's replayed history, in this process.
int Query(const Registry& registry) {
  auto args = ParseJson(F().input);
  if (!args.ok()) {
    return ReportError(
        Status::InvalidArgument("--input is not valid JSON: " + args.status().message()));
  }
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto row = (*store)->ReadCurrentExecution(F().id);
  if (!row.ok()) return ReportError(row.status());
  if (!*row) {
    return ReportError(
        Status::NotFound("workflow '" + F().id + "' not found", "workflow_not_found"));
  }
  auto h = ReadRunHistory(**store, **row);
  if (!h.ok()) return ReportError(h.status());
  auto v = QueryHistory(registry, *h, F().name, *args);
  if (!v.ok()) return ReportError(v.status());
  std::cout << json::serialize(*v) << "\n";
  return kExitOk;
}

int Signal(const Registry& registry) {
  auto input = ParseJson(F().input);
  if (!input.ok()) {
    return ReportError(
        Status::InvalidArgument("--input is not valid JSON: " + input.status().message()));
  }
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto engine = MakeClientEngine(store->get(), &registry);
  Status s = engine->history().SignalWorkflow(F().id, F().name, *input, "keel-cli");
  if (!s.ok()) return ReportError(s);
  std::cout << "signal '" << F().name << "' sent to " << F().id << "\n";
  return kExitOk;
}

int Terminate(const Registry& registry) {
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto engine = MakeClientEngine(store->get(), &registry);
  Status s = engine->history().TerminateWorkflow(F().id, F().reason, "keel-cli");
  if (!s.ok()) return ReportError(s);
  std::cout << "terminated " << F().id << "\n";
  return kExitOk;
}

int Cancel(const Registry& registry) {
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto engine = MakeClientEngine(store->get(), &registry);
  Status s = engine->history().RequestCancelWorkflow(F().id, F().reason, "keel-cli");
  if (!s.ok()) return ReportError(s);
  std::cout << "cancel requested for " << F().id << "\n";
  return kExitOk;
}

int Reset(const Registry& registry) {
  auto store = OpenDb(F().db);
  if (!store.ok()) return ReportError(store.status());
  auto engine = MakeClientEngine(store->get(), &registry);
  ResetRequest req{F().id, F().run, F().event_id, F().reason, "keel-cli"};
  auto run = engine->history().ResetWorkflow(req);
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
  list->add_option("--cursor", F().cursor, "next page, from a previous list");
  list->callback(action(List));

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

}  // namespace keel::cli
