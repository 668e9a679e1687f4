#include "common/metrics.h"

#include <chrono>
#include <cstdio>

namespace keel {

namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// {a="x",b="y"}, or "" without labels; `extra` is appended inside the braces.
std::string RenderLabels(const Labels& labels, const std::string& extra = "") {
  std::string out;
  for (const auto& [k, v] : labels) {
    out += out.empty() ? "" : ",";
    out += k + "=\"" + Escape(v) + "\"";
  }
  if (!extra.empty()) out += (out.empty() ? "" : ",") + extra;
  return out.empty() ? "" : "{" + out + "}";
}

std::string Number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Inserts `extra` into a rendered label set: {a="x"} + le="1" -> {a="x",le="1"}.
std::string WithLabel(const std::string& rendered, const std::string& extra) {
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

}  // namespace

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void CountPruned(const std::string& what, const std::string& db, int64_t n) {
  Metrics::Global()
      .GetCounter("keel_pruned_total", "Rows removed by retention, by kind and database.",
                  {{"what", what}, {"db", db}})
      .Inc(n);
}

void Histogram::Observe(double seconds) {
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) buckets_[i].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<int64_t>(seconds * 1e6), std::memory_order_relaxed);
}

Metrics& Metrics::Global() {
  static Metrics* m = new Metrics();  // never destroyed: used by threads until exit
  return *m;
}

Metrics::Family& Metrics::FamilyOf(const std::string& name, const std::string& help,
                                   const char* type) {
  Family& f = families_[name];
  if (f.type.empty()) {
    f.help = help;
    f.type = type;
  }
  return f;
}

template <typename T>
T& Metrics::Series(std::map<std::string, std::unique_ptr<T>>& series, const Labels& labels) {
  std::string key = RenderLabels(labels);
  auto it = series.find(key);
  if (it != series.end()) return *it->second;
  if (series.size() >= kMaxSeriesPerFamily) {
    Labels other = labels;
    for (auto& kv : other) kv.second = "other";
    key = RenderLabels(other);
  }
  auto& slot = series[key];
  if (!slot) slot = std::make_unique<T>();
  return *slot;
}

Counter& Metrics::GetCounter(const std::string& name, const std::string& help,
                             const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  return Series(FamilyOf(name, help, "counter").counters, labels);
}

Counter& Metrics::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  return Series(FamilyOf(name, help, "gauge").counters, labels);
}

Histogram& Metrics::GetHistogram(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  std::lock_guard<std::mutex> l(mu_);
  return Series(FamilyOf(name, help, "histogram").histograms, labels);
}

std::string Metrics::Render() {
  std::lock_guard<std::mutex> l(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + f.help + "\n# TYPE " + name + " " + f.type + "\n";
    for (const auto& [labels, c] : f.counters) {
      out += name + labels + " " + std::to_string(c->value()) + "\n";
    }
    for (const auto& [labels, h] : f.histograms) {
      for (size_t i = 0; i < Histogram::kBounds.size(); ++i) {
        out += name + "_bucket" +
               WithLabel(labels, "le=\"" + Number(Histogram::kBounds[i]) + "\"") + " " +
               std::to_string(h->bucket(i)) + "\n";
      }
      out += name + "_bucket" + WithLabel(labels, "le=\"+Inf\"") + " " +
             std::to_string(h->count()) + "\n";
      out += name + "_sum" + labels + " " + Number(h->sum()) + "\n";
      out += name + "_count" + labels + " " + std::to_string(h->count()) + "\n";
    }
  }
  return out;
}

std::string RenderGauges(const std::vector<GaugeSample>& samples) {
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> gauges;
  for (const auto& s : samples) {
    auto& g = gauges[s.name];
    if (!s.help.empty()) g.first = s.help;
    g.second.push_back(s.name + RenderLabels(s.labels) + " " + Number(s.value));
  }
  std::string out;
  for (const auto& [name, g] : gauges) {
    out += "# HELP " + name + " " + g.first + "\n# TYPE " + name + " gauge\n";
    for (const auto& line : g.second) out += line + "\n";
  }
  return out;
}

}  // namespace keel
