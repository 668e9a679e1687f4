#include "engine/registry.h"

namespace keel {

void Registry::RegisterWorkflow(const std::string& name, WorkflowFn fn,
                                const std::string& task_queue) {
  workflows_[name] = WorkflowDef{name, std::move(fn), task_queue};
}

void Registry::RegisterActivity(const std::string& name, ActivityFn fn,
                                const std::string& task_queue) {
  activities_[name] = ActivityDef{name, std::move(fn), task_queue};
}

const WorkflowDef* Registry::FindWorkflow(const std::string& name) const {
  auto it = workflows_.find(name);
  return it == workflows_.end() ? nullptr : &it->second;
}

const ActivityDef* Registry::FindActivity(const std::string& name) const {
  auto it = activities_.find(name);
  return it == activities_.end() ? nullptr : &it->second;
}

std::set<std::string> Registry::WorkflowQueues() const {
  std::set<std::string> q;
  for (const auto& [n, d] : workflows_) q.insert(d.task_queue);
  return q;
}

std::set<std::string> Registry::ActivityQueues() const {
  std::set<std::string> q;
  for (const auto& [n, d] : activities_) q.insert(d.task_queue);
  return q;
}

std::vector<std::string> Registry::WorkflowTypes() const {
  std::vector<std::string> v;
  for (const auto& [n, d] : workflows_) v.push_back(n);
  return v;
}

}  // namespace keel
