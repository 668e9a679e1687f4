#include "persistence/postgres/postgres_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <thread>
#include <tuple>

#include "persistence/history_codec.h"
#include "persistence/migrations.h"
#include "persistence/postgres/pg_sql.h"
#include "persistence/postgres/pg_txn.h"
#include "persistence/postgres/pg_write_buffer.h"

namespace keel::persistence {
namespace {

using pg::ArrayLiteral;
using pg::BatchTxn;
using pg::Bin;
using pg::Channel;
using pg::Connect;
using pg::IdBlock;
using pg::LatestVersion;
using pg::LeaseStatement;
using pg::ReadExecRow;
using pg::ReadTaskRow;
using pg::WithSchema;

class PgStore final : public Store {
 public:
  explicit PgStore(PostgresOptions o) : opts_(std::move(o)), channel_(Channel(opts_.schema)) {}

  ~PgStore() override {
    {
      std::lock_guard<std::mutex> l(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : writers_) t.join();
    listener_stop_ = true;
    if (listener_.joinable()) listener_.join();
  }

  Status Init() {
    KEEL_RETURN_IF_ERROR(ConnectWithRetry());
    for (int i = 0; i < opts_.writers; ++i) writers_.emplace_back([this] { WriterLoop(); });
    return Status::Ok();
  }

  void Submit(TxnFn fn, DoneFn done, ReadHint hint) override {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back({std::move(fn), std::move(done), hint});
    }
    cv_.notify_one();
  }

  Result<std::optional<ExecutionRow>> ReadExecution(std::string_view run_id) override {
    return Read<std::optional<ExecutionRow>>("reading execution", [&](pqxx::nontransaction& t) {
      auto r = t.exec_prepared("get_exec", std::string(run_id));
      return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
    });
  }

  Result<std::optional<ExecutionRow>> ReadCurrentExecution(std::string_view wid) override {
    return Read<std::optional<ExecutionRow>>("reading execution", [&](pqxx::nontransaction& t) {
      auto cur = t.exec_prepared("get_current", std::string(wid));
      if (cur.empty()) return std::optional<ExecutionRow>();
      auto r = t.exec_prepared("get_exec", std::string(cur[0][0].c_str()));
      return r.empty() ? std::optional<ExecutionRow>() : ReadExecRow(r[0]);
    });
  }

  Result<std::vector<proto::HistoryEvent>> ReadHistory(std::string_view run_id,
                                                       int64_t from) override {
    std::vector<std::string> blobs;
    KEEL_RETURN_IF_ERROR(Read<bool>("reading history", [&](pqxx::nontransaction& t) {
                           for (const auto& row :
                                t.exec_prepared("read_history", std::string(run_id), from)) {
                             blobs.push_back(Bin(row[0]));
                           }
                           return true;
                         }).status());
    std::vector<proto::HistoryEvent> out;
    for (const auto& b : blobs) KEEL_RETURN_IF_ERROR(DecodeHistoryBatch(b, from, &out));
    return out;
  }

  Result<std::map<std::string, proto::HistoryEvent>> ReadStartEvents(
      const std::vector<std::string>& run_ids) override {
    std::vector<std::pair<std::string, std::string>> blobs;
    for (size_t at = 0; at < run_ids.size(); at += 1000) {
      ArrayLiteral ids;
      for (size_t i = at; i < std::min(run_ids.size(), at + 1000); ++i) ids.Text(run_ids[i]);
      const std::string array = ids.Take();  // outside the lambda: a read may be tried twice
      KEEL_RETURN_IF_ERROR(Read<bool>("reading first events", [&](pqxx::nontransaction& t) {
                             for (const auto& row : t.exec_prepared("read_starts", array)) {
                               blobs.emplace_back(row[0].c_str(), Bin(row[1]));
                             }
                             return true;
                           }).status());
    }
    return FirstEvents(blobs);
  }

