// SPDX-License-Identifier: GPL-3.0-or-later
// The routing operators (mola::route, gate_experts, route_backward) against ATen's softmax and
// top-K and against autograd through the composite form, in fp64; ties, NaN, bf16 rounding,
// strided inputs and bad shapes.
#include "adapters/routing_ops.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "adapters/routing_ops_cuda.h"
#include "bench/op_counter.h"

namespace mola {
namespace {

// The composite form the operators replace: softmax per module, top-K, renormalised gates,
// scattered times scaling (or their square roots), times z.
struct Composite {
  at::Tensor probs, idx, gate, zg;
};

Composite composite(const at::Tensor& logits, const at::Tensor& z, int64_t m, int64_t k, int64_t r,
                    double scaling, bool root) {
  const int64_t t = logits.size(0), n = logits.size(1) / m;
  Composite c;
  c.probs = at::softmax(logits.reshape({t, m, n}), -1);
  auto [values, indices] = c.probs.topk(k, -1);
  c.idx = indices;
  c.gate = values / values.sum(-1, true);
  const at::Tensor g = root ? c.gate.sqrt() : c.gate;
  const at::Tensor gates = at::zeros_like(c.probs).scatter(-1, c.idx, g * scaling);
  c.zg = (z.reshape({t, m, n, r}) * gates.unsqueeze(-1)).reshape({t, m * n * r});
  return c;
}

TEST(RoutingOps, RouteIsSoftmaxTopKAndRenormalisedGates) {
  torch::manual_seed(3);
  for (const auto type : {at::kDouble, at::kFloat}) {
    // A row-strided view, as the fused node's narrow of [logits | z] is.
    const at::Tensor wide = at::randn({7, 3 * 5 + 4}, type);
    const at::Tensor logits = wide.narrow(1, 2, 3 * 5);
    const auto [probs, idx, gate] = ops::route(logits, 3, 2);
    const Composite c = composite(logits, at::zeros({7, 15}, type), 3, 2, 1, 1.0, false);
    const double tol = type == at::kDouble ? 1e-14 : 1e-6;
    EXPECT_EQ(probs.sizes(), at::IntArrayRef({7, 3, 5}));
    EXPECT_TRUE(at::allclose(probs, c.probs, tol, tol)) << type;
    EXPECT_TRUE(at::equal(idx, c.idx)) << type;
    EXPECT_TRUE(at::allclose(gate, c.gate, tol, tol)) << type;
    EXPECT_TRUE(at::allclose(gate.sum(-1), at::ones({7, 3}, gate.options()), tol, tol));
  }
}

TEST(RoutingOps, TiesTakeTheLowerIndexAndNaNStillGivesValidExperts) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const at::Tensor logits =
      at::tensor({0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 0.5, nan, 0.0, 1.0, 2.0}, at::kDouble)
          .reshape({3, 4});
  const auto [probs, idx, gate] = ops::route(logits, 1, 2);
  const at::Tensor i = idx.reshape({3, 2});
  EXPECT_EQ(i[0][0].item<int64_t>(), 0);
  EXPECT_EQ(i[0][1].item<int64_t>(), 1);
  EXPECT_NEAR(gate[0][0][0].item<double>(), 0.5, 1e-15);
  EXPECT_EQ(i[1][0].item<int64_t>(), 1);
  EXPECT_EQ(i[1][1].item<int64_t>(), 2);
  // A NaN logit makes the row NaN; the chosen experts stay inside [0, N).
  EXPECT_GE(i[2].min().item<int64_t>(), 0);
  EXPECT_LT(i[2].max().item<int64_t>(), 4);
  EXPECT_NE(i[2][0].item<int64_t>(), i[2][1].item<int64_t>());
}

TEST(RoutingOps, GateExpertsAndTheBackwardMatchAutogradOfTheCompositeForm) {
  torch::manual_seed(8);
  const int64_t t = 6, m = 2, n = 4, k = 2, r = 3;
  const double scaling = 16.0 / 3.0;
  for (const bool root : {false, true}) {
    const at::Tensor logits = at::randn({t, m * n}, at::kDouble).requires_grad_(true);
    const at::Tensor z = at::randn({t, m * n * r}, at::kDouble).requires_grad_(true);
    const at::Tensor wz = at::randn({t, m * n * r}, at::kDouble);
    const at::Tensor wp = at::randn({n}, at::kDouble);
    // The reference: autograd through the composite form. The router's gradient always comes
    // from the gates themselves; with `root` the experts' gradient goes through sqrt(g).
    const Composite plain = composite(logits, z, m, k, r, scaling, false);
    const Composite via_router = composite(logits, z.detach(), m, k, r, scaling, false);
    const Composite rooted = composite(logits.detach(), z, m, k, r, scaling, true);
    const at::Tensor gprobs = wp.view({1, 1, n}).expand({t, m, n});  // stride 0, as a bias's
    const at::Tensor experts = root ? rooted.zg + via_router.zg - via_router.zg.detach() : plain.zg;
    const at::Tensor loss = (experts * wz).sum() + (plain.probs * gprobs).sum();
    const auto grads = torch::autograd::grad({loss}, {logits, z});

    const auto [probs, idx, gate] = ops::route(logits.detach(), m, k);
    const at::Tensor zg = ops::gateExperts(z.detach(), idx, gate, r, scaling, false);
    EXPECT_TRUE(at::allclose(zg, plain.zg, 1e-14, 1e-14)) << root;
    EXPECT_TRUE(at::allclose(ops::gateExperts(z.detach(), idx, gate, r, scaling, true), rooted.zg,
                             1e-14, 1e-14));
    const auto [gz, glogits] =
        ops::routeBackward(wz, z.detach(), probs, idx, gate, gprobs, r, scaling, root);
    EXPECT_TRUE(at::allclose(glogits, grads[0], 1e-12, 1e-12)) << root;
    EXPECT_TRUE(at::allclose(gz, grads[1], 1e-12, 1e-12)) << root;
  }
}

TEST(RoutingOps, TheBackwardTakesEitherGradientAlone) {
  torch::manual_seed(9);
  const at::Tensor logits = at::randn({5, 6}, at::kDouble).requires_grad_(true);
  const at::Tensor z = at::randn({5, 12}, at::kDouble).requires_grad_(true);
  const Composite c = composite(logits, z, 1, 3, 2, 2.0, false);
  const auto [probs, idx, gate] = ops::route(logits.detach(), 1, 3);
  // Only the balance loss's gradient: no gz, glogits through the softmax alone.
  const at::Tensor gp = at::randn({5, 1, 6}, at::kDouble);
  const at::Tensor expected = torch::autograd::grad({(c.probs * gp).sum()}, {logits}, {}, true)[0];
  const auto [gz, glogits] =
      ops::routeBackward({}, z.detach(), probs, idx, gate, gp, 2, 2.0, false);
  EXPECT_FALSE(gz.defined());
  EXPECT_TRUE(at::allclose(glogits, expected, 1e-13, 1e-13));
  // Only the experts' gradient.
  const at::Tensor wz = at::randn({5, 12}, at::kDouble);
  const auto g = torch::autograd::grad({(c.zg * wz).sum()}, {logits, z});
  const auto [gz2, glogits2] =
      ops::routeBackward(wz, z.detach(), probs, idx, gate, {}, 2, 2.0, false);
  EXPECT_TRUE(at::allclose(glogits2, g[0], 1e-13, 1e-13));
  EXPECT_TRUE(at::allclose(gz2, g[1], 1e-13, 1e-13));
}

TEST(RoutingOps, HalfPrecisionRoundsAsTheElementWiseOperatorsDo) {
  torch::manual_seed(10);
  const at::Tensor logits = at::randn({9, 8}).to(at::kBFloat16);
  const at::Tensor z = at::randn({9, 8 * 4}).to(at::kBFloat16);
  const auto [probs, idx, gate] = ops::route(logits, 2, 2);
  EXPECT_EQ(probs.scalar_type(), at::kFloat);
  const auto [p32, i32, g32] = ops::route(logits.to(at::kFloat), 2, 2);
  EXPECT_TRUE(at::allclose(probs, p32, 1e-6, 1e-7));
  EXPECT_TRUE(at::equal(idx, i32));
  // The gates are rounded to bf16 before the product, and the product is rounded once.
  const at::Tensor zg = ops::gateExperts(z, idx, gate, 4, 4.0, false);
  EXPECT_EQ(zg.scalar_type(), at::kBFloat16);
  const at::Tensor gates =
      at::zeros_like(probs).scatter(-1, idx, gate * 4.0).to(at::kBFloat16).unsqueeze(-1);
  const at::Tensor expected = (z.reshape({9, 2, 4, 4}) * gates).reshape({9, 32});
  EXPECT_TRUE(at::equal(zg, expected));
}

TEST(RoutingOps, BadShapesAreNamed) {
  const at::Tensor logits = at::randn({4, 6});
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { ops::route(logits, 4, 1); }).find("do not split into 4 modules"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::route(logits, 2, 4); }).find("top_k = 4 must lie in [1, 3]"),
            std::string::npos);
  const auto [probs, idx, gate] = ops::route(logits, 2, 2);
  EXPECT_NE(message([&] {
              ops::gateExperts(at::randn({4, 10}), idx, gate, 2, 1.0, false);
            }).find("not a multiple of 2 modules x rank 2"),
            std::string::npos);
  EXPECT_NE(message([&] {
              ops::gateExperts(at::randn({4, 12}), idx.to(at::kInt), gate, 2, 1.0, false);
            }).find("mola::gate_experts: idx must be a contiguous int64"),
            std::string::npos);
  EXPECT_NE(message([&] {
              ops::routeBackward({}, at::randn({4, 12}), probs, idx, gate, {}, 2, 1.0, false);
            }).find("neither gzg nor gprobs"),
            std::string::npos);
}

