// SPDX-License-Identifier: GPL-3.0-or-later
// Error wording for experiment files, and the edit distance behind "did you mean".
#include "experiment/experiment_text.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <stdexcept>

namespace mola::experiment_detail {

std::string joinList(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& item : items) s += (s.empty() ? "" : ", ") + item;
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string inQuotes(const std::string& s) {
  return "'" + s + "'";
}

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw std::invalid_argument(key + ": " + what);
}

namespace {

// Optimal string alignment distance: Levenshtein plus adjacent transpositions ("rnak" -> "rank"
// is 1).
size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

// How far `typed` is from `candidate` when it is plausibly a misspelling of it (case aside);
// nullopt when not. With `allow_prefix`, a shared prefix of four or more characters counts as
// close too ("warmup" for "warmup_steps"), ranked after every misspelling.
std::optional<size_t> closeness(std::string_view typed, std::string_view candidate,
                                bool allow_prefix) {
  const std::string t = lower(typed);
  const size_t limit = t.size() <= 4 ? 1 : t.size() <= 8 ? 2 : 3;
  const size_t d = editDistance(t, candidate);
  if (d <= limit) return d;
  const size_t shorter = std::min(t.size(), candidate.size());
  if (allow_prefix && shorter >= 4 && t.compare(0, shorter, candidate, 0, shorter) == 0)
    return limit + 1;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> nearest(std::string_view typed, const std::vector<std::string>& options,
                                   bool allow_prefix) {
  std::optional<std::string> best;
  size_t best_d = std::numeric_limits<size_t>::max();
  for (const std::string& option : options) {
    if (auto d = closeness(typed, option, allow_prefix); d && *d < best_d)
      best = option, best_d = *d;
  }
  return best;
}

}  // namespace mola::experiment_detail