  Result<ListPage> ListExecutions(const ListFilter& f) override {
    Millis cur_start = INT64_MAX;
    std::string cur_run = "\x7f";
    if (!f.cursor.empty()) {
      auto sep = f.cursor.find('_');
      if (sep == std::string::npos) return Status::InvalidArgument("bad cursor", "bad_cursor");
      try {
        cur_start = std::stoll(f.cursor.substr(0, sep));
      } catch (...) {
        return Status::InvalidArgument("bad cursor", "bad_cursor");
      }
      cur_run = f.cursor.substr(sep + 1);
    }
    return Read<ListPage>("listing executions", [&](pqxx::nontransaction& t) {
      ListPage page;
      auto r = t.exec_prepared("list_exec", cur_start, cur_run, f.workflow_type,
                               f.status ? static_cast<int>(*f.status) : 0, f.start_after,
                               f.start_before, f.limit + 1, f.workflow_id_prefix);
      for (const auto& row : r) page.rows.push_back(ReadExecRow(row));
      if (static_cast<int>(page.rows.size()) > f.limit) {
        page.rows.pop_back();
        page.next_cursor =
            std::to_string(page.rows.back().start_time) + "_" + page.rows.back().run_id;
      }
      return page;
    });
  }

  Result<std::map<ExecutionStatus, int64_t>> CountExecutions(const ListFilter& f) override {
    using Counts = std::map<ExecutionStatus, int64_t>;
    return Read<Counts>("counting executions", [&](pqxx::nontransaction& t) {
      Counts out;
      for (const auto& r : t.exec_prepared("count_exec", f.workflow_type, f.start_after,
                                           f.start_before, f.workflow_id_prefix)) {
        out[static_cast<ExecutionStatus>(r[0].as<int>())] = r[1].as<int64_t>();
      }
      return out;
    });
  }

  Result<int64_t> CountTimers() override {
    return Read<int64_t>("counting timers", [&](pqxx::nontransaction& t) {
      return t.exec_prepared("count_timers")[0][0].as<int64_t>();
    });
  }
  Result<std::vector<TaskRow>> ListQueueTasks(std::string_view queue, int limit) override {
    return Read<std::vector<TaskRow>>("listing queue tasks", [&](pqxx::nontransaction& t) {
      std::vector<TaskRow> out;
      for (const auto& r : t.exec_prepared("queue_tasks", std::string(queue), limit)) {
        out.push_back(ReadTaskRow(r));
      }
      return out;
    });
  }
  Result<std::vector<TaskRow>> ListLeasedTasks(int limit) override {
    return Read<std::vector<TaskRow>>("listing leased tasks", [&](pqxx::nontransaction& t) {
      std::vector<TaskRow> out;
      for (const auto& r : t.exec_prepared("leased_tasks", limit)) out.push_back(ReadTaskRow(r));
      return out;
    });
  }
  Result<std::vector<TaskRow>> ListTasksOfRun(std::string_view run_id) override {
    return ReadTasks("listing tasks", "tasks_of_run", std::string(run_id));
  }

  Result<std::vector<TimerRow>> DueTimers(Millis now, int limit) override {
    return Read<std::vector<TimerRow>>("reading timers", [&](pqxx::nontransaction& t) {
      std::vector<TimerRow> out;
      for (const auto& r : t.exec_prepared("due_timers", now, limit)) {
        out.push_back(
            {r[0].as<int64_t>(), r[1].c_str(), r[2].c_str(), r[3].c_str(), r[4].as<int64_t>()});
      }
      return out;
    });
  }

  Result<std::vector<TaskRow>> DueTaskDeadlines(Millis now, int limit) override {
    return Read<std::vector<TaskRow>>("reading task deadlines", [&](pqxx::nontransaction& t) {
      std::vector<TaskRow> out;
      for (const auto& r : t.exec_prepared("due_deadlines", now, limit)) {
        out.push_back(ReadTaskRow(r));
      }
      return out;
    });
  }

  Result<std::optional<Millis>> NextWakeTime() override {
    Millis now = clock()->Now();
    return Read<std::optional<Millis>>("reading next wake time", [&](pqxx::nontransaction& t) {
      auto r = t.exec_prepared("next_wake", now);
      if (r.empty() || r[0][0].is_null()) return std::optional<Millis>();
      return std::optional<Millis>(r[0][0].as<int64_t>());
    });
  }

  // One statement in autocommit, on a reader connection: a poll waits for no batch
  // and makes none wait. An empty poll writes nothing.
  Result<std::vector<TaskRow>> PollTasks(std::string_view queue, TaskKind kind,
                                         std::string_view owner, int limit) override {
    Millis now = clock()->Now();
    return Read<std::vector<TaskRow>>("polling tasks", [&](pqxx::nontransaction& t) {
      return LeaseStatement(t, queue, kind, owner, now, limit);
    });
  }

