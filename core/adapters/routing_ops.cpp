// SPDX-License-Identifier: GPL-3.0-or-later
// The routing operators: their checks, their registration with the dispatcher (library "mola"),
// the CPU loops over rows and, in a CUDA build, the kernels' launches (routing_ops.cu).
#include "adapters/routing_ops.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "adapters/routing_ops_cuda.h"
#include "adapters/routing_rows.h"

#ifdef MOLA_HAVE_C10_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace mola::ops {

namespace {

// The routing dtype of a compute dtype S: double for double, float otherwise.
template <typename S>
using Acc = std::conditional_t<std::is_same_v<S, double>, double, float>;

at::ScalarType routingType(at::ScalarType s) {
  return s == at::kDouble ? at::kDouble : at::kFloat;
}

// Calls f(row) for every row, in parallel blocks on LibTorch's CPU pool.
template <typename F>
void forRows(int64_t rows, const F& f) {
  at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) f(row);
  });
}

#ifdef MOLA_HAVE_C10_CUDA
void* currentStream(const at::Tensor& t) {
  return c10::cuda::getCurrentCUDAStream(t.device().index()).stream();
}
#endif

// Whether the operator runs on a CUDA device; throws for a device it has no kernel for.
bool onCuda(const at::Tensor& t, const char* op) {
  if (t.is_cpu()) return false;
#ifdef MOLA_HAVE_C10_CUDA
  if (t.is_cuda()) return true;
#endif
  TORCH_CHECK(false, op, ": no kernel for device ", t.device());
}

// [T, C] with unit column stride (a row-strided view is fine; anything else is copied).
at::Tensor rowsOf(const at::Tensor& t, const char* op, const char* name) {
  TORCH_CHECK(t.dim() == 2, op, ": ", name, " must be [tokens, columns], got shape ", t.sizes());
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name, " must be floating, got ",
              t.scalar_type());
  return t.size(1) <= 1 || t.stride(1) == 1 ? t : t.contiguous();
}

// idx and gate [T, M, K] as route returns them, for T tokens on the device of `like`.
void checkChoice(const at::Tensor& idx, const at::Tensor& gate, const at::Tensor& like,
                 const char* op) {
  TORCH_CHECK(idx.dim() == 3 && idx.scalar_type() == at::kLong && idx.is_contiguous(), op,
              ": idx must be a contiguous int64 [tokens, modules, K], got ", idx.sizes(), " ",
              idx.scalar_type());
  TORCH_CHECK(gate.sizes() == idx.sizes() && gate.is_contiguous() &&
                  gate.scalar_type() == routingType(like.scalar_type()),
              op, ": gate must be a contiguous ", routingType(like.scalar_type()), " ", idx.sizes(),
              ", got ", gate.sizes(), " ", gate.scalar_type());
  TORCH_CHECK(idx.size(0) == like.size(0), op, ": ", idx.size(0), " tokens routed, ", like.size(0),
              " given");
  TORCH_CHECK(idx.device() == like.device() && gate.device() == like.device(), op,
              ": every tensor must be on ", like.device());
}

// The expert count N of z [T, M*N*r] for M modules of rank r.
int64_t expertsOf(const at::Tensor& z, int64_t modules, int64_t rank, const char* op) {
  TORCH_CHECK(rank >= 1 && modules >= 1 && z.size(1) % (modules * rank) == 0, op, ": z has ",
              z.size(1), " columns, not a multiple of ", modules, " modules x rank ", rank);
  return z.size(1) / (modules * rank);
}

template <typename S>
void routeRows(const at::Tensor& logits, int64_t modules, at::Tensor& probs, at::Tensor& idx,
               at::Tensor& gate) {
  using A = Acc<S>;
  const int64_t t = logits.size(0), n = probs.size(2), k = idx.size(2), stride = logits.stride(0);
  const S* l = logits.data_ptr<S>();
  A* p = probs.data_ptr<A>();
  A* g = gate.data_ptr<A>();
  int64_t* i = idx.data_ptr<int64_t>();
  if (onCuda(logits, "mola::route")) {
#ifdef MOLA_HAVE_C10_CUDA
    const c10::cuda::CUDAGuard guard(logits.device());
    cuda::route<S, A>(l, t, modules, stride, n, k, p, i, g, currentStream(logits));
#endif
    return;
  }
  forRows(t * modules, [&](int64_t row) {
    const int64_t tok = row / modules, m = row % modules;
    rows::route<S, A>(l + tok * stride + m * n, n, k, p + row * n, i + row * k, g + row * k);
  });
}

