// SPDX-License-Identifier: GPL-3.0-or-later
// The allocation advisor: apportioning a budget, the power-law fit, the two strategies.
#include "study/advisor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace mola {

namespace {

std::string format(const char* fmt, double a, double b = 0, double c = 0) {
  char buf[200];
  std::snprintf(buf, sizeof buf, fmt, a, b, c);
  return buf;
}

}  // namespace

std::vector<int> apportion(const std::vector<double>& weights, int budget, int min_each) {
  const int n = static_cast<int>(weights.size());
  if (n == 0) throw std::invalid_argument("apportion: no layers");
  if (min_each < 0 || int64_t(budget) < int64_t(min_each) * n)
    throw std::invalid_argument("a budget of " + std::to_string(budget) + " experts cannot give " +
                                std::to_string(n) + " layers " + std::to_string(min_each) +
                                " each");
  double sum = 0;
  for (double w : weights) {
    if (!std::isfinite(w) || w < 0)
      throw std::invalid_argument("apportion: a weight is negative or not finite");
    sum += w;
  }
  if (sum <= 0) throw std::invalid_argument("apportion: every weight is 0");
  std::vector<double> share(n), rest(n);
  std::vector<int> out(n);
  int total = 0;
  for (int j = 0; j < n; ++j) {
    share[j] = budget * weights[j] / sum;
    out[j] = std::max(min_each, static_cast<int>(std::floor(share[j])));
    total += out[j];
  }
  while (total != budget) {
    int pick = -1;
    for (int j = 0; j < n; ++j) {
      const double r = share[j] - out[j];
      if (total < budget) {  // the largest remainder gains one
        if (pick < 0 || r > share[pick] - out[pick]) pick = j;
      } else if (out[j] > min_each) {  // the smallest remainder gives one back
        if (pick < 0 || r < share[pick] - out[pick]) pick = j;
      }
    }
    out[pick] += total < budget ? 1 : -1;
    total += total < budget ? 1 : -1;
  }
  return out;
}

PowerLawFit fitPowerLaw(std::vector<double> values) {
  values.erase(std::remove_if(values.begin(), values.end(),
                              [](double v) { return !(v > 0) || !std::isfinite(v); }),
               values.end());
  const int n_all = static_cast<int>(values.size());
  if (n_all < 5)
    throw std::invalid_argument("a power-law fit needs at least 5 positive values, got " +
                                std::to_string(n_all));
  std::sort(values.begin(), values.end());
  std::vector<double> logs(n_all);
  for (int i = 0; i < n_all; ++i) logs[i] = std::log(values[i]);
  // Suffix sums of the logs: the tail from i sums to suffix[i].
  std::vector<double> suffix(n_all + 1, 0.0);
  for (int i = n_all - 1; i >= 0; --i) suffix[i] = suffix[i + 1] + logs[i];
  const int min_tail = std::max(5, n_all / 10);
  PowerLawFit best;
  best.ks = INFINITY;
  for (int i = 0; n_all - i >= min_tail; ++i) {
    if (i > 0 && values[i] == values[i - 1]) continue;  // the same xmin
    const int n = n_all - i;
    const double denom = suffix[i] - n * logs[i];
    if (!(denom > 0)) continue;  // every tail value equal
    const double alpha = 1.0 + n / denom;
    double ks = 0;
    for (int k = 0; k < n; ++k) {
      const double model = 1.0 - std::pow(values[i + k] / values[i], 1.0 - alpha);
      ks = std::max({ks, std::fabs(model - double(k) / n), std::fabs(model - double(k + 1) / n)});
    }
    if (ks < best.ks) best = {alpha, values[i], n, ks};
  }
  if (!std::isfinite(best.ks))
    throw std::invalid_argument("a power-law fit needs values that are not all equal");
  return best;
}

