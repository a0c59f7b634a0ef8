// SPDX-License-Identifier: GPL-3.0-or-later
// Paired scores of two runs: McNemar's exact p against exact fractions (Python's math.comb), the
// pairing and the paired interval against counts and arithmetic done by hand.
#include "store/paired_scores.h"

#include <gtest/gtest.h>

#include <cmath>

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
  EXPECT_DOUBLE_EQ(s.difference, 0.2);
  // 1.96 sqrt(2 + 1 - 1 / 5) / 5
  EXPECT_NEAR(s.ci_high - s.difference, 1.96 * std::sqrt(2.8) / 5, 1e-15);
  EXPECT_NEAR(s.difference - s.ci_low, 1.96 * std::sqrt(2.8) / 5, 1e-15);
  EXPECT_EQ(s.p, 1.0);  // 2 against 1: 2 * (1 + 3) / 8
  EXPECT_EQ(describePairedScores(s, "A", "B"),
            "5 on the same questions: both right 1, only A 2, only B 1, both wrong 1; A - B "
            "+0.200 (95% CI -0.456 to +0.856), McNemar exact p = 1");

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