// A layer's sums computed with ATen: selections, probability sums, entropy sum, rows.
at::Tensor layerSums(const at::Tensor& probs3, const at::Tensor& idx3, const at::Tensor& w) {
  const at::Tensor wt = w.view({-1, 1, 1}).to(at::kDouble);
  const at::Tensor p = probs3.to(at::kDouble);
  const at::Tensor selected = at::zeros_like(p).scatter(-1, idx3, 1.0);
  const at::Tensor entropy = -(p * p.log()).sum(-1, true);
  return at::cat({(selected * wt).sum(0).sum(0), (p * wt).sum(0).sum(0),
                  (entropy * wt).sum().reshape({1}),
                  (wt.expand({p.size(0), p.size(1), 1})).sum().reshape({1})});
}

TEST(RoutingOps, RouterSumsEveryLayerInOneCall) {
  torch::manual_seed(12);
  // Layer 0: a fused group of two modules ([T, 2, 4], top-2) and a lone module ([T, 4]); layer 1
  // routes nothing; layer 2: one module over 3 experts, top-1. The third token is padding.
  const at::Tensor w = at::tensor({1.0, 1.0, 0.0, 1.0, 1.0}, at::kFloat);
  const at::Tensor g = at::softmax(at::randn({5, 2, 4}), -1),
                   lone = at::softmax(at::randn({5, 4}), -1);
  const at::Tensor l2 = at::softmax(at::randn({5, 3}), -1);
  const at::Tensor gi = std::get<1>(g.topk(2, -1)), li = std::get<1>(lone.topk(2, -1));
  const at::Tensor i2 = std::get<1>(l2.topk(1, -1));
  const at::Tensor sums = ops::routerSums({g, l2, lone}, {gi, i2, li}, w, {0, 2, 0}, {4, 0, 3});
  ASSERT_EQ(sums.numel(), 10 + 2 + 8);
  const at::Tensor layer0 = layerSums(g, gi, w) + layerSums(lone.unsqueeze(1), li.unsqueeze(1), w);
  EXPECT_TRUE(at::allclose(sums.narrow(0, 0, 10), layer0, 1e-6, 1e-6)) << sums << layer0;
  EXPECT_TRUE(at::equal(sums.narrow(0, 10, 2), at::zeros({2}, at::kDouble)));
  EXPECT_TRUE(at::allclose(sums.narrow(0, 12, 8), layerSums(l2.unsqueeze(1), i2.unsqueeze(1), w),
                           1e-6, 1e-6));
  EXPECT_DOUBLE_EQ(sums[9].item<double>(), 3 * 4.0);  // 4 real tokens in 3 modules
  // Without weights every row counts.
  const at::Tensor all = ops::routerSums({l2}, {i2}, {}, {0}, {3});
  EXPECT_DOUBLE_EQ(all[7].item<double>(), 5.0);
}

