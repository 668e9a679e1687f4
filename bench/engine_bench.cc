// The engine's inner costs, each alone:
//   build/bench/keel_engine_bench
// - HistoryAppend/N: one transition-like transaction on the SQLite store (the run's
//   row updated, N events appended), one at a time, synchronous=OFF so the disk is
//   left out (an fdatasync on this machine is about 50 us more per commit). The work
//   runs on the store's writer thread: wall time is what a caller waits, CPU time is
//   this thread's share;
// - EncodeHistoryBatch/N, DecodeHistoryBatch/N: a batch of N events to and from its
//   stored form;
// - DispatchSameThread: a task reserved, handed over and taken (the matcher's
//   bookkeeping); DispatchToAWorker: the same with a worker thread waiting, so one
//   thread hand-off and back.

#include <benchmark/benchmark.h>

#include <atomic>
#include <thread>

#include "common/temp_dir.h"
#include "engine/matcher.h"
#include "persistence/history_codec.h"
#include "persistence/sqlite/sqlite_store.h"

namespace keel {
namespace {

using persistence::TaskKind;
using persistence::TaskRow;

std::vector<proto::HistoryEvent> Events(int64_t first, int n) {
  std::vector<proto::HistoryEvent> out;
  for (int i = 0; i < n; ++i) {
    proto::HistoryEvent e;
    e.set_event_id(first + i);
    e.set_event_time_ms(1'800'000'000'000 + i);
    auto* s = e.mutable_activity_task_scheduled();
    s->set_activity_id(std::to_string(first + i));
    s->set_activity_type("ReserveStock");
    s->mutable_input()->set_encoding("json/plain");
    s->mutable_input()->set_data(R"({"hold_id":"h-123","sku":"sku-42","quantity":2})");
    out.push_back(std::move(e));
  }
  return out;
}

void BM_HistoryAppend(benchmark::State& state) {
  auto dir = TempDir::Create("keel-bench-append").value();
  persistence::SqliteOptions o;
  o.dir = dir.path();
  o.synchronous = "OFF";
  auto store = persistence::OpenSqliteStore(o).value();
  persistence::ExecutionRow row;
  row.workflow_id = "w";
  row.run_id = "r";
  row.workflow_type = "T";
  row.task_queue = "q";
  row.next_event_id = 1;
  (void)store->Transact([&](persistence::Txn& t) { return t.InsertExecution(row); });
  const int n = static_cast<int>(state.range(0));
  int64_t next = 1, version = store->ReadExecution("r").value()->version;
  for (auto _ : state) {
    auto events = Events(next, n);
    Status s = store->Transact([&](persistence::Txn& t) -> Status {
      KEEL_RETURN_IF_ERROR(t.AppendHistory("r", events));
      row.next_event_id = next + n;
      return t.UpdateExecution(row, version);
    });
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    next += n;
    ++version;
  }
  state.counters["transitions_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HistoryAppend)->Arg(1)->Arg(3)->Arg(10)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_EncodeHistoryBatch(benchmark::State& state) {
  auto events = Events(1, static_cast<int>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(persistence::EncodeHistoryBatch(events));
}
BENCHMARK(BM_EncodeHistoryBatch)->Arg(1)->Arg(10);

void BM_DecodeHistoryBatch(benchmark::State& state) {
  const std::string blob = persistence::EncodeHistoryBatch(Events(1, state.range(0)));
  for (auto _ : state) {
    std::vector<proto::HistoryEvent> out;
    Status s = persistence::DecodeHistoryBatch(blob, 1, &out);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_DecodeHistoryBatch)->Arg(1)->Arg(10);

TaskRow ATask() {
  TaskRow t;
  t.id = 1;
  t.kind = TaskKind::kActivity;
  t.queue = "q";
  t.workflow_id = "w";
  t.run_id = "r";
  t.activity_id = "1";
  return t;
}

void BM_DispatchSameThread(benchmark::State& state) {
  Matcher m;
  Matcher::Pool* pool = m.AddPool(TaskKind::kActivity, {"q"}, 1, 4, 4);
  const TaskRow task = ATask();
  for (auto _ : state) {
    if (!m.TryReserve(TaskKind::kActivity, "q")) state.SkipWithError("no slot");
    m.Deliver(task);
    auto taken = m.Take(pool, 1000);
    benchmark::DoNotOptimize(taken);
    m.Done(pool, 0.01);
  }
}
BENCHMARK(BM_DispatchSameThread);

void BM_DispatchToAWorker(benchmark::State& state) {
  Matcher m;
  Matcher::Pool* pool = m.AddPool(TaskKind::kActivity, {"q"}, 1, 1, 1);
  std::atomic<int64_t> done{0};
  std::atomic<bool> stop{false};
  std::thread worker([&] {
    while (!stop) {
      if (auto t = m.Take(pool, 50)) {
        m.Done(pool, 0.01);
        done.fetch_add(1, std::memory_order_release);
      }
    }
  });
  const TaskRow task = ATask();
  int64_t sent = 0;
  for (auto _ : state) {
    while (!m.TryReserve(TaskKind::kActivity, "q")) std::this_thread::yield();
    m.Deliver(task);
    ++sent;
    while (done.load(std::memory_order_acquire) < sent) std::this_thread::yield();
  }
  stop = true;
  worker.join();
}
BENCHMARK(BM_DispatchToAWorker)->UseRealTime();

}  // namespace
}  // namespace keel

BENCHMARK_MAIN();