  // Autocommit on a reader connection, as a poll: a heartbeat waits for no batch.
  Status RecordPoller(std::string_view queue, TaskKind kind, std::string_view identity) override {
    const Millis now = clock()->Now();
    return Read<bool>("recording a poller",
                      [&](pqxx::nontransaction& t) {
                        t.exec_prepared("record_poller", std::string(queue), static_cast<int>(kind),
                                        std::string(identity), now, now - kPollerForgetMs);
                        return true;
                      })
        .status();
  }

  Result<std::vector<PollerRow>> ListPollers(Millis since) override {
    return Read<std::vector<PollerRow>>("listing pollers", [&](pqxx::nontransaction& t) {
      std::vector<PollerRow> out;
      for (const auto& r : t.exec_prepared("list_pollers", since)) {
        out.push_back({r[0].c_str(), static_cast<TaskKind>(r[1].as<int>()), r[2].c_str(),
                       r[3].as<int64_t>()});
      }
      return out;
    });
  }

  Result<bool> HasReadyTasks(std::string_view queue, TaskKind kind) override {
    Millis now = clock()->Now();
    return Read<bool>("checking tasks", [&](pqxx::nontransaction& t) {
      return !t.exec_prepared("has_ready", std::string(queue), static_cast<int>(kind), now).empty();
    });
  }

  Result<std::vector<QueueStats>> QueueStatistics() override {
    Millis now = clock()->Now();
    return Read<std::vector<QueueStats>>("reading queue stats", [&](pqxx::nontransaction& t) {
      std::vector<QueueStats> out;
      for (const auto& r : t.exec_prepared("queue_stats", now)) {
        out.push_back({r[0].c_str(), r[1].as<int64_t>(), r[2].as<int64_t>(), r[3].as<int64_t>(),
                       r[4].as<int64_t>()});
      }
      return out;
    });
  }

  Result<int> SchemaVersion() override {
    return Read<int>("reading schema version", [&](pqxx::nontransaction& t) {
      auto r = t.exec_prepared("schema_version");
      return r.empty() ? 0 : r[0][0].as<int>();
    });
  }

  Clock* clock() const override { return opts_.clock ? opts_.clock : SystemClock::Default(); }

  void SetListeners(StoreListeners listeners) override {
    {
      std::lock_guard<std::mutex> l(listeners_mu_);
      listeners_ = std::move(listeners);
    }
    if (!listener_.joinable()) listener_ = std::thread([this] { ListenLoop(); });
  }

 private:
  struct Item {
    TxnFn fn;
    DoneFn done;
    ReadHint hint;
  };

  // Connects (and migrates) with backoff: an unreachable server or a refused
  // password is retried until connect_retry_ms, then reported.
  Status ConnectWithRetry() {
    Millis waited = 0, delay = 200;
    for (int attempt = 1;; ++attempt) {
      Status s = ConnectOnce();
      if (s.ok()) return s;
      bool retry = s.reason() == "db_unreachable" || s.reason() == "db_auth_failed" ||
                   s.reason() == "db_unusable" || s.reason() == "db_conflict";
      if (!retry || waited >= opts_.connect_retry_ms) {
        return Status(s);
      }
      spdlog::warn("cannot use {} yet (attempt {}): {}; retrying in {} ms", RedactUrl(opts_.url),
                   attempt, s.message(), delay);
      std::this_thread::sleep_for(std::chrono::milliseconds(delay));
      waited += delay;
      delay = std::min<Millis>(delay * 2, 5000);
    }
  }

  Status ConnectOnce() {
    try {
      pqxx::connection c(opts_.url);
      pqxx::work w(c);
      // One migrator at a time across processes; CREATE ... IF NOT EXISTS alone races.
      w.exec("SELECT pg_advisory_xact_lock(hashtext(" + w.quote(opts_.schema) + "))");
      w.exec("CREATE SCHEMA IF NOT EXISTS " + w.quote_name(opts_.schema));
      w.exec("CREATE TABLE IF NOT EXISTS " + w.quote_name(opts_.schema) +
             ".schema_version(version INT NOT NULL)");
      auto r = w.exec("SELECT version FROM " + w.quote_name(opts_.schema) + ".schema_version");
      int version = r.empty() ? 0 : r[0][0].as<int>();
      if (version > LatestVersion()) {
        return Status::FailedPrecondition(
            "the database schema " + opts_.schema + " has version " + std::to_string(version) +
                ", newer than this binary knows (" + std::to_string(LatestVersion()) +
                "); run a newer keel",
            "schema_too_new");
      }
      if (version < LatestVersion() && !opts_.migrate) {
        return Status::FailedPrecondition("the database schema " + opts_.schema + " has version " +
                                              std::to_string(version) + "; run `keel db migrate`",
                                          "schema_out_of_date");
      }
      for (int v = version; v < LatestVersion(); ++v)
        w.exec(WithSchema(PostgresMigrations()[v].sql, w.quote_name(opts_.schema)));
      if (version < LatestVersion()) {
        w.exec("DELETE FROM " + w.quote_name(opts_.schema) + ".schema_version");
        w.exec("INSERT INTO " + w.quote_name(opts_.schema) + ".schema_version VALUES(" +
               std::to_string(LatestVersion()) + ")");
      }
      w.commit();
      return Status::Ok();
    } catch (const std::exception& e) {
      return PgStatus(e, "connecting to " + RedactUrl(opts_.url));
    }
  }