TEST(RoutingOps, BalanceFromSumsIsTheLossAndItsGradient) {
  // One layer, N = 3, K = 1; this rank: selections (1, 1, 0), probability sums (0.8, 0.8, 0.4),
  // 2 rows; all ranks: selections (2, 1, 0), 3 rows. coef_i = c * N * f_i / T with f = (2, 1, 0)
  // / 3 and T = 3; the loss is coef . (0.8, 0.8, 0.4).
  const at::Tensor own = at::tensor({1.0, 1.0, 0.0, 0.8, 0.8, 0.4, 0.5, 2.0}, at::kDouble);
  const at::Tensor summed = at::tensor({2.0, 1.0, 0.0, 1.3, 1.05, 0.65, 0.9, 3.0}, at::kDouble);
  const auto [loss, coef] = ops::balanceFromSums(own, summed, {3}, {1}, 0.5, at::kDouble);
  const double c0 = 0.5 * 3 * (2.0 / 3) / 3, c1 = 0.5 * 3 * (1.0 / 3) / 3;
  EXPECT_NEAR(coef[0].item<double>(), c0, 1e-15);
  EXPECT_NEAR(coef[1].item<double>(), c1, 1e-15);
  EXPECT_EQ(coef[2].item<double>(), 0.0);
  EXPECT_NEAR(loss.item<double>(), (c0 + c1) * 0.8, 1e-15);
  // A layer that routed nothing (no tokens, K = 0) adds nothing and no NaN.
  const auto [l2, c2] = ops::balanceFromSums(
      at::zeros({6}, at::kDouble), at::zeros({6}, at::kDouble), {2}, {0}, 1.0, at::kFloat);
  EXPECT_EQ(l2.item<float>(), 0.0f);
  EXPECT_EQ(c2.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(c2, at::zeros({2})));
}