template <typename S>
void gateRows(const at::Tensor& z, const at::Tensor& idx, const at::Tensor& gate, int64_t r,
              double scaling, bool root, at::Tensor& out) {
  using A = Acc<S>;
  const int64_t t = z.size(0), m = idx.size(1), k = idx.size(2), stride = z.stride(0);
  const int64_t n = z.size(1) / (m * r);
  const S* zp = z.data_ptr<S>();
  const int64_t* i = idx.data_ptr<int64_t>();
  const A* g = gate.data_ptr<A>();
  S* o = out.data_ptr<S>();
  if (onCuda(z, "mola::gate_experts")) {
#ifdef MOLA_HAVE_C10_CUDA
    const c10::cuda::CUDAGuard guard(z.device());
    cuda::gateExperts<S, A>(zp, t, m, stride, i, g, n, k, r, A(scaling), root, o, currentStream(z));
#endif
    return;
  }
  forRows(t * m, [&](int64_t row) {
    const int64_t tok = row / m, j = row % m;
    rows::gateExperts<S, A>(zp + tok * stride + j * n * r, i + row * k, g + row * k, n, k, r,
                            A(scaling), root, o + row * n * r);
  });
}

// route_backward's checked inputs; gzg and gprobs may be undefined (not both).
struct BackwardArgs {
  const at::Tensor &gzg, &z, &probs, &idx, &gate, &gprobs;
  int64_t rank;
  double scaling;
  bool root;
};

template <typename S>
void routeBackwardRows(const BackwardArgs& a, at::Tensor& gz, at::Tensor& glogits) {
  using A = Acc<S>;
  const int64_t t = a.z.size(0), m = a.idx.size(1), k = a.idx.size(2), r = a.rank;
  const int64_t n = a.probs.size(2), nr = n * r, stride = a.z.stride(0);
  const S* gzp = a.gzg.defined() ? a.gzg.data_ptr<S>() : nullptr;
  const S* zp = a.z.data_ptr<S>();
  const A* p = a.probs.data_ptr<A>();
  const int64_t* i = a.idx.data_ptr<int64_t>();
  const A* g = a.gate.data_ptr<A>();
  const bool has_gp = a.gprobs.defined();
  const A* gp = has_gp ? a.gprobs.data_ptr<A>() : nullptr;
  const int64_t gpt = has_gp ? a.gprobs.stride(0) : 0, gpm = has_gp ? a.gprobs.stride(1) : 0;
  const int64_t gpe = has_gp ? a.gprobs.stride(2) : 0;
  S* gzo = a.gzg.defined() ? gz.data_ptr<S>() : nullptr;
  S* gl = glogits.data_ptr<S>();
  const A scaling = A(a.scaling);
  if (onCuda(a.z, "mola::route_backward")) {
#ifdef MOLA_HAVE_C10_CUDA
    const c10::cuda::CUDAGuard guard(a.z.device());
    cuda::routeBackward<S, A>(gzp, zp, t, m, stride, p, i, g, gp, gpt, gpm, gpe, n, k, r, scaling,
                              a.root, gzo, gl, currentStream(a.z));
#endif
    return;
  }
  forRows(t * m, [&](int64_t row) {
    const int64_t tok = row / m, j = row % m;
    rows::routeBackward<S, A>(gzp ? gzp + row * nr : nullptr, zp + tok * stride + j * nr,
                              p + row * n, i + row * k, g + row * k,
                              gp ? gp + tok * gpt + j * gpm : nullptr, gpe, n, k, r, scaling,
                              a.root, gzo ? gzo + row * nr : nullptr, gl + row * n);
  });
}