  template <typename T, typename F>
  Result<T> Read(const char* what, F&& f) {
    std::unique_ptr<pqxx::connection> c;
    {
      std::lock_guard<std::mutex> l(readers_mu_);
      if (!readers_.empty()) {
        c = std::move(readers_.back());
        readers_.pop_back();
      }
    }
    // Reads are idempotent: a pooled connection that broke (a server restart, a killed
    // backend) is replaced and the read tried once more.
    for (int attempt = 0;; ++attempt) {
      try {
        if (!c || !c->is_open()) c = Connect(opts_);
        std::optional<T> out;
        {
          pqxx::nontransaction t(*c);
          out.emplace(f(t));
        }  // the transaction ends before another thread may take the connection
        std::lock_guard<std::mutex> l(readers_mu_);
        if (static_cast<int>(readers_.size()) < opts_.readers) readers_.push_back(std::move(c));
        return std::move(*out);
      } catch (const std::exception& e) {
        c.reset();
        Status s = PgStatus(e, what);
        if (attempt >= 1 || s.reason() != "db_unreachable") return s;
      }
    }
  }

  Result<std::vector<TaskRow>> ReadTasks(const char* what, const char* stmt, std::string arg) {
    return Read<std::vector<TaskRow>>(what, [&](pqxx::nontransaction& t) {
      std::vector<TaskRow> out;
      for (const auto& r : t.exec_prepared(stmt, arg)) out.push_back(ReadTaskRow(r));
      return out;
    });
  }

  void WriterLoop() {
    std::unique_ptr<pqxx::connection> conn;
    IdBlock ids;
    Millis backoff = 0;
    for (;;) {
      std::vector<Item> batch;
      {
        std::unique_lock<std::mutex> l(mu_);
        // Group commit: a writer starts a batch when none is running, or when enough
        // is queued to be worth a second commit in parallel. Idle writers that took
        // whatever was queued would split the load into batches of one or two.
        cv_.wait(l, [this] {
          return stopping_ || (!queue_.empty() &&
                               (busy_ == 0 || static_cast<int>(queue_.size()) >= kParallelBatch));
        });
        if (queue_.empty() && stopping_) return;
        while (!queue_.empty() && static_cast<int>(batch.size()) < opts_.max_batch) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        ++busy_;
      }
      struct Idle {  // wakes a writer that waited for this batch to end
        PgStore* s;
        ~Idle() {
          {
            std::lock_guard<std::mutex> g(s->mu_);
            --s->busy_;
          }
          s->cv_.notify_all();
        }
      } idle{this};
      if (!conn || !conn->is_open()) {
        try {
          conn = Connect(opts_);
          // A writer's statements touch a few rows by key. Plan them once (generic
          // plans), and through the keys' indexes: a plan made while a table was
          // empty would otherwise scan it whole for the rest of the session. No JIT:
          // these statements are small, and a plan that must scan anyway would carry
          // enable_seqscan's huge cost into a JIT compile on every run.
          pqxx::nontransaction(*conn).exec(
              "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; "
              "SET enable_hashjoin = off; SET enable_mergejoin = off; SET jit = off");
          backoff = 0;
        } catch (const std::exception& e) {
          Status s = PgStatus(e, "connecting to " + RedactUrl(opts_.url));
          for (auto& it : batch) {
            if (it.done) it.done(s);
          }
          backoff = std::min<Millis>(backoff ? backoff * 2 : 50, 2000);
          std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
          continue;
        }
      }
      RunBatch(*conn, &ids, batch);
    }
  }

