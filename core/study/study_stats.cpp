// SPDX-License-Identifier: GPL-3.0-or-later
// Student's t from the regularised incomplete beta function (Lentz's continued fraction).
#include "study/study_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace mola {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)).
double betaContinuedFraction(double x, double a, double b) {
  constexpr double kTiny = 1e-300, kEps = 1e-15;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1.0 / d;
  double f = d;
  for (int m = 1; m <= 1000; ++m) {
    for (int half = 0; half < 2; ++half) {
      // d_{2m} then d_{2m+1}.
      const double num = half == 0 ? m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
                                   : -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
      d = 1.0 + num * d;
      if (std::fabs(d) < kTiny) d = kTiny;
      c = 1.0 + num / c;
      if (std::fabs(c) < kTiny) c = kTiny;
      d = 1.0 / d;
      f *= c * d;
      if (half == 1 && std::fabs(c * d - 1.0) < kEps) return f;
    }
  }
  return f;
}

}  // namespace

double regularizedIncompleteBeta(double x, double a, double b) {
  if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1))
    throw std::invalid_argument("incomplete beta: needs a, b > 0 and 0 <= x <= 1");
  if (x == 0 || x == 1) return x;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * betaContinuedFraction(x, a, b) / a;
  return 1.0 - front * betaContinuedFraction(1 - x, b, a) / b;
}

double studentTCdf(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("Student's t: needs df > 0");
  if (std::isnan(t)) return kNaN;
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double tail = 0.5 * regularizedIncompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t > 0 ? 1.0 - tail : tail;
}

double studentTQuantile(double p, double df) {
  if (!(p > 0) || !(p < 1)) throw std::invalid_argument("Student's t quantile: needs 0 < p < 1");
  if (p == 0.5) return 0.0;
  // Bisection on the CDF: bracket first, then 200 halvings (far below double's resolution).
  double lo = -1, hi = 1;
  while (studentTCdf(lo, df) > p) lo *= 2;
  while (studentTCdf(hi, df) < p) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-14 * std::max(1.0, std::fabs(lo)); ++i) {
    const double mid = 0.5 * (lo + hi);
    (studentTCdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

MeanInterval meanInterval(const std::vector<double>& values, double level) {
  MeanInterval m;
  m.n = static_cast<int>(values.size());
  if (m.n == 0) {
    m.mean = m.sd = m.low = m.high = kNaN;
    return m;
  }
  m.mean = std::accumulate(values.begin(), values.end(), 0.0) / m.n;
  if (m.n < 2) {
    m.sd = m.low = m.high = kNaN;
    return m;
  }
  double ss = 0;
  for (double v : values) ss += (v - m.mean) * (v - m.mean);
  m.sd = std::sqrt(ss / (m.n - 1));
  const double half = studentTQuantile(0.5 + level / 2, m.n - 1) * m.sd / std::sqrt(double(m.n));
  m.low = m.mean - half;
  m.high = m.mean + half;
  return m;
}

PairedTest pairedTTest(const std::vector<double>& a, const std::vector<double>& b, double level) {
  if (a.size() != b.size())
    throw std::invalid_argument("paired t-test: the samples differ in size");
  std::vector<double> d(a.size());
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  PairedTest r;
  r.difference = meanInterval(d, level);
  if (r.difference.n < 2) {
    r.t = r.p = kNaN;
    return r;
  }
  if (r.difference.sd == 0) {
    r.t = r.difference.mean == 0 ? 0.0 : std::copysign(INFINITY, r.difference.mean);
    r.p = r.difference.mean == 0 ? 1.0 : 0.0;
    return r;
  }
  r.t = r.difference.mean / (r.difference.sd / std::sqrt(double(r.difference.n)));
  r.p = 2 * studentTCdf(-std::fabs(r.t), r.difference.n - 1);
  return r;
}

std::pair<double, double> wilsonScoreInterval(double p, double n, double z) {
  const double z2 = z * z;
  const double denom = 1.0 + z2 / n;
  const double centre = (p + z2 / (2.0 * n)) / denom;
  const double half = z * std::sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom;
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double mcnemarExactP(long long only_a, long long only_b) {
  if (only_a < 0 || only_b < 0) throw std::invalid_argument("mcnemarExactP: negative counts");
  const long long n = only_a + only_b, k = std::min(only_a, only_b);
  if (n == 0) return 1.0;
  // sum_{i <= k} C(n, i) / 2^n, each term from lgamma: no overflow for any n.
  double tail = 0.0;
  const double log_half_n = double(n) * std::log(0.5);
  for (long long i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(double(n) + 1) - std::lgamma(double(i) + 1) -
                     std::lgamma(double(n - i) + 1) + log_half_n);
  return std::min(1.0, 2.0 * tail);
}

}  // namespace mola