// The launch descriptors of router_sums (plain structs, declared beside the CUDA launchers).
using cuda::SumsBlock;
using cuda::SumsLayer;

template <typename A>
void sumsRows(const std::vector<SumsBlock>& blocks, const std::vector<SumsLayer>& layers,
              const A* weights, at::Tensor& out) {
  if (onCuda(out, "mola::router_sums")) {
#ifdef MOLA_HAVE_C10_CUDA
    const c10::cuda::CUDAGuard guard(out.device());
    cuda::routerSums<A>(blocks.data(), layers.data(), int64_t(layers.size()), weights,
                        out.data_ptr<double>(), currentStream(out));
#endif
    return;
  }
  double* o = out.data_ptr<double>();
  for (const SumsLayer& layer : layers)
    for (int64_t slot = 0; slot < 2 * layer.n + 2; ++slot) {
      double acc = 0;
      for (int64_t b = layer.first_block; b < layer.first_block + layer.blocks; ++b) {
        const SumsBlock& blk = blocks[size_t(b)];
        const A* probs = static_cast<const A*>(blk.probs);
        for (int64_t row = 0; row < blk.tokens * blk.modules; ++row) {
          const double w = weights ? static_cast<double>(weights[row / blk.modules]) : 1.0;
          if (w != 0.0)
            acc += w * rows::sumsContribution<A>(slot, probs + row * layer.n, blk.idx + row * blk.k,
                                                 layer.n, blk.k);
        }
      }
      o[layer.offset + slot] = acc;
    }
}

template <typename A>
void balanceRows(const at::Tensor& local, const at::Tensor& global, at::IntArrayRef experts,
                 at::IntArrayRef top_k, double coefficient, at::Tensor& loss, at::Tensor& coef) {
  if (onCuda(local, "mola::balance_from_sums")) {
#ifdef MOLA_HAVE_C10_CUDA
    const c10::cuda::CUDAGuard guard(local.device());
    cuda::balanceFromSums<A>(local.data_ptr<double>(), global.data_ptr<double>(), experts.data(),
                             top_k.data(), int64_t(experts.size()), coefficient, loss.data_ptr<A>(),
                             coef.data_ptr<A>(), currentStream(local));
#endif
    return;
  }
  loss.fill_(rows::balanceOfLayers<A>(local.data_ptr<double>(), global.data_ptr<double>(),
                                      experts.data(), top_k.data(), int64_t(experts.size()),
                                      coefficient, coef.data_ptr<A>()));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> routeImpl(const at::Tensor& logits_in,
                                                         int64_t modules, int64_t top_k) {
  const char* op = "mola::route";
  const at::Tensor logits = rowsOf(logits_in, op, "logits");
  TORCH_CHECK(modules >= 1 && logits.size(1) % modules == 0 && logits.size(1) >= modules, op, ": ",
              logits.size(1), " logits per token do not split into ", modules, " modules");
  const int64_t t = logits.size(0), n = logits.size(1) / modules;
  TORCH_CHECK(top_k >= 1 && top_k <= n, op, ": top_k = ", top_k, " must lie in [1, ", n, "]");
  const auto acc = logits.options().dtype(routingType(logits.scalar_type()));
  at::Tensor probs = at::empty({t, modules, n}, acc), gate = at::empty({t, modules, top_k}, acc);
  at::Tensor idx = at::empty({t, modules, top_k}, logits.options().dtype(at::kLong));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, logits.scalar_type(), "mola::route",
                                  [&] { routeRows<scalar_t>(logits, modules, probs, idx, gate); });
  return {probs, idx, gate};
}

at::Tensor gateExpertsImpl(const at::Tensor& z_in, const at::Tensor& idx, const at::Tensor& gate,
                           int64_t rank, double scaling, bool root) {
  const char* op = "mola::gate_experts";
  const at::Tensor z = rowsOf(z_in, op, "z");
  checkChoice(idx, gate, z, op);
  expertsOf(z, idx.size(1), rank, op);
  at::Tensor out = at::empty(z.sizes(), z.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kBFloat16, at::kHalf, z.scalar_type(), "mola::gate_experts",
      [&] { gateRows<scalar_t>(z, idx, gate, rank, scaling, root, out); });
  return out;
}

