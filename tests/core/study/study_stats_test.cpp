// SPDX-License-Identifier: GPL-3.0-or-later
// Student's t, the incomplete beta function, mean intervals and the paired t-test against values
// computed independently (by hand, and with SciPy 1.17: scipy.stats.t, scipy.special.betainc,
// scipy.stats.ttest_rel).
#include "study/study_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

namespace mola {
namespace {

TEST(StudyStats, IncompleteBetaMatchesHandAndScipyValues) {
  // I_1/2(2, 3) = sum_{j=2..4} C(4, j) / 16 = 11/16.
  EXPECT_NEAR(regularizedIncompleteBeta(0.5, 2, 3), 0.6875, 1e-13);
  EXPECT_NEAR(regularizedIncompleteBeta(0.3, 0.5, 7.5), 0.977153386842316, 1e-12);
  EXPECT_NEAR(regularizedIncompleteBeta(0.45, 30, 40), 0.6447480085585666, 1e-12);
  EXPECT_EQ(regularizedIncompleteBeta(0, 2, 3), 0.0);
  EXPECT_EQ(regularizedIncompleteBeta(1, 2, 3), 1.0);
  EXPECT_THROW(regularizedIncompleteBeta(1.5, 2, 3), std::invalid_argument);
  EXPECT_THROW(regularizedIncompleteBeta(0.5, 0, 3), std::invalid_argument);
}

TEST(StudyStats, StudentTMatchesTables) {
  // t_{0.975} for 1, 4, 10 and 30 degrees of freedom.
  EXPECT_NEAR(studentTQuantile(0.975, 1), 12.706204736175, 1e-9);
  EXPECT_NEAR(studentTQuantile(0.975, 4), 2.776445105198, 1e-10);
  EXPECT_NEAR(studentTQuantile(0.975, 10), 2.228138851986, 1e-10);
  EXPECT_NEAR(studentTQuantile(0.975, 30), 2.042272456301, 1e-10);
  EXPECT_NEAR(studentTQuantile(0.025, 4), -2.776445105198, 1e-10);
  EXPECT_EQ(studentTQuantile(0.5, 7), 0.0);
  EXPECT_NEAR(studentTCdf(2, 10), 0.9633059826146299, 1e-12);
  EXPECT_NEAR(studentTCdf(-1.5, 3.5), 0.10890909350767251, 1e-12);
  // df 1 is the Cauchy distribution: P(T <= 1) = 3/4.
  EXPECT_NEAR(studentTCdf(1, 1), 0.75, 1e-13);
  EXPECT_EQ(studentTCdf(INFINITY, 3), 1.0);
  EXPECT_THROW(studentTQuantile(1.0, 3), std::invalid_argument);
  EXPECT_THROW(studentTCdf(1.0, 0), std::invalid_argument);
}

TEST(StudyStats, MeanIntervalByHand) {
  // 1..5: mean 3, sd sqrt(2.5), half width t_{0.975,4} sqrt(2.5) / sqrt(5).
  const MeanInterval m = meanInterval({1, 2, 3, 4, 5});
  EXPECT_EQ(m.n, 5);
  EXPECT_DOUBLE_EQ(m.mean, 3.0);
  EXPECT_NEAR(m.sd, std::sqrt(2.5), 1e-14);
  const double half = 2.776445105198 * std::sqrt(2.5) / std::sqrt(5.0);
  EXPECT_NEAR(m.low, 3 - half, 1e-10);
  EXPECT_NEAR(m.high, 3 + half, 1e-10);
  // One value: a mean without an interval; none: nothing.
  const MeanInterval one = meanInterval({0.7});
  EXPECT_EQ(one.n, 1);
  EXPECT_DOUBLE_EQ(one.mean, 0.7);
  EXPECT_TRUE(std::isnan(one.low) && std::isnan(one.high) && std::isnan(one.sd));
  EXPECT_TRUE(std::isnan(meanInterval({}).mean));
}

TEST(StudyStats, PairedTTestMatchesScipy) {
  const PairedTest t = pairedTTest({0.70, 0.65, 0.72, 0.68}, {0.60, 0.62, 0.65, 0.61});
  EXPECT_EQ(t.difference.n, 4);
  EXPECT_NEAR(t.difference.mean, 0.0675, 1e-14);
  EXPECT_NEAR(t.difference.low, 0.02179559457513567, 1e-10);
  EXPECT_NEAR(t.difference.high, 0.11320440542486435, 1e-10);
  EXPECT_NEAR(t.t, 4.700096710803845, 1e-9);
  EXPECT_NEAR(t.p, 0.018219854743222363, 1e-10);
  // Swapping the samples flips the sign, not the p.
  const PairedTest back = pairedTTest({0.60, 0.62, 0.65, 0.61}, {0.70, 0.65, 0.72, 0.68});
  EXPECT_NEAR(back.t, -t.t, 1e-12);
  EXPECT_NEAR(back.p, t.p, 1e-12);
}

TEST(StudyStats, PairedTTestEdgeCases) {
  const PairedTest same = pairedTTest({0.5, 0.6, 0.7}, {0.5, 0.6, 0.7});
  EXPECT_EQ(same.t, 0.0);
  EXPECT_EQ(same.p, 1.0);
  const PairedTest shifted = pairedTTest({0.6, 0.7, 0.8}, {0.5, 0.6, 0.7});
  EXPECT_NEAR(shifted.difference.mean, 0.1, 1e-12);
  EXPECT_LT(shifted.p, 1e-6);  // a constant, non-zero difference
  const PairedTest single = pairedTTest({0.6}, {0.5});
  EXPECT_TRUE(std::isnan(single.p));
  EXPECT_THROW(pairedTTest({0.6, 0.7}, {0.5}), std::invalid_argument);
}

}  // namespace
}  // namespace mola
