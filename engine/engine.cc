#include "engine/engine.h"

#include "engine/lease_owners.h"

namespace keel {

Engine::Engine(persistence::Store* store, const Registry* registry, EngineOptions options)
    : store_(store), registry_(registry), options_(std::move(options)) {
  if (options_.identity.empty()) options_.identity = NewEngineIdentity();
  bool workers = options_.run_workflows || options_.run_activities;
  if (workers) matcher_ = std::make_unique<Matcher>();
  HistoryServiceOptions ho;
  ho.identity = options_.identity;
  ho.workflow_task_timeout = options_.workflow_task_timeout;
  history_ = std::make_unique<HistoryService>(store_, matcher_.get(), ho);
  if (matcher_) {
    // Other processes' new tasks wake our pollers at once where the store can tell us.
    Matcher* m = matcher_.get();
    persistence::StoreListeners l;
    l.task_ready = [m](persistence::TaskKind kind, const std::string& queue) {
      m->Notify(kind, queue);
    };
    store_->SetListeners(std::move(l));
  }
  if (options_.run_timers) {
    timers_ = std::make_unique<TimerService>(history_.get(), matcher_.get(),
                                             options_.poll_interval_ms, options_.retention_ms);
    history_->SetWakeHook([t = timers_.get()](Millis at) { t->Wake(at); });
  }
  if (workers) {
    WorkerOptions wo;
    if (options_.run_workflows) {
      wo.workflow_queues =
          options_.workflow_queues.empty() ? registry_->WorkflowQueues() : options_.workflow_queues;
    }
    if (options_.run_activities) {
      wo.activity_queues =
          options_.activity_queues.empty() ? registry_->ActivityQueues() : options_.activity_queues;
    }
    wo.workflow_threads = options_.workflow_threads;
    wo.activity_threads = options_.activity_threads;
    wo.cache_size = options_.cache_size;
    wo.poll_interval_ms = options_.poll_interval_ms;
    served_.insert(wo.workflow_queues.begin(), wo.workflow_queues.end());
    served_.insert(wo.activity_queues.begin(), wo.activity_queues.end());
    workers_ = std::make_unique<Workers>(history_.get(), matcher_.get(), registry_, wo);
  }
}

Engine::~Engine() {
  Stop();
  // The store may outlive this engine: its listeners must not call into our matcher.
  if (matcher_) store_->SetListeners({});
}

void Engine::Start() {
  if (started_) return;
  started_ = true;
  if (workers_) workers_->Start();
  if (timers_) timers_->Start();
}

void Engine::Stop() {
  if (workers_) workers_->Stop();
  if (timers_) timers_->Stop();
  // Let transitions already submitted finish before the store goes away.
  while (history_ && history_->in_flight() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool Engine::Idle() const { return history_->in_flight() == 0 && (!matcher_ || matcher_->Idle()); }

bool Engine::Serves(const std::string& queue) const { return served_.count(queue) > 0; }

std::unique_ptr<Engine> MakeClientEngine(persistence::Store* store, const Registry* registry) {
  EngineOptions o;
  o.run_workflows = false;
  o.run_activities = false;
  o.run_timers = false;
  return std::make_unique<Engine>(store, registry, o);
}

}  // namespace keel