std::tuple<at::Tensor, at::Tensor> routeBackwardImpl(const c10::optional<at::Tensor>& gzg_in,
                                                     const at::Tensor& z_in,
                                                     const at::Tensor& probs, const at::Tensor& idx,
                                                     const at::Tensor& gate,
                                                     const c10::optional<at::Tensor>& gprobs_in,
                                                     int64_t rank, double scaling, bool root) {
  const char* op = "mola::route_backward";
  const at::Tensor z = rowsOf(z_in, op, "z");
  checkChoice(idx, gate, z, op);
  const int64_t t = z.size(0), m = idx.size(1);
  const int64_t n = expertsOf(z, m, rank, op);
  TORCH_CHECK(probs.sizes() == at::IntArrayRef({t, m, n}) && probs.is_contiguous() &&
                  probs.scalar_type() == gate.scalar_type() && probs.device() == z.device(),
              op, ": probs must be a contiguous ", gate.scalar_type(), " [", t, ", ", m, ", ", n,
              "] on ", z.device(), ", got ", probs.sizes(), " ", probs.scalar_type());
  const bool has_gzg = gzg_in.has_value() && gzg_in->defined();
  const bool has_gprobs = gprobs_in.has_value() && gprobs_in->defined();
  TORCH_CHECK(has_gzg || has_gprobs, op, ": neither gzg nor gprobs is given");
  at::Tensor gzg, gprobs;
  if (has_gzg) {
    gzg = gzg_in->contiguous();
    TORCH_CHECK(gzg.sizes() == z.sizes() && gzg.scalar_type() == z.scalar_type() &&
                    gzg.device() == z.device(),
                op, ": gzg must be ", z.scalar_type(), " ", z.sizes(), " on ", z.device(), ", got ",
                gzg.scalar_type(), " ", gzg.sizes());
  }
  if (has_gprobs) {
    gprobs = gprobs_in->to(probs.scalar_type());
    TORCH_CHECK(gprobs.sizes() == probs.sizes() && gprobs.device() == z.device(), op,
                ": gprobs must be ", probs.sizes(), " on ", z.device(), ", got ", gprobs.sizes());
  }
  at::Tensor gz = has_gzg ? at::empty(z.sizes(), z.options()) : at::empty({0}, z.options());
  at::Tensor glogits = at::empty({t, m * n}, z.options());
  const BackwardArgs args{gzg, z, probs, idx, gate, gprobs, rank, scaling, root};
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, z.scalar_type(), "mola::route_backward",
                                  [&] { routeBackwardRows<scalar_t>(args, gz, glogits); });
  return {gz, glogits};
}

