// The Store contract. Parameterised by backend so every backend runs the same suite.

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <future>
#include <pqxx/except>
#include <set>
#include <thread>

#include "common/temp_dir.h"
#include "persistence/open_store.h"
#include "persistence/postgres/postgres_store.h"
#include "persistence/sqlite/sqlite_store.h"
#include "tests/testing/backends.h"

namespace keel::persistence {
namespace {

class StoreTest : public ::testing::TestWithParam<testutil::Backend> {
 protected:
  void SetUp() override {
    instance_ = GetParam().make();
    if (!instance_) return;  // skipped, or failed under CI
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    instance_.reset();
  }
  void Reopen() {
    store_.reset();
    auto s = instance_->Open(&clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  ExecutionRow NewExec(const std::string& wid, const std::string& rid, Millis start = 1000) {
    ExecutionRow r;
    r.workflow_id = wid;
    r.run_id = rid;
    r.workflow_type = "T";
    r.task_queue = "q";
    r.version = 1;
    r.start_time = start;
    return r;
  }
  // A ready task of run "r" (workflow "w") on queue "q".
  TaskRow NewTask(TaskKind kind, const std::string& activity_id, Millis lease_ms) {
    TaskRow t;
    t.queue = "q";
    t.kind = kind;
    t.workflow_id = "w";
    t.run_id = "r";
    t.activity_id = activity_id;
    t.visible_at = clock_.Now();
    t.lease_ms = lease_ms;
    return t;
  }
  static std::vector<proto::HistoryEvent> Events(int64_t from, int64_t to) {
    std::vector<proto::HistoryEvent> v;
    for (int64_t i = from; i <= to; ++i) {
      auto& e = v.emplace_back();
      e.set_event_id(i);
      e.mutable_timer_fired()->set_timer_id(std::to_string(i));
    }
    return v;
  }

  FakeClock clock_{1'000'000};
  std::unique_ptr<testutil::BackendInstance> instance_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, AppendsAndReadsHistoryFromAnyEvent) {
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) {
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(NewExec("w", "r1")));
                    KEEL_RETURN_IF_ERROR(t.AppendHistory("r1", Events(1, 3)));
                    return t.AppendHistory("r1", Events(4, 5));
                  })
                  .ok());
  EXPECT_EQ(store_->ReadHistory("r1", 1).value().size(), 5u);
  auto tail = store_->ReadHistory("r1", 3).value();
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail.front().event_id(), 3);
  // Appending an already used first event id is refused.
  Status dup = store_->Transact([&](Txn& t) { return t.AppendHistory("r1", Events(4, 4)); });
  EXPECT_FALSE(dup.ok());
}

TEST_P(StoreTest, ReadsTheFirstEventOfManyRunsAtOnce) {
  std::vector<std::string> ids;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) {
                    for (int i = 0; i < 1205; ++i) {  // more than one statement's worth
                      const std::string run = "r" + std::to_string(i);
                      ids.push_back(run);
                      KEEL_RETURN_IF_ERROR(t.InsertExecution(NewExec("w" + run, run)));
                      KEEL_RETURN_IF_ERROR(t.AppendHistory(run, Events(1, 2)));
                      KEEL_RETURN_IF_ERROR(t.AppendHistory(run, Events(3, 3)));
                    }
                    return t.InsertExecution(NewExec("w-none", "r-none"));  // no history
                  })
                  .ok());
  ids.push_back("r-none");
  ids.push_back("no-such-run");
  auto firsts = store_->ReadStartEvents(ids);
  ASSERT_TRUE(firsts.ok()) << firsts.status().ToString();
  EXPECT_EQ(firsts->size(), 1205u);
  EXPECT_EQ(firsts->at("r1204").event_id(), 1);
  EXPECT_EQ(firsts->at("r0").timer_fired().timer_id(), "1");
  EXPECT_EQ(firsts->count("r-none"), 0u);
  EXPECT_TRUE(store_->ReadStartEvents({}).value().empty());
}

