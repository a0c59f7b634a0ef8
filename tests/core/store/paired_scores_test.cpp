// SPDX-License-Identifier: GPL-3.0-or-later
// Paired scores of two runs: McNemar's exact p against exact fractions (Python's math.comb), the
// pairing and the paired interval against counts and arithmetic done by hand.
#include "store/paired_scores.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "expect_error.h"
#include "study/study_stats.h"

namespace mola {
namespace {

TEST(PairedScores, McNemarExactPMatchesExactFractions) {
  // 2 * sum_{i <= min} C(n, i) / 2^n with Fractions, n = only_a + only_b.
  EXPECT_NEAR(mcnemarExactP(1, 6), 0.125, 1e-15);
  EXPECT_NEAR(mcnemarExactP(6, 1), 0.125, 1e-15);
  EXPECT_NEAR(mcnemarExactP(0, 5), 0.0625, 1e-15);
  EXPECT_NEAR(mcnemarExactP(9, 15), 0.30745625495910645, 1e-12);
  EXPECT_NEAR(mcnemarExactP(10, 30), 0.0022214337732293643, 1e-14);
  EXPECT_NEAR(mcnemarExactP(200, 260), 0.005883922473103979, 1e-12);
  EXPECT_EQ(mcnemarExactP(3, 3), 1.0);  // capped at 1
  EXPECT_EQ(mcnemarExactP(0, 0), 1.0);  // never differ
  test::expectErrorContaining<std::invalid_argument>([] { mcnemarExactP(-1, 2); },
                                                     "negative counts");
}

std::vector<StoredPrediction> predictions(
    const std::vector<std::pair<std::string, bool>>& correct) {
  std::vector<StoredPrediction> out;
  for (const auto& [id, ok] : correct) out.push_back({id, ok ? 0 : 1, ok});
  return out;
}

TEST(PairedScores, PairsByExampleIdAndCountsEachCase) {
  const auto a = predictions(
      {{"q1", true}, {"q2", true}, {"q3", false}, {"q4", false}, {"q5", true}, {"q7", true}});
  const auto b = predictions(
      {{"q5", false}, {"q4", false}, {"q3", true}, {"q2", false}, {"q1", true}, {"q6", true}});
  const PairedScores s = pairPredictions(a, b);
  EXPECT_EQ(s.n, 5);  // q6 and q7 are on one side only
  EXPECT_EQ(s.both_right, 1);
  EXPECT_EQ(s.only_a, 2);
  EXPECT_EQ(s.only_b, 1);
  EXPECT_EQ(s.both_wrong, 1);
  EXPECT_DOUBLE_EQ(s.accuracy_a, 0.6);
  EXPECT_DOUBLE_EQ(s.accuracy_b, 0.4);
  EXPECT_NEAR(s.difference, 0.2, 1e-15);
  // Newcombe's method 10 written out in Python (Wilson intervals of 3/5 and 2/5, phi = -1/6).
  EXPECT_NEAR(s.ci_low, -0.36407797778729756, 1e-12);
  EXPECT_NEAR(s.ci_high, 0.6313413922539719, 1e-12);
  EXPECT_EQ(s.p, 1.0);  // 2 against 1: 2 * (1 + 3) / 8
  EXPECT_EQ(describePairedScores(s, "A", "B"),
            "5 on the same questions: both right 1, only A 2, only B 1, both wrong 1; A - B "
            "+0.200 (95% CI -0.364 to +0.631), McNemar exact p = 1");

  const PairedScores none = pairPredictions(a, predictions({{"x", true}}));
  EXPECT_EQ(none.n, 0);
  EXPECT_TRUE(std::isnan(none.ci_low));
  EXPECT_EQ(describePairedScores(none, "A", "B"), "no question scored by both");
  test::expectErrorContaining<std::invalid_argument>(
      [&] {
        pairPredictions(a, predictions({{"q1", true}, {"q1", false}}));
      },
      "the second run's predictions list example 'q1' twice");
}

// A table of counts: both right, only the first, only the second, both wrong.
std::pair<std::vector<StoredPrediction>, std::vector<StoredPrediction>> table(int both, int only_a,
                                                                              int only_b,
                                                                              int neither) {
  std::vector<std::pair<std::string, bool>> a, b;
  int q = 0;
  const auto add = [&](int count, bool ra, bool rb) {
    for (int i = 0; i < count; ++i, ++q) {
      a.push_back({std::string("q").append(std::to_string(q)), ra});
      b.push_back({std::string("q").append(std::to_string(q)), rb});
    }
  };
  add(both, true, true);
  add(only_a, true, false);
  add(only_b, false, true);
  add(neither, false, false);
  return {predictions(a), predictions(b)};
}

TEST(PairedScores, NewcombesIntervalAgainstAnIndependentImplementation) {
  // Python, from Newcombe (1998) method 10: the quickstart's 8-6-4-2 run against its 2-4-6-8 run.
  auto [a, b] = table(54, 11, 69, 66);
  PairedScores s = pairPredictions(a, b);
  EXPECT_NEAR(s.difference, -0.29, 1e-15);
  EXPECT_NEAR(s.ci_low, -0.3640424026883746, 1e-12);
  EXPECT_NEAR(s.ci_high, -0.20957635914114153, 1e-12);
  std::tie(a, b) = table(120, 15, 9, 56);
  s = pairPredictions(a, b);
  EXPECT_NEAR(s.ci_low, -0.017813558463238323, 1e-12);
  EXPECT_NEAR(s.ci_high, 0.07770337359091864, 1e-12);
  // Runs that never disagree: difference 0, but not a zero-width interval (Wald's would be).
  std::tie(a, b) = table(3, 0, 0, 2);
  s = pairPredictions(a, b);
  EXPECT_EQ(s.difference, 0.0);
  EXPECT_NEAR(s.ci_low, -0.0868964929566353, 1e-12);
  EXPECT_NEAR(s.ci_high, 0.0868964929566353, 1e-12);
  // Every answer right on both sides: phi has no spread to go by (0), the interval stays in range.
  std::tie(a, b) = table(4, 0, 0, 0);
  s = pairPredictions(a, b);
  EXPECT_LE(s.ci_high, 1.0);
  EXPECT_GE(s.ci_low, -1.0);
  EXPECT_GT(s.ci_high, 0.0);
}

TEST(PairedScores, TheFinalScoreIsTheLatestOnTheSameBenchmarkSplitAndProtocol) {
  std::vector<EvalScore> scores(5);
  scores[0] = {1, 10, "arc", "", "likelihood", 0.3, 100, 0, 0};
  scores[1] = {2, 20, "arc", "", "likelihood", 0.4, 100, 0, 0};
  scores[2] = {3, 30, "arc", "", "generate", 0.5, 100, 0, 0};
  scores[3] = {4, 30, "arc", "test", "likelihood", 0.6, 100, 0, 0};
  scores[4] = {5, 20, "obqa", "", "likelihood", 0.7, 100, 0, 0};
  EXPECT_EQ(finalScoreOn(scores, "arc", "", "likelihood")->id, 2);
  EXPECT_EQ(finalScoreOn(scores, "arc", "", "generate")->id, 3);
  EXPECT_EQ(finalScoreOn(scores, "arc", "test", "likelihood")->id, 4);
  EXPECT_FALSE(finalScoreOn(scores, "piqa", "", "likelihood"));
}

}  // namespace
}  // namespace mola
