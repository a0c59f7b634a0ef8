// SPDX-License-Identifier: GPL-3.0-or-later
// The allocation advisor: apportioning by hand, the power-law fit against known distributions,
// and both strategies on hand-made inputs.
#include "study/advisor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <stdexcept>

namespace mola {
namespace {

TEST(Advisor, ApportionGivesLargestRemaindersByHand) {
  // Shares of 16 in proportion 4:2:1:4 are 5.82, 2.91, 1.45, 5.82: floors 5, 2, 1, 5 leave 3
  // units, which go to the remainders .91, .82 (the lower layer of a tie first) and .82.
  EXPECT_EQ(apportion({4, 2, 1, 4}, 16, 1), (std::vector<int>{6, 3, 1, 6}));
  EXPECT_EQ(apportion({1, 1, 1, 1}, 20, 2), (std::vector<int>{5, 5, 5, 5}));
  EXPECT_EQ(apportion({1, 2, 3, 4}, 20, 2), (std::vector<int>{2, 4, 6, 8}));
  // The minimum lifts layer 2-4 to 2 each; layer 1 gives back what that costs.
  EXPECT_EQ(apportion({1, 0, 0, 0}, 8, 2), (std::vector<int>{2, 2, 2, 2}));
  EXPECT_EQ(apportion({10, 1, 1, 1}, 10, 2), (std::vector<int>{4, 2, 2, 2}));
  EXPECT_THROW(apportion({1, 1, 1}, 5, 2), std::invalid_argument);  // 3 layers x 2 > 5
  EXPECT_THROW(apportion({0, 0}, 4, 1), std::invalid_argument);
  EXPECT_THROW(apportion({1, -1}, 4, 1), std::invalid_argument);
  EXPECT_THROW(apportion({1, NAN}, 4, 1), std::invalid_argument);
}

TEST(Advisor, PowerLawFitMatchesTheMaximumLikelihoodByHand) {
  // Five values, all in the tail (the fewest kept): alpha = 1 + 5 / sum ln(x / 1)
  // = 1 + 5 / (10 ln 2).
  const PowerLawFit fit = fitPowerLaw({16, 1, 4, 2, 8});
  EXPECT_NEAR(fit.alpha, 1 + 5 / (10 * std::log(2.0)), 1e-12);
  EXPECT_EQ(fit.xmin, 1.0);
  EXPECT_EQ(fit.tail, 5);
  EXPECT_THROW(fitPowerLaw({1, 2, 0, -3, 4}), std::invalid_argument);  // 3 positive values
  EXPECT_THROW(fitPowerLaw({2, 2, 2, 2, 2, 2}), std::invalid_argument);
}

TEST(Advisor, PowerLawFitRecoversKnownExponents) {
  for (double alpha : {2.0, 3.0, 4.5}) {
    // The quantiles of a Pareto law with density exponent alpha (x >= 1), below them a bulk of
    // small values that is not power-law: the fit must find the tail and its exponent.
    std::vector<double> values;
    const int n = 2000;
    for (int k = 1; k <= n; ++k) values.push_back(std::pow(1 - (k - 0.5) / n, -1 / (alpha - 1)));
    for (int k = 1; k <= 500; ++k) values.push_back(0.2 + 0.6 * k / 500.0);
    const PowerLawFit fit = fitPowerLaw(values);
    EXPECT_NEAR(fit.alpha, alpha, 0.05 * alpha) << "alpha " << alpha;
    EXPECT_GE(fit.xmin, 0.75) << "alpha " << alpha;  // not inside the uniform bulk
  }
}

TEST(Advisor, SpectraGiveLessTrainedLayersMoreExperts) {
  // beta 1: shares in proportion to alpha itself, 2:2:4:4 of 12.
  const AllocationAdvice plain = adviseFromSpectra({2, 2, 4, 4}, 12, 1.0, 1);
  EXPECT_EQ(plain.allocation.perLayer(), (std::vector<int>{2, 2, 4, 4}));
  // beta 2.5: 2^2.5 = 5.66 and 4^2.5 = 32, shares of 20 are 1.5 and 8.5: floors 1 -> min 2,
  // 8, 8, then the units left go to the top remainders.
  const AllocationAdvice sharp = adviseFromSpectra({2, 2, 4, 4}, 20, 2.5, 2);
  EXPECT_EQ(sharp.allocation.perLayer(), (std::vector<int>{2, 2, 8, 8}));
  ASSERT_EQ(sharp.layers.size(), 4u);
  EXPECT_DOUBLE_EQ(sharp.layers[2].signal, 4.0);
  EXPECT_NE(sharp.layers[2].reason.find("lighter tail"), std::string::npos);
  EXPECT_NE(sharp.layers[0].reason.find("heavier tail"), std::string::npos);
  EXPECT_NE(describeAdvice(sharp).find("2,2,8,8"), std::string::npos);
}

LayerRouterStats layer(int j, std::vector<double> fractions) {
  LayerRouterStats l;
  l.layer = j;
  l.tokens = 100;
  l.token_fraction = std::move(fractions);
  l.mean_probability = l.token_fraction;
  return l;
}

TEST(Advisor, RouterStatisticsGiveSaturatedLayersMoreExperts) {
  // A square pilot (4 experts per layer). Layer 1 spreads its load over all 4 (exp H = 4),
  // layer 2 over 2, layer 3 over 1, layer 4 over 4; weights 4:2:1:4 of 16 -> 6, 3, 1, 6 (see
  // the apportion test). The snapshot from the first half of the run is left out.
  RouterStatsSnapshot early{2,
                            {layer(0, {1, 0, 0, 0}), layer(1, {0.25, 0.25, 0.25, 0.25}),
                             layer(2, {0.25, 0.25, 0.25, 0.25}), layer(3, {1, 0, 0, 0})}};
  RouterStatsSnapshot late{10,
                           {layer(0, {0.25, 0.25, 0.25, 0.25}), layer(1, {0.5, 0.5, 0, 0}),
                            layer(2, {0, 1, 0, 0}), layer(3, {0.25, 0.25, 0.25, 0.25})}};
  const AllocationAdvice a = adviseFromRouter({early, late}, Allocation::uniform(4, 4), 16, 1);
  EXPECT_EQ(a.allocation.perLayer(), (std::vector<int>{6, 3, 1, 6}));
  EXPECT_NEAR(a.layers[1].signal, 2.0, 1e-12);
  EXPECT_NE(a.layers[0].reason.find("saturated"), std::string::npos);
  EXPECT_NE(a.layers[2].reason.find("idle"), std::string::npos);
  EXPECT_EQ(a.summary.find("says little"), std::string::npos);
  EXPECT_THROW(adviseFromRouter({}, Allocation::uniform(4, 4), 16, 1), std::invalid_argument);
  // Balanced everywhere (as the balance loss makes it): the proposal says what that means.
  RouterStatsSnapshot even{
      10, {layer(0, {0.25, 0.25, 0.25, 0.25}), layer(1, {0.25, 0.25, 0.25, 0.25})}};
  const AllocationAdvice flat = adviseFromRouter({even}, Allocation::uniform(4, 2), 8, 1);
  EXPECT_EQ(flat.allocation.perLayer(), (std::vector<int>{4, 4}));
  EXPECT_NE(flat.summary.find("says little"), std::string::npos) << flat.summary;
}

}  // namespace
}  // namespace mola