TEST_P(StoreTest, OptimisticVersionCheck) {
  ASSERT_TRUE(store_->Transact([&](Txn& t) { return t.InsertExecution(NewExec("w", "r1")); }).ok());
  ExecutionRow row = *store_->ReadExecution("r1").value();
  row.next_event_id = 7;
  ASSERT_TRUE(store_->Transact([&](Txn& t) { return t.UpdateExecution(row, 1); }).ok());
  EXPECT_EQ(store_->ReadExecution("r1").value()->version, 2);
  Status stale = store_->Transact([&](Txn& t) { return t.UpdateExecution(row, 1); });
  EXPECT_EQ(stale.code(), StatusCode::kConditionFailed);
  EXPECT_EQ(stale.reason(), "version_conflict");
}

// A stale update in one transaction of a group commit fails that transaction alone;
// the others commit, and nothing of the stale one is written.
TEST_P(StoreTest, AStaleUpdateFailsOnlyItsOwnTransition) {
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) {
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(NewExec("w1", "r1")));
                    return t.InsertExecution(NewExec("w2", "r2"));
                  })
                  .ok());
  ExecutionRow r1 = *store_->ReadExecution("r1").value();
  ExecutionRow r2 = *store_->ReadExecution("r2").value();
  r1.next_event_id = 3;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) {
                    KEEL_RETURN_IF_ERROR(t.AppendHistory("r1", Events(1, 2)));
                    return t.UpdateExecution(r1, 1);
                  })
                  .ok());
  // Submitted together, so they may share one commit.
  std::promise<Status> stale, fresh;
  store_->Submit(
      [&](Txn& t) {
        KEEL_RETURN_IF_ERROR(t.AppendHistory("r1", Events(3, 3)));
        return t.UpdateExecution(r1, 1);  // r1 is at version 2 now
      },
      [&](const Status& s) { stale.set_value(s); });
  store_->Submit(
      [&](Txn& t) {
        r2.next_event_id = 2;
        KEEL_RETURN_IF_ERROR(t.AppendHistory("r2", Events(1, 1)));
        return t.UpdateExecution(r2, 1);
      },
      [&](const Status& s) { fresh.set_value(s); });
  Status s = stale.get_future().get();
  EXPECT_EQ(s.code(), StatusCode::kConditionFailed) << s.ToString();
  EXPECT_EQ(s.reason(), "version_conflict");
  EXPECT_TRUE(fresh.get_future().get().ok());
  EXPECT_EQ(store_->ReadHistory("r1", 1).value().size(), 2u);
  EXPECT_EQ(store_->ReadHistory("r2", 1).value().size(), 1u);
  EXPECT_EQ(store_->ReadExecution("r2").value()->version, 2);
}

// Two writers appending the same events to one run: the second is a version conflict,
// whichever check catches it.
TEST_P(StoreTest, AppendingEventsTwiceIsAConflict) {
  ASSERT_TRUE(store_->Transact([&](Txn& t) { return t.InsertExecution(NewExec("w", "r")); }).ok());
  ASSERT_TRUE(store_->Transact([&](Txn& t) { return t.AppendHistory("r", Events(1, 2)); }).ok());
  Status again = store_->Transact([&](Txn& t) { return t.AppendHistory("r", Events(1, 2)); });
  EXPECT_EQ(again.code(), StatusCode::kConditionFailed) << again.ToString();
  EXPECT_EQ(again.reason(), "version_conflict");
  EXPECT_EQ(store_->ReadHistory("r", 1).value().size(), 2u);
}