  // See the file comment for what happens when a TxnFn fails.
  void RunBatch(pqxx::connection& conn, IdBlock* ids, std::vector<Item>& batch) {
    std::vector<Status> results(batch.size());
    std::map<size_t, Status> culprits;  // TxnFns that forced a rollback, and why
    Status commit;
    try {
      pqxx::nontransaction w(conn);
      std::unique_ptr<BatchTxn> batch_txn = BatchTxn::Open(w, clock()->Now(), channel_, ids);
      BatchTxn& txn = *batch_txn;
      std::vector<ReadHint> hints;
      hints.reserve(batch.size());
      for (const auto& it : batch) hints.push_back(it.hint);
      txn.Prefetch(hints);
      for (size_t i = 0; i < batch.size() && culprits.empty(); ++i) {
        txn.BeginFn(i);
        results[i] = batch[i].fn(txn);
        if (txn.aborted()) {
          culprits = txn.culprits();
        } else if (!results[i].ok()) {
          if (txn.Flushed(i)) {
            culprits[i] = results[i];
          } else {
            txn.DropPending(i);  // none of its writes reached the server
          }
        }
      }
      if (culprits.empty()) {
        Status c = txn.Commit();
        if (txn.aborted()) {
          culprits = txn.culprits();
        } else {
          commit = c;
        }
      }
      if (!culprits.empty()) txn.Rollback();
    } catch (const std::exception& e) {
      commit = PgStatus(e, "committing");
    }
    if (!culprits.empty()) {
      counters_.rollbacks.Inc();
      spdlog::debug("rollback: {} culprits, first: {}", culprits.size(),
                    culprits.begin()->second.ToString());
      // Rolled back: the culprits learn why; the others run again in a new batch.
      for (const auto& [i, why] : culprits) {
        if (batch[i].done) batch[i].done(why);
      }
      std::lock_guard<std::mutex> l(mu_);
      for (size_t i = batch.size(); i-- > 0;) {
        if (!culprits.count(i)) queue_.push_front(std::move(batch[i]));
      }
      return;
    }
    if (commit.ok()) {
      counters_.commits.Inc();
      counters_.transactions.Inc(static_cast<int64_t>(batch.size()));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].done) batch[i].done(commit.ok() ? results[i] : commit);
    }
  }

  // Receives NOTIFYs from every process using this schema.
  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const std::string& channel, PgStore* store)
        : pqxx::notification_receiver(c, channel), store_(store) {}
    void operator()(const std::string& payload, int) override { store_->OnNotify(payload); }

   private:
    PgStore* store_;
  };

  void OnNotify(const std::string& payload) {
    // Held while the listener runs: SetListeners returns only once no call of the
    // old listeners is running (their owner may be destroyed right after).
    std::lock_guard<std::mutex> g(listeners_mu_);
    const StoreListeners& l = listeners_;
    auto first = payload.find('|');
    auto second = payload.find('|', first + 1);
    if (first == std::string::npos || second == std::string::npos) return;
    std::string a = payload.substr(first + 1, second - first - 1);
    std::string b = payload.substr(second + 1);
    if (payload[0] == 't' && l.task_ready) {
      l.task_ready(static_cast<TaskKind>(std::atoi(a.c_str())), b);
    } else if (payload[0] == 'c' && l.run_closed) {
      l.run_closed(a, b);
    }
  }

  void ListenLoop() {
    Millis backoff = 0;
    while (!listener_stop_) {
      try {
        pqxx::connection c(opts_.url);
        Receiver r(c, channel_, this);
        backoff = 0;
        while (!listener_stop_) c.await_notification(0, 200'000);
      } catch (const std::exception& e) {
        if (listener_stop_) return;
        backoff = std::min<Millis>(backoff ? backoff * 2 : 100, 5000);
        spdlog::warn("notification listener: {}; reconnecting in {} ms", e.what(), backoff);
        std::this_thread::sleep_for(std::chrono::milliseconds(backoff));
      }
    }
  }

  PostgresOptions opts_;
  std::string channel_;
  StoreCounters& counters_ = StoreCounters::For("postgres");
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::vector<std::thread> writers_;
  int busy_ = 0;  // writers running a batch; guarded by mu_
  // Queued transitions that make a second batch worth running beside a running one.
  static constexpr int kParallelBatch = 8;
  std::mutex readers_mu_;
  std::vector<std::unique_ptr<pqxx::connection>> readers_;
  std::mutex listeners_mu_;
  StoreListeners listeners_;
  std::atomic<bool> listener_stop_{false};
  std::thread listener_;
};

}  // namespace

