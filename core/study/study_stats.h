// SPDX-License-Identifier: GPL-3.0-or-later
// The statistics of a study: means with Student-t intervals and the paired t-test (torch-free).
#pragma once

#include <utility>
#include <vector>

namespace mola {

// P(T <= t) for Student's t with `df` degrees of freedom (df > 0; fractional df allowed).
double studentTCdf(double t, double df);
// The t with P(T <= t) = p (0 < p < 1).
double studentTQuantile(double p, double df);
// The regularised incomplete beta function I_x(a, b) (0 <= x <= 1; a, b > 0).
double regularizedIncompleteBeta(double x, double a, double b);

// The mean of n values with its two-sided t interval at `level` (NaN bounds when n < 2: one value
// says nothing of the spread).
struct MeanInterval {
  int n = 0;
  double mean = 0.0;
  double sd = 0.0;  // sample standard deviation (n - 1)
  double low = 0.0, high = 0.0;
};
MeanInterval meanInterval(const std::vector<double>& values, double level = 0.95);

// The paired t-test of a[i] - b[i]: the mean difference with its interval, t and the two-sided p
// (NaN when n < 2; p is 1 and t 0 when every difference is 0, NaN bounds aside).
struct PairedTest {
  MeanInterval difference;
  double t = 0.0;
  double p = 1.0;
};
PairedTest pairedTTest(const std::vector<double>& a, const std::vector<double>& b,
                       double level = 0.95);

// The Wilson score interval of a proportion `p` seen over `n` > 0 trials (z 1.96: 95%), within
// [0, 1]. Every accuracy interval of the workbench is this one.
std::pair<double, double> wilsonScoreInterval(double p, double n, double z = 1.959963984540054);

// McNemar's exact test: of the questions two models answer differently, `only_a` only the first
// gets right and `only_b` only the second. Under "both are as good" each such question goes either
// way with probability 1/2; returns the two-sided p, min(1, 2 P(X <= min(only_a, only_b))) for X
// binomial(only_a + only_b, 1/2); 1 when they never differ.
double mcnemarExactP(long long only_a, long long only_b);

}  // namespace mola
