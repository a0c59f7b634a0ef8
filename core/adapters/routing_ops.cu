// SPDX-License-Identifier: GPL-3.0-or-later
// The routing operators' CUDA kernels: one thread per (token, module) row, each running the
// functions of routing_rows.h that the CPU operators run too.
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "adapters/routing_ops_cuda.h"
#include "adapters/routing_rows.h"

namespace mola::cuda {

namespace {

constexpr int kThreads = 128;

// The layers of balanceKernel, passed by value (kernel parameters, no copy to the device).
struct BalanceLayers {
  int64_t count;
  int64_t experts[kMaxBalanceLayers];
  int64_t top_k[kMaxBalanceLayers];
};

__device__ inline int64_t rowIndex() {
  return int64_t(blockIdx.x) * int64_t(blockDim.x) + int64_t(threadIdx.x);
}

unsigned blocksFor(int64_t rows) {
  return static_cast<unsigned>((rows + kThreads - 1) / kThreads);
}

void checkLaunch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("mola::") + what +
                             ": CUDA launch failed: " + cudaGetErrorString(err));
}

template <typename S, typename A>
__global__ void routeKernel(const S* logits, int64_t rows, int64_t modules, int64_t row_stride,
                            int64_t n, int64_t k, A* probs, int64_t* idx, A* gate) {
  const int64_t row = rowIndex();
  if (row >= rows) return;
  const int64_t t = row / modules, m = row % modules;
  ::mola::rows::route<S, A>(logits + t * row_stride + m * n, n, k, probs + row * n, idx + row * k,
                            gate + row * k);
}

template <typename S, typename A>
__global__ void gateExpertsKernel(const S* z, int64_t rows, int64_t modules, int64_t row_stride,
                                  const int64_t* idx, const A* gate, int64_t n, int64_t k,
                                  int64_t r, A scaling, bool root, S* out) {
  const int64_t row = rowIndex();
  if (row >= rows) return;
  const int64_t t = row / modules, m = row % modules;
  ::mola::rows::gateExperts<S, A>(z + t * row_stride + m * n * r, idx + row * k, gate + row * k, n,
                                  k, r, scaling, root, out + row * n * r);
}

template <typename S, typename A>
__global__ void routeBackwardKernel(const S* gzg, const S* z, int64_t rows, int64_t modules,
                                    int64_t z_stride, const A* probs, const int64_t* idx,
                                    const A* gate, const A* gprobs, int64_t gp_token,
                                    int64_t gp_module, int64_t gp_expert, int64_t n, int64_t k,
                                    int64_t r, A scaling, bool root, S* gz, S* glogits) {
  const int64_t row = rowIndex();
  if (row >= rows) return;
  const int64_t t = row / modules, m = row % modules, nr = n * r;
  ::mola::rows::routeBackward<S, A>(
      gzg ? gzg + row * nr : nullptr, z + t * z_stride + m * nr, probs + row * n, idx + row * k,
      gate + row * k, gprobs ? gprobs + t * gp_token + m * gp_module : nullptr, gp_expert, n, k, r,
      scaling, root, gz ? gz + row * nr : nullptr, glogits + row * n);
}

constexpr int kSumsThreads = 256, kChunkLayers = 16, kChunkBlocks = 48;

// What one launch of routerSumsKernel reads: up to kChunkLayers layers and their blocks.
template <typename A>
struct SumsChunk {
  SumsBlock block[kChunkBlocks];
  SumsLayer layer[kChunkLayers];  // first_block counts from block[0]
  const A* weights;
  double* out;
};

// Block (layer, slot): the layer's slot summed over the rows of all its blocks.
template <typename A>
__global__ void routerSumsKernel(const SumsChunk<A> c) {
  const SumsLayer& layer = c.layer[blockIdx.x];
  const int64_t slot = blockIdx.y;
  if (slot >= 2 * layer.n + 2) return;
  double acc = 0;
  for (int64_t b = layer.first_block; b < layer.first_block + layer.blocks; ++b) {
    const SumsBlock& blk = c.block[b];
    const A* probs = static_cast<const A*>(blk.probs);
    const int64_t rows = blk.tokens * blk.modules;
    for (int64_t row = threadIdx.x; row < rows; row += blockDim.x) {
      const double w = c.weights ? static_cast<double>(c.weights[row / blk.modules]) : 1.0;
      if (w != 0.0)
        acc += w * ::mola::rows::sumsContribution<A>(slot, probs + row * layer.n,
                                                     blk.idx + row * blk.k, layer.n, blk.k);
    }
  }
  __shared__ double part[kSumsThreads];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int step = kSumsThreads / 2; step > 0; step /= 2) {
    if (threadIdx.x < step) part[threadIdx.x] += part[threadIdx.x + step];
    __syncthreads();
  }
  if (threadIdx.x == 0) c.out[layer.offset + slot] = part[0];
}

template <typename A>
__global__ void balanceKernel(const double* local, const double* global, const BalanceLayers layers,
                              double coefficient, A* loss, A* coef) {
  *loss = static_cast<A>(::mola::rows::balanceOfLayers<A>(
      local, global, layers.experts, layers.top_k, layers.count, coefficient, coef));
}

}  // namespace