// The backend's edge: libpqxx exceptions become typed statuses.
Status PgStatus(const std::exception& e, const std::string& what) {
  std::string msg = what + ": " + e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) {
    return Status::Unavailable(msg + " (the commit's outcome is unknown; it is retried)",
                               "commit_in_doubt");
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) {
    // libpq reports refused credentials as a failed connection; tell them apart.
    if (msg.find("password authentication failed") != std::string::npos ||
        msg.find("no pg_hba.conf entry") != std::string::npos ||
        msg.find("role \"") != std::string::npos) {
      return Status::FailedPrecondition(msg + " (check the user and password in --db)",
                                        "db_auth_failed");
    }
    if (msg.find("database \"") != std::string::npos &&
        msg.find("does not exist") != std::string::npos) {
      return Status::FailedPrecondition(msg + " (create the database first)", "db_unusable");
    }
    return Status::Unavailable(msg + " (is the server running and reachable?)", "db_unreachable");
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    std::string state = sql->sqlstate();
    if (state.empty()) {
      // Errors read back from a pipeline can come without their SQLSTATE.
      if (msg.find("deadlock detected") != std::string::npos) state = "40P01";
      if (msg.find("could not serialize access") != std::string::npos) state = "40001";
      if (msg.find("duplicate key value violates unique constraint") != std::string::npos) {
        state = "23505";
      }
    }
    if (state == "40001" || state == "40P01" || state == "55P03") {
      return Status::Unavailable(msg, "db_conflict");  // serialization, deadlock, lock
    }
    if (state.rfind("08", 0) == 0 || state == "57P01" || state == "57P02" || state == "57P03") {
      return Status::Unavailable(msg + " (connection lost)", "db_unreachable");
    }
    if (state == "53100") return Status::ResourceExhausted(msg, "disk_full");
    if (state.rfind("53", 0) == 0) return Status::Unavailable(msg, "db_overloaded");
    if (state == "23505") return Status::AlreadyExists(msg, "constraint");
    if (state == "28P01" || state == "28000") {
      return Status::FailedPrecondition(msg, "db_auth_failed");
    }
    if (state == "3D000") return Status::FailedPrecondition(msg, "db_unusable");
    return Status::Internal(msg, "db_error");
  }
  // Errors read back from a pipeline may arrive as plain pqxx failures: known by text.
  if (msg.find("deadlock detected") != std::string::npos ||
      msg.find("could not serialize access") != std::string::npos) {
    return Status::Unavailable(msg, "db_conflict");
  }
  if (msg.find("duplicate key value violates unique constraint") != std::string::npos) {
    return Status::AlreadyExists(msg, "constraint");
  }
  return Status::Internal(msg, "db_error");
}

std::string RedactUrl(const std::string& url) {
  static const std::regex pw(R"(^(postgres(?:ql)?://[^:/@]*:)[^@]*@)");
  return std::regex_replace(url, pw, "$1***@");
}

Result<PostgresOptions> ParsePostgresUrl(const std::string& url) {
  PostgresOptions o;
  auto q = url.find('?');
  std::string base = url.substr(0, q);
  std::string keep;
  if (q != std::string::npos) {
    std::string query = url.substr(q + 1);
    size_t start = 0;
    while (start <= query.size()) {
      size_t amp = query.find('&', start);
      std::string kv =
          query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (kv.rfind("schema=", 0) == 0) {
        o.schema = kv.substr(7);
      } else if (kv.rfind("writers=", 0) == 0) {
        o.writers = std::atoi(kv.c_str() + 8);
        if (o.writers < 1 || o.writers > 64) {
          return Status::InvalidArgument("writers= must be 1 to 64", "bad_db_url");
        }
      } else if (!kv.empty()) {
        keep += (keep.empty() ? "" : "&") + kv;
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  static const std::regex ident("^[a-z_][a-z0-9_]{0,40}$");
  if (!std::regex_match(o.schema, ident)) {
    return Status::InvalidArgument(
        "schema= must be a lower-case SQL identifier, got '" + o.schema + "'", "bad_db_url");
  }
  if (keep.find("application_name=") == std::string::npos) {
    keep += (keep.empty() ? "" : "&") + std::string("application_name=keel");
  }
  o.url = base + "?" + keep;
  return o;
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const PostgresOptions& options) {
  auto store = std::make_unique<PgStore>(options);
  KEEL_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

int PostgresSchemaVersionLatest() { return LatestVersion(); }

}  // namespace keel::persistence
