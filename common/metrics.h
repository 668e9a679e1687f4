#pragma once
// Process-wide metrics in the Prometheus text format (GET /metrics). Counters and
// histograms are looked up by name and labels and updated with atomics; gauges that
// describe stored state (queue backlogs, pending timers) are read when scraped and
// rendered with RenderGauges. Thread-safe. Names follow Prometheus conventions:
// keel_<what>_total for counters, keel_<what>_seconds for durations.

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace keel {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Inc(int64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> v_{0};
};

class Histogram {
 public:
  // Upper bounds in seconds, from 1 ms to 60 s.
  static constexpr std::array<double, 14> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                     0.25,  0.5,    1,     2.5,  5,     10,   60};
  void Observe(double seconds);
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return static_cast<double>(sum_us_.load()) / 1e6; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> sum_us_{0};
};

// One gauge sample, read at scrape time.
struct GaugeSample {
  std::string name, help;
  Labels labels;
  double value;
};

class Metrics {
 public:
  static Metrics& Global();

  // A family holds at most this many label sets; past it, new label sets share one
  // series whose every label value is "other", so no input can grow /metrics without
  // bound.
  static constexpr size_t kMaxSeriesPerFamily = 500;

  // The same (name, labels) always returns the same object; references stay valid.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels);
  Histogram& GetHistogram(const std::string& name, const std::string& help, const Labels& labels);
  // A gauge kept by its owner as things come and go: a Counter that also goes down
  // (Inc(-1)), rendered as type gauge.
  Counter& GetGauge(const std::string& name, const std::string& help, const Labels& labels);
  // Every counter and histogram.
  std::string Render();

 private:
  struct Family {
    std::string help, type;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered labels
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& FamilyOf(const std::string& name, const std::string& help, const char* type);
  template <typename T>
  T& Series(std::map<std::string, std::unique_ptr<T>>& series, const Labels& labels);

  std::mutex mu_;
  std::map<std::string, Family> families_;
};

// Gauge samples in the text format, grouped by name.
std::string RenderGauges(const std::vector<GaugeSample>& samples);

// Counts rows that retention removed: keel_pruned_total{what, db}.
void CountPruned(const std::string& what, const std::string& db, int64_t n);

// Seconds since `start` (a steady clock time point), for Histogram::Observe.
double SecondsSince(std::chrono::steady_clock::time_point start);

}  // namespace keel