at::Tensor routerSumsImpl(at::TensorList probs_in, at::TensorList idx_in,
                          const c10::optional<at::Tensor>& weights_in, at::IntArrayRef block_layer,
                          at::IntArrayRef experts) {
  const char* op = "mola::router_sums";
  TORCH_CHECK(!probs_in.empty(), op, ": no routing given");
  TORCH_CHECK(idx_in.size() == probs_in.size() && block_layer.size() == probs_in.size(), op, ": ",
              probs_in.size(), " probability tensors, ", idx_in.size(), " index tensors and ",
              block_layer.size(), " layer numbers");
  const std::vector<int64_t> off = sumsOffsets(experts);
  const at::ScalarType type = probs_in[0].scalar_type();
  TORCH_CHECK(type == at::kFloat || type == at::kDouble, op, ": probs must be fp32 or fp64, got ",
              type);
  const int64_t tokens = probs_in[0].size(0);
  const bool weighted = weights_in.has_value() && weights_in->defined();
  at::Tensor weights;
  if (weighted) {
    weights = weights_in->contiguous();
    TORCH_CHECK(weights.dim() == 1 && weights.size(0) == tokens && weights.scalar_type() == type,
                op, ": weights must be ", type, " [", tokens, "], got ", weights.scalar_type(), " ",
                weights.sizes());
  }
  // Blocks as [T, M, n] / [T, M, K], listed layer by layer.
  std::vector<size_t> order(probs_in.size());
  for (size_t b = 0; b < order.size(); ++b) order[b] = b;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return block_layer[a] < block_layer[b]; });
  std::vector<at::Tensor> probs, idx;
  for (size_t b : order) {
    const int64_t j = block_layer[b];
    TORCH_CHECK(j >= 0 && j < int64_t(experts.size()), op, ": block ", b, " names layer ", j,
                " of ", experts.size());
    at::Tensor p = probs_in[b], i = idx_in[b];
    if (p.dim() == 2) p = p.unsqueeze(1);
    if (i.dim() == 2) i = i.unsqueeze(1);
    TORCH_CHECK(p.dim() == 3 && p.size(0) == tokens && p.size(2) == experts[size_t(j)] &&
                    p.scalar_type() == type && p.device() == probs_in[0].device(),
                op, ": the routing of layer ", j, " is ", p.scalar_type(), " ", probs_in[b].sizes(),
                " on ", p.device(), ", expected ", type, " [", tokens, ", (modules,) ",
                experts[size_t(j)], "] on ", probs_in[0].device());
    TORCH_CHECK(i.dim() == 3 && i.size(0) == tokens && i.size(1) == p.size(1) &&
                    i.scalar_type() == at::kLong && i.size(2) <= p.size(2),
                op, ": the choices of layer ", j, " are ", i.scalar_type(), " ", idx_in[b].sizes(),
                " for probabilities ", probs_in[b].sizes());
    probs.push_back(p.contiguous());
    idx.push_back(i.contiguous());
  }
  at::Tensor out = at::empty({off.back()}, probs[0].options().dtype(at::kDouble));
  std::vector<SumsBlock> blocks;
  std::vector<SumsLayer> layers(experts.size());
  for (size_t j = 0; j < experts.size(); ++j) layers[j] = {0, 0, experts[j], off[j]};
  for (size_t b = 0; b < probs.size(); ++b) {
    ++layers[size_t(block_layer[order[b]])].blocks;
    blocks.push_back({probs[b].data_ptr(), idx[b].data_ptr<int64_t>(), tokens, probs[b].size(1),
                      idx[b].size(2)});
  }
  // The blocks are in layer order: each layer's start, empty layers included, is the running sum.
  for (size_t j = 1; j < layers.size(); ++j)
    layers[j].first_block = layers[j - 1].first_block + layers[j - 1].blocks;
  AT_DISPATCH_FLOATING_TYPES(type, "mola::router_sums", [&] {
    sumsRows<scalar_t>(blocks, layers, weighted ? weights.data_ptr<scalar_t>() : nullptr, out);
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> balanceFromSumsImpl(const at::Tensor& local_in,
                                                       const at::Tensor& global_in,
                                                       at::IntArrayRef experts,
                                                       at::IntArrayRef top_k, double coefficient,
                                                       at::ScalarType dtype) {
  const char* op = "mola::balance_from_sums";
  const std::vector<int64_t> off = sumsOffsets(experts);
  TORCH_CHECK(top_k.size() == experts.size(), op, ": ", experts.size(), " layers but ",
              top_k.size(), " top-K values");
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble, op, ": dtype must be fp32 or fp64");
  for (const at::Tensor* t : {&local_in, &global_in})
    TORCH_CHECK(t->dim() == 1 && t->size(0) == off.back() && t->scalar_type() == at::kDouble &&
                    t->device() == local_in.device(),
                op, ": sums must be fp64 [", off.back(), "] on one device, got ", t->scalar_type(),
                " ", t->sizes());
  const at::Tensor local = local_in.contiguous(), global = global_in.contiguous();
  const auto options = local.options().dtype(dtype);
  at::Tensor loss = at::empty({}, options);
  at::Tensor coef = at::empty({(off.back() - 2 * int64_t(experts.size())) / 2}, options);
  AT_DISPATCH_FLOATING_TYPES(dtype, "mola::balance_from_sums", [&] {
    balanceRows<scalar_t>(local, global, experts, top_k, coefficient, loss, coef);
  });
  return {loss, coef};
}

}  // namespace