// An append that repeats events, in a group commit: that transition alone conflicts.
TEST_P(StoreTest, ARepeatedAppendFailsOnlyItsOwnTransition) {
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) {
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(NewExec("w1", "r1")));
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(NewExec("w2", "r2")));
                    return t.AppendHistory("r1", Events(1, 2));
                  })
                  .ok());
  std::promise<Status> repeated, fresh;
  store_->Submit([&](Txn& t) { return t.AppendHistory("r2", Events(1, 1)); },
                 [&](const Status& s) { fresh.set_value(s); });
  store_->Submit([&](Txn& t) { return t.AppendHistory("r1", Events(1, 3)); },
                 [&](const Status& s) { repeated.set_value(s); });
  Status s = repeated.get_future().get();
  EXPECT_EQ(s.code(), StatusCode::kConditionFailed) << s.ToString();
  EXPECT_EQ(s.reason(), "version_conflict");
  EXPECT_TRUE(fresh.get_future().get().ok());
  EXPECT_EQ(store_->ReadHistory("r1", 1).value().size(), 2u);
  EXPECT_EQ(store_->ReadHistory("r2", 1).value().size(), 1u);
}

// Reads inside a transaction see its own writes, however the backend defers them.
TEST_P(StoreTest, ATransactionReadsItsOwnWrites) {
  TaskRow t = NewTask(TaskKind::kActivity, "a1", 1000);
  int64_t id = 0;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    KEEL_RETURN_IF_ERROR(tx.InsertExecution(NewExec("w", "r")));
                    KEEL_ASSIGN_OR_RETURN(id, tx.InsertTask(t));
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) -> Status {
                    KEEL_ASSIGN_OR_RETURN(auto cur, tx.GetTask(id));
                    if (!cur) return Status::Internal("task missing");
                    cur->attempt = 4;
                    KEEL_RETURN_IF_ERROR(tx.UpdateTask(*cur));
                    KEEL_ASSIGN_OR_RETURN(auto again, tx.GetTask(id));
                    if (!again || again->attempt != 4) return Status::Internal("update unseen");
                    KEEL_ASSIGN_OR_RETURN(auto found, tx.FindActivityTask("r", "a1"));
                    if (!found || found->attempt != 4) return Status::Internal("find unseen");
                    ExecutionRow e = *tx.GetExecution("r").value();
                    e.next_event_id = 9;
                    KEEL_RETURN_IF_ERROR(tx.UpdateExecution(e, e.version));
                    KEEL_ASSIGN_OR_RETURN(auto e2, tx.GetExecution("r"));
                    if (!e2 || e2->next_event_id != 9 || e2->version != 2) {
                      return Status::Internal("execution update unseen");
                    }
                    KEEL_RETURN_IF_ERROR(tx.DeleteTasksOfRun("r"));
                    KEEL_ASSIGN_OR_RETURN(auto gone, tx.GetTask(id));
                    if (gone) return Status::Internal("deleted task still read");
                    KEEL_ASSIGN_OR_RETURN(auto gone2, tx.FindActivityTask("r", "a1"));
                    if (gone2) return Status::Internal("deleted task still found");
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_TRUE(store_->ListTasksOfRun("r").value().empty());
}

