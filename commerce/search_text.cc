#include "commerce/search_text.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace keel::commerce {

std::vector<std::string> SplitWords(std::string_view text, size_t max) {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty() && words.size() < max) words.push_back(cur.substr(0, 40));
    cur.clear();
  };
  for (unsigned char c : text) {
    if (std::isalnum(c) || c >= 0x80) {
      cur.push_back(static_cast<char>(std::tolower(c)));
    } else {
      flush();
    }
  }
  flush();
  return words;
}

int EditDistance(std::string_view a, std::string_view b, int max) {
  const int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
  if (std::abs(n - m) > max) return max + 1;
  std::vector<int> prev(m + 1), cur(m + 1);
  for (int j = 0; j <= m; ++j) prev[j] = j;
  for (int i = 1; i <= n; ++i) {
    cur[0] = i;
    int row_min = cur[0];
    for (int j = 1; j <= m; ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
      row_min = std::min(row_min, cur[j]);
    }
    if (row_min > max) return max + 1;  // every path is over already
    std::swap(prev, cur);
  }
  return std::min(prev[m], max + 1);
}

int MaxEditsFor(std::string_view term) {
  if (term.size() >= 8) return 2;
  return term.size() >= 4 ? 1 : 0;
}

bool Vocabulary::Matches(const std::string& term) const {
  auto it = df_.lower_bound(term);
  if (it == df_.end()) return false;
  if (term.size() < 2) return it->first == term;
  return it->first.compare(0, term.size(), term) == 0;
}

std::optional<std::string> Vocabulary::Correct(const std::string& term) const {
  const int max = MaxEditsFor(term);
  if (max == 0) return std::nullopt;
  const std::string* best = nullptr;
  int best_d = max + 1;
  int64_t best_df = 0;
  for (const auto& [word, df] : df_) {
    int d = EditDistance(term, word, best_d);
    if (d < best_d || (d == best_d && d <= max && df > best_df)) {
      best = &word;
      best_d = d;
      best_df = df;
    }
  }
  if (!best || best_d > max) return std::nullopt;
  return *best;
}

void Completions::Build(std::vector<Source> sources) {
  sources_ = std::move(sources);
  entries_.clear();
  for (uint32_t i = 0; i < sources_.size(); ++i) {
    std::string lower;
    for (unsigned char c : sources_[i].text) lower.push_back(static_cast<char>(std::tolower(c)));
    bool word_start = true;
    for (size_t at = 0; at < lower.size(); ++at) {
      const bool alnum = std::isalnum(static_cast<unsigned char>(lower[at])) || lower[at] < 0;
      if (alnum && word_start) entries_.push_back({lower.substr(at, 48), i});
      word_start = !alnum;
    }
  }
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.key < b.key; });
}

std::vector<Suggestion> Completions::Find(std::string_view prefix_in, size_t size) const {
  std::string prefix;
  for (unsigned char c : prefix_in) prefix.push_back(static_cast<char>(std::tolower(c)));
  // The entries starting with the prefix are one run of the sorted list. A short
  // prefix may start tens of thousands: rank the first kScan of them.
  constexpr size_t kScan = 4000;
  auto it = std::lower_bound(entries_.begin(), entries_.end(), prefix,
                             [](const Entry& e, const std::string& p) { return e.key < p; });
  std::vector<uint32_t> found;
  std::set<uint32_t> seen;
  for (; it != entries_.end() && found.size() < kScan &&
         it->key.compare(0, prefix.size(), prefix) == 0;
       ++it) {
    if (seen.insert(it->source).second) found.push_back(it->source);
  }
  auto rank = [&](uint32_t s) { return sources_[s].kind == "item" ? 1 : 0; };
  std::sort(found.begin(), found.end(), [&](uint32_t a, uint32_t b) {
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    if (sources_[a].weight != sources_[b].weight) return sources_[a].weight > sources_[b].weight;
    return sources_[a].text < sources_[b].text;
  });
  std::vector<Suggestion> out;
  std::set<std::string> texts;  // items with the same name are one completion
  for (uint32_t s : found) {
    if (out.size() >= size) break;
    if (!texts.insert(sources_[s].text).second) continue;
    out.push_back({sources_[s].text, sources_[s].kind, sources_[s].item_id});
  }
  return out;
}

}  // namespace keel::commerce
