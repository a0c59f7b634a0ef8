// SPDX-License-Identifier: GPL-3.0-or-later
// The CUDA launchers of the routing operators (routing_ops.cu): a thread per (token, module) row
// running the functions of routing_rows.h. Plain pointers and sizes, no ATen: routing_ops.cpp
// checks the tensors and passes the current stream (and uses the launch descriptors in a build
// without CUDA too, where the launchers are not defined). Instantiated for (S, A) = (float, float),
// (double, double), (c10::BFloat16, float), (c10::Half, float). Throw std::runtime_error when a
// launch fails.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace mola::cuda {

template <typename S, typename A>
void route(const S* logits, int64_t tokens, int64_t modules, int64_t row_stride, int64_t n,
           int64_t k, A* probs, int64_t* idx, A* gate, void* stream);

template <typename S, typename A>
void gateExperts(const S* z, int64_t tokens, int64_t modules, int64_t row_stride,
                 const int64_t* idx, const A* gate, int64_t n, int64_t k, int64_t r, A scaling,
                 bool root, S* out, void* stream);

// gprobs strides in elements: per token, per module, per expert.
template <typename S, typename A>
void routeBackward(const S* gzg, const S* z, int64_t tokens, int64_t modules, int64_t z_stride,
                   const A* probs, const int64_t* idx, const A* gate, const A* gprobs,
                   int64_t gp_token, int64_t gp_module, int64_t gp_expert, int64_t n, int64_t k,
                   int64_t r, A scaling, bool root, S* gz, S* glogits, void* stream);

// One layer's routing in router_sums: probs [tokens, modules, n] and idx [tokens, modules, k]
// (contiguous), of the layer whose SumsLayer lists it.
struct SumsBlock {
  const void* probs;
  const int64_t* idx;
  int64_t tokens, modules, k;
};
// A layer's blocks (blocks [first_block, first_block + blocks) of the list) and its slots
// [offset, offset + 2n + 2) in the output.
struct SumsLayer {
  int64_t first_block, blocks, n, offset;
};

// The launches router_sums makes: runs [begin, end) of consecutive layers, each run at most
// max_layers layers with at most max_blocks blocks in all (layers list their blocks in order,
// first_block counting on from the layer before). Throws for a layer with more than max_blocks.
inline std::vector<std::pair<int64_t, int64_t>> sumsChunks(const SumsLayer* layers, int64_t count,
                                                           int64_t max_layers, int64_t max_blocks) {
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t begin = 0;
  while (begin < count) {
    int64_t end = begin;
    while (end < count && end - begin < max_layers &&
           layers[end].first_block + layers[end].blocks - layers[begin].first_block <= max_blocks)
      ++end;
    if (end == begin)
      throw std::runtime_error("mola::router_sums: layer " + std::to_string(begin) + " has " +
                               std::to_string(layers[begin].blocks) +
                               " routed blocks, more than one launch takes (" +
                               std::to_string(max_blocks) + ")");
    out.emplace_back(begin, end);
    begin = end;
  }
  return out;
}

// Every layer's slots of out (fp64) set to its routing sums; weights [tokens] or null. A block
// of 256 threads per (layer, slot), one launch per run of sumsChunks.
template <typename A>
void routerSums(const SumsBlock* blocks, const SumsLayer* layers, int64_t layer_count,
                const A* weights, double* out, void* stream);

// The balance loss of `layers` layers from their sums (routing_rows.h layerBalance), in one
// thread: loss [] and coef [sum n]. At most kMaxBalanceLayers layers.
constexpr int64_t kMaxBalanceLayers = 160;
template <typename A>
void balanceFromSums(const double* local, const double* global, const int64_t* experts,
                     const int64_t* top_k, int64_t layers, double coefficient, A* loss, A* coef,
                     void* stream);

}  // namespace mola::cuda