// A read hint changes nothing a TxnFn sees: a hinted task written by an earlier
// transition of the same group commit is read as written, and a deleted one is gone.
// One writer (PostgreSQL: writers=1), kept busy while the two are queued, so that they
// share a batch.
TEST_P(StoreTest, ReadHintsSeeEarlierWritesOfTheBatch) {
  std::string url = instance_->url();
  if (url.rfind("postgres", 0) == 0) url += "&writers=1";
  OpenOptions o;
  o.clock = &clock_;
  store_.reset();
  auto opened = OpenStore(url, o);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(opened).value();
  TaskRow t = NewTask(TaskKind::kWorkflow, "", 1000);
  int64_t id = 0;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    KEEL_ASSIGN_OR_RETURN(id, tx.InsertTask(t));
                    return Status::Ok();
                  })
                  .ok());
  std::promise<void> busy;
  store_->Submit(
      [&](Txn&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        return Status::Ok();
      },
      [&](const Status&) { busy.set_value(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the writer is in it
  std::promise<Status> first, second, third;
  store_->Submit(
      [&](Txn& tx) -> Status {
        KEEL_ASSIGN_OR_RETURN(auto cur, tx.GetTask(id));
        if (!cur) return Status::Internal("task missing");
        cur->attempt = 7;
        return tx.UpdateTask(*cur);
      },
      [&](const Status& s) { first.set_value(s); }, ReadHint{id});
  store_->Submit(
      [&](Txn& tx) -> Status {
        KEEL_ASSIGN_OR_RETURN(auto cur, tx.GetTask(id));
        if (!cur || cur->attempt != 7) return Status::Internal("stale read of an update");
        return tx.DeleteTask(id);
      },
      [&](const Status& s) { second.set_value(s); }, ReadHint{id});
  store_->Submit(
      [&](Txn& tx) -> Status {
        KEEL_ASSIGN_OR_RETURN(auto cur, tx.GetTask(id));
        return cur ? Status::Internal("deleted task read") : Status::Ok();
      },
      [&](const Status& s) { third.set_value(s); }, ReadHint{id});
  busy.get_future().get();
  EXPECT_TRUE(first.get_future().get().ok());
  Status s2 = second.get_future().get();
  EXPECT_TRUE(s2.ok()) << s2.ToString();
  Status s3 = third.get_future().get();
  EXPECT_TRUE(s3.ok()) << s3.ToString();
}

TEST_P(StoreTest, ChildRunsKeepTheirParentAndAreFoundWhileOpen) {
  ExecutionRow parent = NewExec("p", "rp");
  ExecutionRow a = NewExec("a", "ra"), b = NewExec("b", "rb");
  a.parent_run_id = b.parent_run_id = "rp";
  a.parent = std::string("\x0a\x01p\x00\xff", 5);  // bytes, not text
  b.parent = "x";
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) -> Status {
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(parent));
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(a));
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(b));
                    // Children inserted in this transaction are seen by it.
                    KEEL_ASSIGN_OR_RETURN(auto open, t.ListOpenChildren("rp"));
                    EXPECT_EQ(open.size(), 2u);
                    return Status::Ok();
                  })
                  .ok());
  ExecutionRow read = *store_->ReadExecution("ra").value();
  EXPECT_EQ(read.parent_run_id, "rp");
  EXPECT_EQ(read.parent, a.parent);
  // Closing one (and counting the parent's children) is seen at once in the transaction.
  read.status = ExecutionStatus::kCompleted;
  ExecutionRow p = *store_->ReadExecution("rp").value();
  p.children = 2;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) -> Status {
                    KEEL_RETURN_IF_ERROR(t.UpdateExecution(read, 1));
                    KEEL_RETURN_IF_ERROR(t.UpdateExecution(p, 1));
                    KEEL_ASSIGN_OR_RETURN(auto open, t.ListOpenChildren("rp"));
                    EXPECT_EQ(open.size(), 1u);
                    if (!open.empty()) EXPECT_EQ(open[0].run_id, "rb");
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(store_->ReadExecution("rp").value()->children, 2);
  EXPECT_EQ(store_->ReadExecution("ra").value()->parent, a.parent);  // never rewritten
}

TEST_P(StoreTest, DeleteClosedRunsTakesOnlyOldClosedOnes) {
  ExecutionRow old_done = NewExec("a", "ra"), new_done = NewExec("b", "rb"),
               running = NewExec("c", "rc");
  old_done.status = ExecutionStatus::kCompleted;
  old_done.close_time = 1000;
  new_done.status = ExecutionStatus::kFailed;
  new_done.close_time = 5000;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) -> Status {
                    for (auto* e : {&old_done, &new_done, &running}) {
                      KEEL_RETURN_IF_ERROR(t.InsertExecution(*e));
                      KEEL_RETURN_IF_ERROR(t.AppendHistory(e->run_id, Events(1, 3)));
                    }
                    return t.InsertRequestId("ra", "req-1").status();
                  })
                  .ok());
  int64_t n = -1;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) -> Status {
                    KEEL_ASSIGN_OR_RETURN(n, t.DeleteClosedRuns(/*closed_before=*/2000, 10));
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(n, 1);
  EXPECT_FALSE(store_->ReadExecution("ra").value().has_value());
  EXPECT_FALSE(store_->ReadCurrentExecution("a").value().has_value());
  EXPECT_TRUE(store_->ReadHistory("ra", 1).value().empty());
  EXPECT_TRUE(store_->ReadExecution("rb").value().has_value());
  EXPECT_EQ(store_->ReadHistory("rc", 1).value().size(), 3u);
  // A request id of a deleted run is forgotten with it.
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) -> Status {
                    KEEL_ASSIGN_OR_RETURN(bool first, t.InsertRequestId("ra", "req-1"));
                    EXPECT_TRUE(first);
                    return Status::Ok();
                  })
                  .ok());
}