template <typename A>
void routerSums(const SumsBlock* blocks, const SumsLayer* layers, int64_t layer_count,
                const A* weights, double* out, void* stream) {
  for (const auto& [begin, end] : sumsChunks(layers, layer_count, kChunkLayers, kChunkBlocks)) {
    SumsChunk<A> c{};
    c.weights = weights;
    c.out = out;
    const int64_t first_block = layers[begin].first_block;
    int64_t max_n = 0;
    for (int64_t j = begin; j < end; ++j) {
      c.layer[j - begin] = layers[j];
      c.layer[j - begin].first_block -= first_block;
      max_n = layers[j].n > max_n ? layers[j].n : max_n;
    }
    const int64_t block_count = layers[end - 1].first_block + layers[end - 1].blocks - first_block;
    for (int64_t b = 0; b < block_count; ++b) c.block[b] = blocks[first_block + b];
    routerSumsKernel<A><<<dim3(unsigned(end - begin), unsigned(2 * max_n + 2)), kSumsThreads, 0,
                          static_cast<cudaStream_t>(stream)>>>(c);
    checkLaunch("router_sums");
  }
}

template <typename A>
void balanceFromSums(const double* local, const double* global, const int64_t* experts,
                     const int64_t* top_k, int64_t layers, double coefficient, A* loss, A* coef,
                     void* stream) {
  if (layers > kMaxBalanceLayers)
    throw std::runtime_error("mola::balance_from_sums: more than " +
                             std::to_string(kMaxBalanceLayers) + " layers");
  BalanceLayers l{};
  l.count = layers;
  for (int64_t j = 0; j < layers; ++j) {
    l.experts[j] = experts[j];
    l.top_k[j] = top_k[j];
  }
  balanceKernel<A>
      <<<1, 1, 0, static_cast<cudaStream_t>(stream)>>>(local, global, l, coefficient, loss, coef);
  checkLaunch("balance_from_sums");
}

template <typename S, typename A>
void route(const S* logits, int64_t tokens, int64_t modules, int64_t row_stride, int64_t n,
           int64_t k, A* probs, int64_t* idx, A* gate, void* stream) {
  const int64_t rows = tokens * modules;
  if (rows == 0) return;
  routeKernel<S, A><<<blocksFor(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      logits, rows, modules, row_stride, n, k, probs, idx, gate);
  checkLaunch("route");
}

template <typename S, typename A>
void gateExperts(const S* z, int64_t tokens, int64_t modules, int64_t row_stride,
                 const int64_t* idx, const A* gate, int64_t n, int64_t k, int64_t r, A scaling,
                 bool root, S* out, void* stream) {
  const int64_t rows = tokens * modules;
  if (rows == 0) return;
  gateExpertsKernel<S, A><<<blocksFor(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      z, rows, modules, row_stride, idx, gate, n, k, r, scaling, root, out);
  checkLaunch("gate_experts");
}

template <typename S, typename A>
void routeBackward(const S* gzg, const S* z, int64_t tokens, int64_t modules, int64_t z_stride,
                   const A* probs, const int64_t* idx, const A* gate, const A* gprobs,
                   int64_t gp_token, int64_t gp_module, int64_t gp_expert, int64_t n, int64_t k,
                   int64_t r, A scaling, bool root, S* gz, S* glogits, void* stream) {
  const int64_t rows = tokens * modules;
  if (rows == 0) return;
  routeBackwardKernel<S, A><<<blocksFor(rows), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      gzg, z, rows, modules, z_stride, probs, idx, gate, gprobs, gp_token, gp_module, gp_expert, n,
      k, r, scaling, root, gz, glogits);
  checkLaunch("route_backward");
}

#define MOLA_ROUTING_INSTANTIATE(S, A)                                                             \
  template void route<S, A>(const S*, int64_t, int64_t, int64_t, int64_t, int64_t, A*, int64_t*,   \
                            A*, void*);                                                            \
  template void gateExperts<S, A>(const S*, int64_t, int64_t, int64_t, const int64_t*, const A*,   \
                                  int64_t, int64_t, int64_t, A, bool, S*, void*);                  \
  template void routeBackward<S, A>(const S*, const S*, int64_t, int64_t, int64_t, const A*,       \
                                    const int64_t*, const A*, const A*, int64_t, int64_t, int64_t, \
                                    int64_t, int64_t, int64_t, A, bool, S*, S*, void*);

template void routerSums<float>(const SumsBlock*, const SumsLayer*, int64_t, const float*, double*,
                                void*);
template void routerSums<double>(const SumsBlock*, const SumsLayer*, int64_t, const double*,
                                 double*, void*);
template void balanceFromSums<float>(const double*, const double*, const int64_t*, const int64_t*,
                                     int64_t, double, float*, float*, void*);
template void balanceFromSums<double>(const double*, const double*, const int64_t*, const int64_t*,
                                      int64_t, double, double*, double*, void*);

MOLA_ROUTING_INSTANTIATE(float, float)
MOLA_ROUTING_INSTANTIATE(double, double)
MOLA_ROUTING_INSTANTIATE(c10::BFloat16, float)
MOLA_ROUTING_INSTANTIATE(c10::Half, float)

}  // namespace mola::cuda
