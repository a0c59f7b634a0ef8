// SPDX-License-Identifier: GPL-3.0-or-later
// The routing of a fused adapter group as three operators (mola::route, mola::gate_experts,
// mola::route_backward), each one loop over the rows on the CPU and one kernel on a CUDA device,
// instead of a dozen element-wise operators each. Registered with LibTorch's dispatcher, so its
// profiler and `mola bench --profile` see them; the arithmetic is core/adapters/routing_rows.h.
// No autograd: FusedExperts (mola_linear.cpp) calls them in its forward and backward.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <tuple>
#include <vector>

namespace mola::ops {

// logits [T, M*N] (column stride 1, any row stride): the M modules' router logits of T tokens.
// Returns probs [T, M, N] (softmax in fp32, fp64 for fp64 logits), idx [T, M, K] (int64, the K
// largest, descending) and gate [T, M, K] (probs[idx] renormalised to sum 1, dtype of probs).
std::tuple<at::Tensor, at::Tensor, at::Tensor> route(const at::Tensor& logits, int64_t modules,
                                                     int64_t top_k);

// z [T, M*N*r] (column stride 1): the experts' A products. Returns [T, M*N*r] in z's dtype, each
// expert's rank-r block times scaling * gate (sqrt(gate) when `root`), 0 for experts not chosen.
at::Tensor gateExperts(const at::Tensor& z, const at::Tensor& idx, const at::Tensor& gate,
                       int64_t rank, double scaling, bool root);

// The backward pass of route + gateExperts. gzg [T, M*N*r] (d loss / d gateExperts' output, or
// undefined) and gprobs [T, M, N] (d loss / d probs, any strides, or undefined; not both).
// Returns gz = gzg times each expert's factor (with sqrt(gate) when `root`: the gate-aware
// rescaling), undefined without gzg, and glogits [T, M*N] (d loss / d logits), both in z's dtype.
std::tuple<at::Tensor, at::Tensor> routeBackward(const at::Tensor& gzg, const at::Tensor& z,
                                                 const at::Tensor& probs, const at::Tensor& idx,
                                                 const at::Tensor& gate, const at::Tensor& gprobs,
                                                 int64_t rank, double scaling, bool root);

// Where each layer's slots start in routerSums' output, for experts n_j per layer: [layers + 1]
// running sums of 2 n_j + 2 (the last is the output's size).
std::vector<int64_t> sumsOffsets(at::IntArrayRef experts);

// Every layer's routing summed in one fp64 tensor: for layer j (experts[j] = n_j, 0 for a layer
// without routing) the slots [selections n_j, probability sums n_j, entropy sum, rows] (see
// rows::sumsContribution), rows weighted by weights[token] (undefined: 1). probs[b] [T, M_b, n]
// or [T, n] (fp32 or fp64, all alike) and idx[b] [T, M_b, K] or [T, K] belong to layer
// block_layer[b]. One launch per up to 16 layers and 48 blocks on a GPU; no gradient.
at::Tensor routerSums(at::TensorList probs, at::TensorList idx, const at::Tensor& weights,
                      at::IntArrayRef block_layer, at::IntArrayRef experts);

// The balance loss of every layer from routerSums' sums (rows::layerBalance): `local` this
// process's, `global` summed over every rank (the same tensor in one process). Returns the loss
// [] and coef [sum_j n_j] (d loss / d a row's probability, before the row's weight), both in
// `dtype` (fp32 or fp64).
std::tuple<at::Tensor, at::Tensor> balanceFromSums(const at::Tensor& local,
                                                   const at::Tensor& global,
                                                   at::IntArrayRef experts, at::IntArrayRef top_k,
                                                   double coefficient, at::ScalarType dtype);

}  // namespace mola::ops