TEST_P(StoreTest, AFailedTransitionRollsBackOnlyItself) {
  std::promise<Status> a, b;
  store_->Submit(
      [&](Txn& t) {
        KEEL_RETURN_IF_ERROR(t.InsertExecution(NewExec("wa", "ra")));
        return Status::Internal("boom");
      },
      [&](const Status& s) { a.set_value(s); });
  store_->Submit([&](Txn& t) { return t.InsertExecution(NewExec("wb", "rb")); },
                 [&](const Status& s) { b.set_value(s); });
  EXPECT_FALSE(a.get_future().get().ok());
  EXPECT_TRUE(b.get_future().get().ok());
  EXPECT_FALSE(store_->ReadExecution("ra").value().has_value());
  EXPECT_TRUE(store_->ReadExecution("rb").value().has_value());
}

TEST_P(StoreTest, LeasesAreExclusiveAndExpireIntoDeadlines) {
  TaskRow t = NewTask(TaskKind::kActivity, "1", 5000);
  int64_t id = 0;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    KEEL_ASSIGN_OR_RETURN(id, tx.InsertTask(t));
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_TRUE(store_->HasReadyTasks("q", TaskKind::kActivity).value());
  std::vector<TaskRow> first, second;
  ASSERT_TRUE(
      store_
          ->Transact([&](Txn& tx) {
            KEEL_ASSIGN_OR_RETURN(first, tx.LeaseTasks("q", TaskKind::kActivity, "A", 0, 10));
            KEEL_ASSIGN_OR_RETURN(second, tx.LeaseTasks("q", TaskKind::kActivity, "B", 0, 10));
            return Status::Ok();
          })
          .ok());
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(second.empty());
  EXPECT_EQ(first[0].lease_owner, "A");
  EXPECT_EQ(first[0].lease_token, 1);
  EXPECT_EQ(first[0].lease_expires, clock_.Now() + 5000);
  EXPECT_TRUE(store_->DueTaskDeadlines(clock_.Now() + 4999, 10).value().empty());
  auto due = store_->DueTaskDeadlines(clock_.Now() + 5000, 10).value();
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, id);
  EXPECT_EQ(store_->NextWakeTime().value(), std::optional<Millis>(clock_.Now() + 5000));
}