AllocationAdvice adviseFromSpectra(const std::vector<double>& layer_alpha, int budget, double beta,
                                   int min_each) {
  std::vector<double> weights;
  for (double a : layer_alpha) weights.push_back(std::pow(a, beta));
  const std::vector<int> experts = apportion(weights, budget, min_each);
  const double mean =
      std::accumulate(layer_alpha.begin(), layer_alpha.end(), 0.0) / double(layer_alpha.size());
  AllocationAdvice advice{"spectra", Allocation(experts), {}, ""};
  for (size_t j = 0; j < experts.size(); ++j) {
    const double a = layer_alpha[j];
    const char* how = a > mean * 1.02   ? "a lighter tail than the mean %.2f: less trained"
                      : a < mean * 0.98 ? "a heavier tail than the mean %.2f: better trained"
                                        : "about the mean %.2f";
    advice.layers.push_back({static_cast<int>(j), experts[j], a,
                             format("heavy-tail exponent %.2f, ", a) + format(how, mean)});
  }
  advice.summary =
      "Training-free (AlphaLoRA): each layer's heavy-tail exponent alpha is fitted "
      "to the eigenvalues of W^T W of its frozen projections and averaged; layers "
      "with a lighter tail (higher alpha) are less trained and get more experts, in "
      "proportion to alpha^" +
      format("%.2g", beta) + ", " + std::to_string(budget) + " experts in all, at least " +
      std::to_string(min_each) + " per layer.";
  return advice;
}

AllocationAdvice adviseFromRouter(const std::vector<RouterStatsSnapshot>& stats,
                                  const Allocation& pilot, int budget, int min_each) {
  if (stats.empty())
    throw std::invalid_argument("the pilot run has no router statistics (it routed nothing yet)");
  const int64_t last = stats.back().step;
  const int layers = pilot.numLayers();
  std::vector<double> effective(layers, 1.0), entropy(layers, 0.0), cv(layers, 0.0);
  std::vector<int> seen(layers, 0);
  std::vector<double> sum_effective(layers, 0.0);
  for (const RouterStatsSnapshot& s : stats) {
    if (2 * s.step < last) continue;  // the second half of the run
    for (const LayerRouterStats& l : s.layers) {
      if (l.layer < 0 || l.layer >= layers) continue;
      double h = 0, total = 0;
      for (double f : l.token_fraction)
        if (f > 0 && std::isfinite(f)) total += f;
      for (double f : l.token_fraction)
        if (f > 0 && std::isfinite(f)) h -= f / total * std::log(f / total);
      sum_effective[l.layer] += std::exp(h);
      entropy[l.layer] += l.normalized_entropy;
      cv[l.layer] += l.load_cv;
      ++seen[l.layer];
    }
  }
  for (int j = 0; j < layers; ++j)
    if (seen[j] > 0) {
      effective[j] = sum_effective[j] / seen[j];
      entropy[j] /= seen[j];
      cv[j] /= seen[j];
    }
  const std::vector<int> experts = apportion(effective, budget, min_each);
  AllocationAdvice advice{"router", Allocation(experts), {}, ""};
  for (int j = 0; j < layers; ++j) {
    std::string reason;
    if (seen[j] == 0) {
      reason = "no router in the pilot (1 expert): counted as using 1";
    } else {
      reason = format("load spread over %.2f of %.0f experts", effective[j], pilot.experts(j)) +
               format(" (load CV %.2f, router entropy %.2f)", cv[j], entropy[j]);
      const double used = effective[j] / pilot.experts(j);
      reason += used > 0.9 ? ": saturated" : used < 0.6 ? ": experts left idle" : "";
    }
    advice.layers.push_back({j, experts[j], effective[j], reason});
  }
  advice.summary =
      "From the pilot run's routers (steps " + std::to_string(last / 2) + "-" +
      std::to_string(last) +
      "): each layer gets experts in proportion to how many it spread its load over (the "
      "exponential of the entropy of its experts' token shares), " +
      std::to_string(budget) + " in all, at least " + std::to_string(min_each) + " per layer.";
  bool all_saturated = true, any_routed = false;
  for (int j = 0; j < layers; ++j)
    if (seen[j] > 0) {
      any_routed = true;
      all_saturated &= effective[j] / pilot.experts(j) > 0.9;
    }
  if (any_routed && all_saturated)
    advice.summary +=
        " Every layer spread its load over nearly all of its experts, so the load cannot rank "
        "the layers: this pilot says little (a load-balancing loss evens the load out; a pilot "
        "without one, adapter.balance_coefficient 0, may read better).";
  return advice;
}

std::string describeAdvice(const AllocationAdvice& advice) {
  std::string out = "proposal (" + advice.strategy + "): " + advice.allocation.toList() + "\n" +
                    advice.summary + "\n";
  for (auto it = advice.layers.rbegin(); it != advice.layers.rend(); ++it) {
    char head[64];
    std::snprintf(head, sizeof head, "  layer %3d  %3d experts  ", it->layer + 1, it->experts);
    out += head + it->reason + "\n";
  }
  return out;
}

}  // namespace mola
