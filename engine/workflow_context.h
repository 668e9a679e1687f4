#pragma once
// What workflow code may touch. Everything nondeterministic (time, randomness,
// I/O) goes through here, so replaying the history reproduces the same run.
// A context belongs to one run and is used from one thread at a time.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/json.h"
#include "engine/future.h"
#include "engine/options.h"

namespace keel {

struct WorkflowInfo {
  std::string workflow_id;
  std::string run_id;
  std::string workflow_type;
  std::string task_queue;
};

// A durable timer. `fired()` resolves true when it fires and false if cancelled first.
class Timer {
 public:
  Timer() = default;
  Timer(std::string id, Future<bool> f, std::function<void()> cancel)
      : id_(std::move(id)), fired_(std::move(f)), cancel_(std::move(cancel)) {}
  const Future<bool>& fired() const { return fired_; }
  // Cancels the timer if it has not fired; a no-op afterwards.
  void Cancel() {
    if (cancel_ && !fired_.ready()) cancel_();
  }
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  Future<bool> fired_;
  std::function<void()> cancel_;
};

// Signals of one name, in arrival order. Buffered until received.
class SignalChannel {
 public:
  virtual ~SignalChannel() = default;
  // Resolves with the next signal's payload.
  virtual Future<json::value> Receive() = 0;
  // The next buffered payload, if one has arrived.
  virtual std::optional<json::value> TryReceive() = 0;
};

class WorkflowContext {
 public:
  virtual ~WorkflowContext() = default;
  virtual const WorkflowInfo& info() const = 0;

  // Schedules an activity; the future fails with ActivityError when it finally fails.
  virtual Future<json::value> ExecuteActivity(const std::string& activity_type, json::value input,
                                              const ActivityOptions& options) = 0;
  virtual Timer NewTimer(Millis duration) = 0;
  Future<bool> Sleep(Millis duration) { return NewTimer(duration).fired(); }
  virtual SignalChannel& GetSignalChannel(const std::string& name) = 0;

  // Deterministic time: the time of the history event the current step saw last.
  virtual Millis Now() const = 0;
  // Deterministic randomness, seeded per run.
  virtual uint64_t Random() = 0;
  virtual std::string NewUuid() = 0;
  // Runs fn once and records its result; replays return the recorded value.
  virtual json::value SideEffect(const std::function<json::value()>& fn) = 0;
  // The version of `change_id` this run follows: max_supported for new runs,
  // the recorded one on replay, kDefaultVersion for runs started before the change.
  static constexpr int kDefaultVersion = -1;
  virtual int GetVersion(const std::string& change_id, int min_supported, int max_supported) = 0;
  virtual bool IsReplaying() const = 0;
  // True once a cancel of this run was requested.
  virtual bool IsCancelRequested() const = 0;
};

}  // namespace keel