// A poll (PollTasks) is a step of its own; it must lease exactly as Txn::LeaseTasks
// does: the deadline is ComputeTaskDeadline of the leased task, the earlier of the
// lease's end and the close deadline.
TEST_P(StoreTest, APollLeasesReadyTasksOnceOldestFirst) {
  EXPECT_TRUE(store_->PollTasks("q", TaskKind::kActivity, "A", 10).value().empty());
  TaskRow late = NewTask(TaskKind::kActivity, "late", 5000);
  TaskRow early = NewTask(TaskKind::kActivity, "early", 5000);
  early.visible_at -= 10;
  early.close_deadline = clock_.Now() + 2000;  // before the lease would end
  TaskRow other = NewTask(TaskKind::kWorkflow, "", 5000);
  TaskRow txn_leased = NewTask(TaskKind::kActivity, "txn", 5000);
  txn_leased.queue = "q2";
  txn_leased.close_deadline = clock_.Now() + 2000;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    for (const TaskRow* t : {&late, &early, &other, &txn_leased}) {
                      KEEL_RETURN_IF_ERROR(tx.InsertTask(*t).status());
                    }
                    return Status::Ok();
                  })
                  .ok());
  clock_.Advance(7);
  auto got = store_->PollTasks("q", TaskKind::kActivity, "A", 10).value();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].activity_id, "early");
  EXPECT_EQ(got[1].activity_id, "late");
  for (const TaskRow& t : got) {
    EXPECT_EQ(t.lease_owner, "A");
    EXPECT_EQ(t.lease_token, 1);
    EXPECT_EQ(t.started_at, clock_.Now());
    EXPECT_EQ(t.lease_expires, clock_.Now() + 5000);
    EXPECT_EQ(t.deadline, ComputeTaskDeadline(t));
  }
  EXPECT_EQ(got[0].deadline, early.close_deadline);
  EXPECT_EQ(got[1].deadline, clock_.Now() + 5000);
  // What the poll returned is what the store holds.
  auto held = store_->ListTasksOfRun("r").value();
  for (const TaskRow& t : got) {
    auto it =
        std::find_if(held.begin(), held.end(), [&](const TaskRow& h) { return h.id == t.id; });
    ASSERT_NE(it, held.end());
    EXPECT_EQ(it->lease_owner, "A");
    EXPECT_EQ(it->lease_token, t.lease_token);
    EXPECT_EQ(it->deadline, t.deadline);
  }
  // Leased once: the next poll finds nothing of that kind; the workflow task waits.
  EXPECT_TRUE(store_->PollTasks("q", TaskKind::kActivity, "B", 10).value().empty());
  EXPECT_EQ(store_->PollTasks("q", TaskKind::kWorkflow, "B", 10).value().size(), 1u);
  // The same lease inside a transaction sets the same fields.
  std::vector<TaskRow> in_txn;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    KEEL_ASSIGN_OR_RETURN(in_txn,
                                          tx.LeaseTasks("q2", TaskKind::kActivity, "C", 0, 10));
                    return Status::Ok();
                  })
                  .ok());
  ASSERT_EQ(in_txn.size(), 1u);
  EXPECT_EQ(in_txn[0].lease_expires, clock_.Now() + 5000);
  EXPECT_EQ(in_txn[0].deadline, txn_leased.close_deadline);
  EXPECT_EQ(in_txn[0].deadline, ComputeTaskDeadline(in_txn[0]));
}

// Pollers of many processes race for the same tasks: each task goes to one of them.
TEST_P(StoreTest, RacingPollsLeaseEachTaskOnce) {
  constexpr int kTasks = 60;
  ASSERT_TRUE(
      store_
          ->Transact([&](Txn& tx) {
            for (int i = 0; i < kTasks; ++i) {
              KEEL_RETURN_IF_ERROR(
                  tx.InsertTask(NewTask(TaskKind::kActivity, std::to_string(i), 5000)).status());
            }
            return Status::Ok();
          })
          .ok());
  std::vector<std::vector<TaskRow>> got(4);
  std::vector<std::thread> pollers;
  for (int p = 0; p < 4; ++p) {
    pollers.emplace_back([&, p] {
      for (;;) {
        auto r = store_->PollTasks("q", TaskKind::kActivity, "P" + std::to_string(p), 7);
        if (!r.ok() || r->empty()) return;
        got[p].insert(got[p].end(), r->begin(), r->end());
      }
    });
  }
  for (auto& t : pollers) t.join();
  std::set<int64_t> ids;
  size_t total = 0;
  for (const auto& g : got) {
    total += g.size();
    for (const auto& t : g) ids.insert(t.id);
  }
  EXPECT_EQ(total, static_cast<size_t>(kTasks));
  EXPECT_EQ(ids.size(), static_cast<size_t>(kTasks));
}

TEST_P(StoreTest, DelayedTasksAreNotHandedOutEarly) {
  TaskRow t;
  t.queue = "q";
  t.kind = TaskKind::kWorkflow;
  t.run_id = "r";
  t.visible_at = clock_.Now() + 1000;
  t.lease_ms = 1000;
  ASSERT_TRUE(store_->Transact([&](Txn& tx) { return tx.InsertTask(t).status(); }).ok());
  EXPECT_FALSE(store_->HasReadyTasks("q", TaskKind::kWorkflow).value());
  EXPECT_EQ(store_->NextWakeTime().value(), std::optional<Millis>(clock_.Now() + 1000));
  clock_.Advance(1000);
  EXPECT_TRUE(store_->HasReadyTasks("q", TaskKind::kWorkflow).value());
}

