// PostgreSQL rolls a whole batch back when one transition in it fails on the server,
// and runs the others again in a new batch. A transition that reserved a dispatch slot
// on its first run must not keep that slot when it is run again: else every such
// rollback leaks one, and the pool starves (tasks wait in the store, the matcher never
// idles).

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/history_service.h"
#include "engine/matcher.h"
#include "tests/testing/backends.h"

namespace keel {
namespace {

using persistence::ExecutionRow;
using persistence::TaskKind;
using persistence::Txn;

// Commits a write the server refuses (a stale version), so the batch it lands in is
// rolled back and its other transitions are run again.
Status Poison(persistence::Store& store, const ExecutionRow& target) {
  return store.Transact([&](Txn& t) { return t.UpdateExecution(target, target.version + 1000); });
}

TEST(RollbackRerunTest, TransitionsRunAgainAfterARollbackLeakNoDispatchSlots) {
  if (!testutil::RequirePostgres()) return;
  auto pg = testutil::AllBackends()[1].make();
  ASSERT_TRUE(pg);
  auto store = pg->Open(SystemClock::Default()).value();
  Matcher matcher;
  const int kCapacity = 100'000;  // room for every task: each start reserves a slot
  Matcher::Pool* pool = matcher.AddPool(TaskKind::kWorkflow, {"q"}, 1, kCapacity, kCapacity);
  HistoryServiceOptions options;
  options.identity = "rollback-test";
  HistoryService history(store.get(), &matcher, options);

  // The poison's target lives on a queue without a pool here: it takes no slot.
  ASSERT_TRUE(history.StartWorkflow({"target", "T", "elsewhere", json::value()}).ok());
  const ExecutionRow target = store->ReadCurrentExecution("target").value().value();

  auto& rollbacks = persistence::StoreCounters::For("postgres").rollbacks;
  const int64_t rollbacks_before = rollbacks.value();
  std::atomic<bool> stop{false};
  std::thread poisoner([&] {
    while (!stop) EXPECT_FALSE(Poison(*store, target).ok());
  });
  const int kThreads = 8, kPerThread = 60;
  std::vector<std::thread> starters;
  for (int t = 0; t < kThreads; ++t) {
    starters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "wf-" + std::to_string(t) + "-" + std::to_string(i);
        EXPECT_TRUE(history.StartWorkflow({id, "T", "q", json::value()}).ok()) << id;
      }
    });
  }
  for (auto& s : starters) s.join();
  stop = true;
  poisoner.join();

  const int64_t forced = rollbacks.value() - rollbacks_before;
  EXPECT_GT(forced, 0) << "the poison must have rolled batches back";
  std::printf("rollback re-run: %lld batches rolled back\n", static_cast<long long>(forced));

  // Every start handed its task over eagerly, once; no slot is still promised.
  int64_t leased = 0;
  for (const auto& q : store->QueueStatistics().value()) {
    if (q.queue == "q") leased = q.leased;
  }
  std::lock_guard<std::mutex> l(pool->mu);
  EXPECT_EQ(pool->reserved, 0) << "slots leaked by transitions that ran again";
  EXPECT_EQ(static_cast<int64_t>(pool->ready.size()), leased);
  EXPECT_EQ(static_cast<int>(pool->ready.size()), kThreads * kPerThread);
  EXPECT_EQ(pool->FreeSlotsLocked(), kCapacity - kThreads * kPerThread);
}

}  // namespace
}  // namespace keel
