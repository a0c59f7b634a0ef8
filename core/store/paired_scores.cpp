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
  const double n = double(s.n);
  s.accuracy_a = double(s.both_right + s.only_a) / n;
  s.accuracy_b = double(s.both_right + s.only_b) / n;
  s.difference = s.accuracy_a - s.accuracy_b;
  // Newcombe's interval (method 10): each accuracy's Wilson interval, joined through the
  // correlation phi of the two runs' answers on the 2 x 2 table.
  const auto [low_a, high_a] = wilsonScoreInterval(s.accuracy_a, n);
  const auto [low_b, high_b] = wilsonScoreInterval(s.accuracy_b, n);
  const double a_right = double(s.both_right + s.only_a), a_wrong = double(s.only_b + s.both_wrong);
  const double b_right = double(s.both_right + s.only_b), b_wrong = double(s.only_a + s.both_wrong);
  const double spread = a_right * a_wrong * b_right * b_wrong;
  const double phi =
      spread > 0
          ? (double(s.both_right) * double(s.both_wrong) - double(s.only_a) * double(s.only_b)) /
                std::sqrt(spread)
          : 0.0;
  const double da = s.accuracy_a - low_a, ua = high_a - s.accuracy_a;
  const double db = s.accuracy_b - low_b, ub = high_b - s.accuracy_b;
  s.ci_low = s.difference - std::sqrt(std::max(0.0, da * da - 2 * phi * da * ub + ub * ub));
  s.ci_high = s.difference + std::sqrt(std::max(0.0, ua * ua - 2 * phi * ua * db + db * db));
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