TEST_P(StoreTest, PollersAreRecordedRefreshedAndForgotten) {
  ASSERT_TRUE(store_->RecordPoller("q", TaskKind::kWorkflow, "host-1-a").ok());
  ASSERT_TRUE(store_->RecordPoller("q", TaskKind::kActivity, "host-1-a").ok());
  clock_.Advance(1000);
  ASSERT_TRUE(store_->RecordPoller("q", TaskKind::kWorkflow, "host-2-b").ok());
  auto all = store_->ListPollers(0).value();  // by queue, kind, identity
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].identity, "host-1-a");
  EXPECT_EQ(all[0].last_poll_at, clock_.Now() - 1000);
  EXPECT_EQ(all[1].identity, "host-2-b");
  EXPECT_EQ(all[1].last_poll_at, clock_.Now());
  EXPECT_EQ(all[2].kind, TaskKind::kActivity);
  // `since` leaves out the ones not heard from; a new poll refreshes a row in place.
  EXPECT_EQ(store_->ListPollers(clock_.Now()).value().size(), 1u);
  clock_.Advance(1000);
  ASSERT_TRUE(store_->RecordPoller("q", TaskKind::kActivity, "host-1-a").ok());
  EXPECT_EQ(store_->ListPollers(clock_.Now()).value().size(), 1u);
  EXPECT_EQ(store_->ListPollers(clock_.Now() - 1000).value().size(), 2u);
  EXPECT_EQ(store_->ListPollers(0).value().size(), 3u);
  // Rows silent for kPollerForgetMs go with the next write.
  clock_.Advance(Store::kPollerForgetMs);
  ASSERT_TRUE(store_->RecordPoller("other", TaskKind::kWorkflow, "host-3-c").ok());
  auto left = store_->ListPollers(0).value();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].queue, "other");
  EXPECT_EQ(left[1].identity, "host-1-a");
  EXPECT_EQ(left[1].kind, TaskKind::kActivity);
}

TEST_P(StoreTest, ATimerIsDeletedOnce) {
  int64_t id = 0;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    KEEL_ASSIGN_OR_RETURN(id, tx.InsertTimer({0, "w", "r", "1", 5000}));
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(store_->DueTimers(4999, 10).value().size(), 0u);
  EXPECT_EQ(store_->DueTimers(5000, 10).value().size(), 1u);
  bool first = false, second = true;
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    KEEL_ASSIGN_OR_RETURN(first, tx.DeleteTimer(id));
                    KEEL_ASSIGN_OR_RETURN(second, tx.DeleteTimer(id));
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
}

TEST_P(StoreTest, ListsNewestFirstWithFiltersAndCursor) {
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& tx) {
                    for (int i = 0; i < 5; ++i) {
                      auto e = NewExec("w" + std::to_string(i), "r" + std::to_string(i), 1000 + i);
                      if (i % 2) e.status = ExecutionStatus::kCompleted;
                      KEEL_RETURN_IF_ERROR(tx.InsertExecution(e));
                    }
                    return Status::Ok();
                  })
                  .ok());
  ListFilter f;
  f.limit = 2;
  auto p1 = store_->ListExecutions(f).value();
  ASSERT_EQ(p1.rows.size(), 2u);
  EXPECT_EQ(p1.rows[0].workflow_id, "w4");
  ASSERT_FALSE(p1.next_cursor.empty());
  f.cursor = p1.next_cursor;
  auto p2 = store_->ListExecutions(f).value();
  EXPECT_EQ(p2.rows[0].workflow_id, "w2");
  f.cursor.clear();
  f.limit = 10;
  f.status = ExecutionStatus::kCompleted;
  EXPECT_EQ(store_->ListExecutions(f).value().rows.size(), 2u);
  f.cursor = "garbage";
  EXPECT_EQ(store_->ListExecutions(f).status().reason(), "bad_cursor");
}

