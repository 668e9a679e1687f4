#pragma once
// Workflow and activity types by name. Filled before workers start; read-only after.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/json.h"
#include "engine/activity_context.h"
#include "engine/workflow.h"
#include "engine/workflow_context.h"

namespace keel {

inline constexpr const char* kDefaultWorkflowQueue = "workflows";

using WorkflowFn = std::function<Workflow<json::value>(WorkflowContext&, json::value)>;
// Returns the result, or throws ApplicationError (or any exception: a retryable failure).
using ActivityFn = std::function<json::value(ActivityContext&, const json::value&)>;

struct WorkflowDef {
  std::string name;
  WorkflowFn fn;
  std::string task_queue;
};

struct ActivityDef {
  std::string name;
  ActivityFn fn;
  std::string task_queue;
};

class Registry {
 public:
  void RegisterWorkflow(const std::string& name, WorkflowFn fn,
                        const std::string& task_queue = kDefaultWorkflowQueue);
  void RegisterActivity(const std::string& name, ActivityFn fn, const std::string& task_queue);
  const WorkflowDef* FindWorkflow(const std::string& name) const;
  const ActivityDef* FindActivity(const std::string& name) const;
  std::set<std::string> WorkflowQueues() const;
  std::set<std::string> ActivityQueues() const;
  std::vector<std::string> WorkflowTypes() const;

 private:
  std::map<std::string, WorkflowDef> workflows_;
  std::map<std::string, ActivityDef> activities_;
};

}  // namespace keel