// The launches the CUDA router_sums makes (each at most 16 layers and 48 blocks), planned on the
// host: checked here where no GPU runs them.
TEST(RoutingOps, RouterSumsSplitsItsLaunchesByLayersAndBlocks) {
  auto layers = [](std::vector<int64_t> blocks) {
    std::vector<cuda::SumsLayer> out;
    int64_t first = 0;
    for (const int64_t b : blocks) {
      out.push_back({first, b, 4, 0});
      first += b;
    }
    return out;
  };
  using Runs = std::vector<std::pair<int64_t, int64_t>>;
  const auto fused = layers(std::vector<int64_t>(32, 4));  // llama2-7b: 32 layers of 4 blocks
  EXPECT_EQ(cuda::sumsChunks(fused.data(), 32, 16, 48), (Runs{{0, 12}, {12, 24}, {24, 32}}));
  const auto few = layers({2, 0, 0, 2});  // layers without routing still get their zeros
  EXPECT_EQ(cuda::sumsChunks(few.data(), 4, 16, 48), (Runs{{0, 4}}));
  const auto seven = layers(std::vector<int64_t>(20, 7));
  EXPECT_EQ(cuda::sumsChunks(seven.data(), 20, 16, 48),
            (Runs{{0, 6}, {6, 12}, {12, 18}, {18, 20}}));
  const auto wide = layers({2, 50});
  EXPECT_THROW(cuda::sumsChunks(wide.data(), 2, 16, 48), std::runtime_error);
}

TEST(RoutingOps, EachIsOneKernelForTheProfiler) {
  const at::Tensor logits = at::randn({16, 8}), z = at::randn({16, 32});
  const OpCounter counter;
  const auto [probs, idx, gate] = ops::route(logits, 2, 2);
  const at::Tensor zg = ops::gateExperts(z, idx, gate, 4, 2.0, false);
  ops::routeBackward(zg, z, probs, idx, gate, {}, 4, 2.0, false);
  const OpCounts c = counter.counts();
  EXPECT_EQ(c.kernels, 3);
  EXPECT_EQ(c.kernel_ops.at("mola::route"), 1);
  EXPECT_EQ(c.kernel_ops.at("mola::gate_experts"), 1);
  EXPECT_EQ(c.kernel_ops.at("mola::route_backward"), 1);
}

}  // namespace
}  // namespace mola
