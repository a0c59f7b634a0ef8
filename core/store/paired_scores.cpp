// SPDX-License-Identifier: GPL-3.0-or-later
#include "store/paired_scores.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <stdexcept>

#include "study/study_stats.h"

namespace mola {

namespace {

std::map<std::string, bool> correctById(const std::vector<StoredPrediction>& predictions,
                                        const char* side) {
  std::map<std::string, bool> out;
  for (const StoredPrediction& p : predictions)
    if (!out.emplace(p.example_id, p.correct).second)
      throw std::invalid_argument(std::string("the ") + side + " run's predictions list example '" +
                                  p.example_id + "' twice");
  return out;
}

}  // namespace

PairedScores pairPredictions(const std::vector<StoredPrediction>& a,
                             const std::vector<StoredPrediction>& b) {
  const std::map<std::string, bool> right_a = correctById(a, "first"),
                                    right_b = correctById(b, "second");
  PairedScores s;
  for (const auto& [id, ra] : right_a) {
    const auto it = right_b.find(id);
    if (it == right_b.end()) continue;
    const bool rb = it->second;
    ++s.n;
    if (ra && rb) ++s.both_right;
    if (ra && !rb) ++s.only_a;
    if (!ra && rb) ++s.only_b;
    if (!ra && !rb) ++s.both_wrong;
  }
  if (s.n == 0) {
    s.ci_low = s.ci_high = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  const double n = double(s.n), only_a = double(s.only_a), only_b = double(s.only_b);
  s.accuracy_a = double(s.both_right + s.only_a) / n;
  s.accuracy_b = double(s.both_right + s.only_b) / n;
  s.difference = (only_a - only_b) / n;
  const double discordant = only_a + only_b - (only_a - only_b) * (only_a - only_b) / n;
  const double half = 1.96 * std::sqrt(std::max(0.0, discordant)) / n;
  s.ci_low = s.difference - half;
  s.ci_high = s.difference + half;
  s.p = mcnemarExactP(s.only_a, s.only_b);
  return s;
}

std::optional<EvalScore> finalScoreOn(const std::vector<EvalScore>& scores,
                                      const std::string& benchmark, const std::string& split,
                                      const std::string& protocol) {
  std::optional<EvalScore> out;
  for (const EvalScore& e : scores)
    if (e.benchmark == benchmark && e.split == split && e.protocol == protocol &&
        (!out || e.step >= out->step))
      out = e;
  return out;
}

std::string describePairedScores(const PairedScores& s, const std::string& a,
                                 const std::string& b) {
  if (s.n == 0) return "no question scored by both";
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%lld on the same questions: both right %lld, only %s %lld, only %s %lld, both "
                "wrong %lld; %s - %s %+.3f (95%% CI %+.3f to %+.3f), McNemar exact p = %.3g",
                static_cast<long long>(s.n), static_cast<long long>(s.both_right), a.c_str(),
                static_cast<long long>(s.only_a), b.c_str(), static_cast<long long>(s.only_b),
                static_cast<long long>(s.both_wrong), a.c_str(), b.c_str(), s.difference, s.ci_low,
                s.ci_high, s.p);
  return buf;
}

}  // namespace mola