TEST_P(StoreTest, CommittedStateSurvivesReopen) {
  ASSERT_TRUE(store_
                  ->Transact([&](Txn& t) {
                    KEEL_RETURN_IF_ERROR(t.InsertExecution(NewExec("w", "r1")));
                    return t.AppendHistory("r1", Events(1, 2));
                  })
                  .ok());
  Reopen();
  EXPECT_EQ(store_->ReadCurrentExecution("w").value()->run_id, "r1");
  EXPECT_EQ(store_->ReadHistory("r1", 1).value().size(), 2u);
  EXPECT_EQ(store_->SchemaVersion().value(), SqliteSchemaVersionLatest());
}

// A deadlock or serialization failure is a conflict to retry, whatever exception type
// carries it (errors read back from a pipeline can lose their SQLSTATE).
TEST(PgStatusTest, DeadlocksAndSerializationFailuresAreRetriedConflicts) {
  Status deadlock =
      PgStatus(std::runtime_error("ERROR:  deadlock detected\nDETAIL: ..."), "writing");
  EXPECT_EQ(deadlock.reason(), "db_conflict");
  EXPECT_TRUE(deadlock.transient());
  Status serial = PgStatus(pqxx::sql_error("ERROR:  could not serialize access"), "writing");
  EXPECT_EQ(serial.reason(), "db_conflict");
  Status dup = PgStatus(
      std::runtime_error("ERROR:  duplicate key value violates unique constraint \"history_pkey\""),
      "writing");
  EXPECT_EQ(dup.reason(), "constraint");
  Status other = PgStatus(std::runtime_error("ERROR:  something else"), "writing");
  EXPECT_EQ(other.reason(), "db_error");
  EXPECT_FALSE(other.transient());
}

// One checkpoint per kCheckpointPages (1,000) pages the WAL grows, however the commits
// come: asking again after every commit while the WAL waited to restart cost a
// checkpoint, two fsyncs, every few commits of a lone client.
TEST(SqliteCheckpointTest, OneCheckpointPerThousandPagesOfLog) {
  auto dir = TempDir::Create("keel-ckpt");
  ASSERT_TRUE(dir.ok());
  SqliteOptions o;
  o.dir = dir->path();
  auto store = OpenSqliteStore(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto& checkpoints = StoreCounters::For("sqlite").checkpoints;
  const int64_t before = checkpoints.value();
  const std::string page(3000, 'x');  // each commit adds a page or two to the WAL
  const int commits = 1500;
  for (int i = 0; i < commits; ++i) {
    const std::string run = "r" + std::to_string(i);
    ASSERT_TRUE((*store)
                    ->Transact([&](Txn& t) {
                      ExecutionRow r;
                      r.workflow_id = "w" + std::to_string(i);
                      r.run_id = run;
                      r.workflow_type = "T";
                      r.task_queue = "q";
                      r.version = 1;
                      KEEL_RETURN_IF_ERROR(t.InsertExecution(r));
                      std::vector<proto::HistoryEvent> ev(1);
                      ev[0].set_event_id(1);
                      ev[0].mutable_timer_fired()->set_timer_id(page);
                      return t.AppendHistory(run, ev);
                    })
                    .ok());
  }
  for (int i = 0; i < 200 && checkpoints.value() == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int64_t ran = checkpoints.value() - before;
  EXPECT_GE(ran, 1);
  // A commit here adds well under 20 pages, so a checkpoint per 1,000 pages is far
  // fewer than one per 50 commits (asking after every commit ran about 1,300).
  EXPECT_LE(ran, commits / 50) << "checkpoints for " << commits << " commits";
}

TEST(SchemaTest, BackendsAgreeOnTheSchemaVersion) {
  EXPECT_EQ(SqliteSchemaVersionLatest(), PostgresSchemaVersionLatest());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::ValuesIn(testutil::AllBackends()),
                         [](const ::testing::TestParamInfo<testutil::Backend>& i) {
                           return i.param.name;
                         });

}  // namespace
}  // namespace keel::persistence
