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

// What one decoder layer routed: the modules' routings, each [T, N_j] or, for a fused group of M
// modules, [T, M, N_j] (MolaLinearImpl::routingBlock), all with the same N_j and the same tokens.
using LayerRoutings = std::vector<const Routing*>;

// One forward pass's routing summed per layer on the routings' device (no host sync, no
// gradient; one operator for every layer): for layer j, the slots [selections N_j, probability
// sums N_j, entropy sum, rows] in fp64, rows counting a token once per routed module.
struct RoutingSums {
  torch::Tensor values;          // [sum_j (2 N_j + 2)] fp64
  std::vector<int64_t> experts;  // N_j; 0 for a layer that routed nothing
  std::vector<int64_t> top_k;    // K_j; 0 for a layer that routed nothing
  torch::Tensor weights;         // [T] each token's weight (the mask's dtype-cast), or undefined
};

// token_mask: [T] bool, true for real tokens (undefined: every token counts); padding counts in
// nothing. experts_per_layer: the allocation's N_j (checked against the routings; a layer without
// routings gets zeros), or empty to take N_j from the routings (0 where a layer has none).
RoutingSums routingSums(const std::vector<LayerRoutings>& layers,
                        const torch::Tensor& token_mask = {},
                        const std::vector<int>& experts_per_layer = {});

// L_layer = N_j * sum_i f_i * P_i over the routings of the layer's modules, where f_i is the share
// of top-K selections that went to expert i and P_i the mean router probability, padding tokens
// excluded. Uniform routing gives 1. Returns a scalar in the routings' dtype (fp32, or fp64 for
// fp64 routings) with gradient through P.
torch::Tensor layerBalanceLoss(const LayerRoutings& modules, const torch::Tensor& token_mask = {});

// coefficient * sum over layers of L_layer from `sums` (routingSums of the same routings);
// layers without a router (N_j = 1) are skipped: their term would be the constant 1.
// With `reduce` (a data-parallel run, each rank holding its share of the batch's tokens) the sums
// are summed across ranks first (one collective of sums.values' layout), and each rank returns
// its share of the global loss: N_j * sum_i f_i * (its probability sum of expert i) / (all ranks'
// tokens). The shares add up to the loss of the whole batch, and so do their gradients. Two
// operators forward, one or two element-wise kernels per layer backward.
torch::Tensor balanceLoss(const RoutingSums& sums, const std::vector<LayerRoutings>& layers,
                          double coefficient, const TensorReducer& reduce = {});
// The same, summing the routings first.
torch::Tensor balanceLoss(const std::vector<LayerRoutings>& layers, const torch::Tensor& token_mask,
                          double coefficient, const TensorReducer& reduce = {});

// Sums routing counts on the device across forward calls; only snapshot() syncs with the host.
class RouterStatsAccumulator {
 public:
  explicit RouterStatsAccumulator(std::vector<int> experts_per_layer);

  // Adds one forward call's sums (routingSums with this accumulator's experts per layer).
  void add(const RoutingSums& sums);
  // Adds one layer's routings of one forward call (token_mask as for routingSums).
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
  std::vector<int> m_experts;
  std::vector<int64_t> m_offsets;  // each layer's slots in m_values (RoutingSums' layout)
  torch::Tensor m_values;          // undefined until the first add
};

}  // namespace mola