std::vector<int64_t> sumsOffsets(at::IntArrayRef experts) {
  std::vector<int64_t> off = {0};
  for (const int64_t n : experts) off.push_back(off.back() + 2 * n + 2);
  return off;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> route(const at::Tensor& logits, int64_t modules,
                                                     int64_t top_k) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mola::route", "")
                             .typed<decltype(routeImpl)>();
  return op.call(logits, modules, top_k);
}

at::Tensor gateExperts(const at::Tensor& z, const at::Tensor& idx, const at::Tensor& gate,
                       int64_t rank, double scaling, bool root) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mola::gate_experts", "")
                             .typed<decltype(gateExpertsImpl)>();
  return op.call(z, idx, gate, rank, scaling, root);
}

std::tuple<at::Tensor, at::Tensor> routeBackward(const at::Tensor& gzg, const at::Tensor& z,
                                                 const at::Tensor& probs, const at::Tensor& idx,
                                                 const at::Tensor& gate, const at::Tensor& gprobs,
                                                 int64_t rank, double scaling, bool root) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mola::route_backward", "")
                             .typed<decltype(routeBackwardImpl)>();
  auto given = [](const at::Tensor& t) {
    return t.defined() ? c10::optional<at::Tensor>(t) : c10::optional<at::Tensor>();
  };
  auto [gz, glogits] = op.call(given(gzg), z, probs, idx, gate, given(gprobs), rank, scaling, root);
  return {gzg.defined() ? gz : at::Tensor(), glogits};
}

at::Tensor routerSums(at::TensorList probs, at::TensorList idx, const at::Tensor& weights,
                      at::IntArrayRef block_layer, at::IntArrayRef experts) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mola::router_sums", "")
                             .typed<decltype(routerSumsImpl)>();
  return op.call(
      probs, idx,
      weights.defined() ? c10::optional<at::Tensor>(weights) : c10::optional<at::Tensor>(),
      block_layer, experts);
}

std::tuple<at::Tensor, at::Tensor> balanceFromSums(const at::Tensor& local,
                                                   const at::Tensor& global,
                                                   at::IntArrayRef experts, at::IntArrayRef top_k,
                                                   double coefficient, at::ScalarType dtype) {
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mola::balance_from_sums", "")
                             .typed<decltype(balanceFromSumsImpl)>();
  return op.call(local, global, experts, top_k, coefficient, dtype);
}

}  // namespace mola::ops

TORCH_LIBRARY(mola, m) {
  m.def("route(Tensor logits, int modules, int top_k) -> (Tensor, Tensor, Tensor)");
  m.def(
      "gate_experts(Tensor z, Tensor idx, Tensor gate, int rank, float scaling, bool root) -> "
      "Tensor");
  m.def(
      "route_backward(Tensor? gzg, Tensor z, Tensor probs, Tensor idx, Tensor gate, "
      "Tensor? gprobs, int rank, float scaling, bool root) -> (Tensor, Tensor)");
  m.def(
      "router_sums(Tensor[] probs, Tensor[] idx, Tensor? weights, int[] block_layer, "
      "int[] experts) -> Tensor");
  m.def(
      "balance_from_sums(Tensor own, Tensor summed, int[] experts, int[] top_k, "
      "float coefficient, ScalarType dtype) -> (Tensor, Tensor)");
}

namespace {

// The same functions serve every device: each picks the CPU loop or the CUDA launch itself.
void implementAll(torch::Library& m) {
  m.impl("route", &mola::ops::routeImpl);
  m.impl("gate_experts", &mola::ops::gateExpertsImpl);
  m.impl("route_backward", &mola::ops::routeBackwardImpl);
  m.impl("router_sums", &mola::ops::routerSumsImpl);
  m.impl("balance_from_sums", &mola::ops::balanceFromSumsImpl);
}

}  // namespace

TORCH_LIBRARY_IMPL(mola, CPU, m) {
  implementAll(m);
}

#ifdef MOLA_HAVE_C10_CUDA
TORCH_LIBRARY_IMPL(mola, CUDA, m) {
  implementAll(m);
}
#endif
