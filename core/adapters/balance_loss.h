// SPDX-License-Identifier: GPL-3.0-or-later
// Load-balancing loss and router statistics over the routing records of MolaLinear modules.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

#include "adapters/mola_linear.h"
#include "adapters/router_stats.h"
#include "dist/tensor_reducer.h"

namespace torch::serialize {
class OutputArchive;
class InputArchive;
}  // namespace torch::serialize

namespace mola {

// The routings of one decoder layer's modules (all with the same N_j and the same tokens).
using LayerRoutings = std::vector<const Routing*>;

// L_layer = N_j * sum_i f_i * P_i over the concatenated routings of the layer's modules, where f_i
// is the share of top-K selections that went to expert i and P_i the mean router probability.
// token_mask: [T] bool, true for real tokens; undefined means every token counts. Padding tokens
// are excluded from both f and P. Uniform routing gives 1. Returns an fp32 scalar with gradient
// through P.
torch::Tensor layerBalanceLoss(const LayerRoutings& modules, const torch::Tensor& token_mask = {});

// coefficient * sum over layers of L_layer; layers without a router (N_j = 1) are skipped: their
// term would be the constant 1.
// With `reduce` (a data-parallel run, each rank holding its share of the batch's tokens) f and the
// token count are summed across ranks first, and each rank returns its share of the global loss:
// N_j * sum_i f_i * (its probability sum of expert i) / (all ranks' tokens). The shares add up to
// the loss of the whole batch, and so do their gradients.
torch::Tensor balanceLoss(const std::vector<LayerRoutings>& layers, const torch::Tensor& token_mask,
                          double coefficient, const TensorReducer& reduce = {});

// Sums routing counts on the device across forward calls; only snapshot() syncs with the host.
class RouterStatsAccumulator {
 public:
  explicit RouterStatsAccumulator(std::vector<int> experts_per_layer);

  // Adds one layer's routings of one forward call (token_mask as for layerBalanceLoss).
  void add(int layer, const LayerRoutings& modules, const torch::Tensor& token_mask = {});
  RouterStatsSnapshot snapshot(int64_t step) const;
  void reset();
  // Sums every layer's sums across ranks in one collective (zeros where a rank has none).
  void reduce(const TensorReducer& sum);
  // The sums since the last reset, into a checkpoint's archive and back (keys "router.<layer>.*";
  // loaded sums go to `device`, where the routings that follow are summed).
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive, const c10::Device& device);

 private:
  struct Sums {
    torch::Tensor selections;   // [N] top-K selections per expert
    torch::Tensor prob_sum;     // [N] summed router probabilities
    torch::Tensor entropy_sum;  // [] summed per-token entropy
    torch::Tensor tokens;       // [] tokens counted
  };
  std::vector<int> m_experts;
  std::vector<Sums> m_sums;
};

}  // namespace mola
