#pragma once
// Sub-command registration, one function per command group.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "activities/commerce_activities.h"
#include "common/status.h"
#include "engine/client.h"
#include "engine/registry.h"
#include "persistence/store.h"

namespace keel::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// Where a sub-command's action leaves its exit code.
struct CliState {
  std::function<int()> action;
};

// Prints a Status as an error line on stderr and returns the exit code it maps to.
int ReportError(const Status& s);
// Opens the --db store (auto-migrating) or reports why not. An unreachable
// PostgreSQL is retried with backoff for `connect_retry_ms`.
Result<std::unique_ptr<persistence::Store>> OpenDb(const std::string& url,
                                                   Millis connect_retry_ms = 3000);
// The engine a command talks to: a running keel serve's engine API when `address` is
// set (which needs `admin_token`), else the store at `db`. `registry` must outlive it.
Result<std::unique_ptr<EngineClient>> OpenEngineClient(const std::string& db,
                                                       const std::string& address,
                                                       const std::string& admin_token,
                                                       const Registry& registry);
// The registry of every workflow and activity type this binary knows. Processes that
// run activities pass `run_activities` so activities get their resources (the
// DemoSaga effect log beside a sqlite: store), and `commerce` for the shop's
// activities (it must outlive the workers).
void RegisterAll(Registry& registry, const std::string& db_url, bool run_activities,
                 const activities::CommerceDeps* commerce = nullptr);

void AddWorkflowCommands(CLI::App& app, CliState& state);
void AddTaskQueueCommands(CLI::App& app, CliState& state);
void AddWorkerCommands(CLI::App& app, CliState& state);
void AddBenchCommands(CLI::App& app, CliState& state);
void AddDbCommands(CLI::App& app, CliState& state);
void AddSimCommands(CLI::App& app, CliState& state);
void AddAuditCommand(CLI::App& app, CliState& state);
void AddChaosCommand(CLI::App& app, CliState& state);
// `keel bench checkout`, under the `bench` command.
void AddCheckoutBench(CLI::App* bench, CliState& state);
void AddFlashSaleBench(CLI::App* bench, CliState& state);
// `keel bench recovery`: how long a crashed worker's sagas wait.
void AddRecoveryBench(CLI::App* bench, CliState& state);
// `keel bench http`: the engine workload through POST /v1/workflows?wait=.
void AddHttpBench(CLI::App* bench, CliState& state);
// `keel bench open`: a worker's memory with many open workflows.
void AddOpenBench(CLI::App* bench, CliState& state);

}  // namespace keel::cli
