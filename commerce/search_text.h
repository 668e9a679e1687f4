#pragma once
// Text helpers of product search (search_index.h): the tokenizer both indexes agree
// with, the vocabulary that corrects typos, and the completions of GET /items/suggest.
// None of them is thread-safe; SearchIndex guards them.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::commerce {

// Lower-case words of `text`: runs of ASCII letters and digits and of non-ASCII bytes
// (as the indexes split them), each cut to 40 bytes, at most `max` of them.
std::vector<std::string> SplitWords(std::string_view text, size_t max);

// Levenshtein distance of a and b, or max + 1 when it is more than `max`.
int EditDistance(std::string_view a, std::string_view b, int max);

// The typo rule: terms of 4-7 letters may be 1 edit away, of 8 and more 2; shorter
// ones are never corrected.
int MaxEditsFor(std::string_view term);

// Every word the index holds, with how many docs versions carried it.
class Vocabulary {
 public:
  void Add(const std::string& word) { ++df_[word]; }
  // Whether a word equals `term` or starts with it (terms of 2+ letters match as
  // word prefixes, one-letter terms only as whole words).
  bool Matches(const std::string& term) const;
  // The word within MaxEditsFor(term) edits of `term`: fewest edits first, then the
  // most frequent, then the first in alphabetical order. nullopt when none.
  std::optional<std::string> Correct(const std::string& term) const;
  size_t size() const { return df_.size(); }

 private:
  std::map<std::string, int64_t> df_;
};

struct Suggestion {
  std::string text;
  std::string kind;     // "brand", "category" or "item"
  std::string item_id;  // items only
};

// Completions of a typed prefix: brands and categories whose name, and items whose
// name, has a word starting with the prefix (edge n-grams, in effect), brands and
// categories first, then items by weight.
class Completions {
 public:
  struct Source {
    std::string text, kind, item_id;
    double weight = 0;
  };
  void Build(std::vector<Source> sources);
  std::vector<Suggestion> Find(std::string_view prefix, size_t size) const;

 private:
  struct Entry {
    std::string key;  // lower-case, from one word of the source's text to its end
    uint32_t source;
  };
  std::vector<Source> sources_;
  std::vector<Entry> entries_;  // by key
};

}  // namespace keel::commerce
