// SPDX-License-Identifier: GPL-3.0-or-later
// The allocation advisor: experts per layer under a total budget, from a pilot run's router
// statistics or from the frozen weights' spectra (as AlphaLoRA, arXiv 2410.10054). Torch-free;
// the spectra's eigenvalues come from core/study/weight_spectra.h.
#pragma once

#include <string>
#include <vector>

#include "adapters/allocation.h"
#include "adapters/router_stats.h"

namespace mola {

// Whole numbers >= min_each that sum to `budget`, in proportion to `weights` as nearly as whole
// numbers allow: each gets the floor of its share (at least min_each), then the units left go to
// the largest remainders (ties to the lower layer), or, when the floors overshoot, units are taken
// back from the smallest remainders among those above min_each. std::invalid_argument when the
// budget is below min_each per entry, a weight is negative or not finite, or all are 0.
std::vector<int> apportion(const std::vector<double>& weights, int budget, int min_each);

// The power-law fit of a spectrum's tail, p(x) ~ x^-alpha for x >= xmin: the maximum-likelihood
// alpha = 1 + n / sum ln(x_i / xmin) for each candidate xmin among the values (keeping at least
// max(5, N/10) of them in the tail), the one whose fit is nearest to the tail's empirical
// distribution (Kolmogorov-Smirnov distance) chosen, as Clauset, Shalizi and Newman (2009).
// Values <= 0 are dropped; std::invalid_argument when fewer than 5 remain.
struct PowerLawFit {
  double alpha = 0.0;
  double xmin = 0.0;
  int tail = 0;     // values in the tail
  double ks = 0.0;  // the chosen fit's KS distance
};
PowerLawFit fitPowerLaw(std::vector<double> values);

// One layer of a proposal.
struct LayerAdvice {
  int layer = 0;       // 0-based
  int experts = 0;     // proposed
  double signal = 0;   // what the share was drawn from (see the strategy)
  std::string reason;  // one line, for people
};

struct AllocationAdvice {
  std::string strategy;  // "spectra" or "router"
  Allocation allocation;
  std::vector<LayerAdvice> layers;
  std::string summary;  // how the proposal came about, one paragraph
};

// Training-free: `layer_alpha[j]` is layer j's heavy-tail exponent (the mean over its target
// projections of fitPowerLaw on the eigenvalues of W^T W). A lower exponent marks a better
// trained layer (a heavier tail), so layer j's share is alpha_j^beta (AlphaLoRA: beta 2.5).
AllocationAdvice adviseFromSpectra(const std::vector<double>& layer_alpha, int budget, double beta,
                                   int min_each);

// From a pilot run: per layer, how many experts its router actually spread the load over (the
// exponential of the entropy of the token shares, averaged over the snapshots of the second half
// of the run: N for a perfectly balanced layer, 1 for a collapsed one). The budget goes in
// proportion to that, so saturated layers gain experts and collapsed ones give theirs up; a pilot
// with the same experts everywhere (square) gives the cleanest reading. Layers without a router
// count as using their one expert. std::invalid_argument when the run has no router statistics.
AllocationAdvice adviseFromRouter(const std::vector<RouterStatsSnapshot>& stats,
                                  const Allocation& pilot, int budget, int min_each);

// The proposal as text: the allocation, then one line per layer (top layer first).
std::string describeAdvice(const AllocationAdvice& advice);

}  // namespace mola
