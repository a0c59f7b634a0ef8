// SPDX-License-Identifier: GPL-3.0-or-later
// MolaLinear against hand-computed values, a per-token reference and finite differences (fp64).
#include "adapters/mola_linear.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>

namespace mola {
namespace {

MolaLinearOptions opts(int64_t in, int64_t out, int64_t n, int64_t k, int64_t r) {
  return MolaLinearOptions(in, out).num_experts(n).top_k(k).rank(r).alpha(2.0 * r).dropout(0.0);
}

// A double-precision layer with random non-zero B (a fresh layer has B = 0).
MolaLinear randomLayer(MolaLinearOptions o, uint64_t seed) {
  torch::manual_seed(seed);
  MolaLinear lin(o);
  lin->to(at::kDouble);
  torch::NoGradGuard no_grad;
  lin->lora_B.normal_(0.0, 0.5);
  return lin;
}

void copyParameters(MolaLinear& dst, const MolaLinear& src) {
  torch::NoGradGuard no_grad;
  auto s = src->named_parameters();
  for (auto& p : dst->named_parameters()) p.value().copy_(s[p.key()]);
}

// out[t] = W0 x_t + b + (alpha/r) * sum_{i in top-K} g_i B_i A_i x_t, token by token, expert by
// expert, with the softmax and the renormalisation written out by hand.
at::Tensor perTokenReference(const MolaLinearImpl& m, const at::Tensor& x2) {
  const auto& o = m.options;
  const int64_t t_count = x2.size(0), n = o.num_experts(), r = o.rank(), k = o.top_k();
  at::Tensor out = at::zeros({t_count, o.out_features()}, at::kDouble);
  for (int64_t t = 0; t < t_count; ++t) {
    const at::Tensor x = x2[t];
    at::Tensor h = at::mv(m.weight, x);
    if (m.bias.defined()) h = h + m.bias;
    std::vector<double> p(static_cast<size_t>(n), 1.0);
    if (n > 1) {
      double z = 0;
      for (int64_t i = 0; i < n; ++i)
        z += p[size_t(i)] = std::exp(at::dot(m.router[i], x).item<double>());
      for (double& v : p) v /= z;
    }
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return p[size_t(a)] > p[size_t(b)]; });
    double kept = 0;
    for (int64_t j = 0; j < k; ++j) kept += p[size_t(order[size_t(j)])];
    for (int64_t j = 0; j < k; ++j) {
      const int64_t i = order[size_t(j)];
      const at::Tensor a_i = m.lora_A.narrow(0, i * r, r), b_i = m.lora_B.narrow(1, i * r, r);
      h = h + at::mv(b_i, at::mv(a_i, x)) * (p[size_t(i)] / kept * o.alpha() / double(r));
    }
    out[t] = h;
  }
  return out;
}

TEST(MolaLinear, HandComputedTopOne) {
  // W0 = I; expert 0: A = [1 0], B = [1 0]^T; expert 1: A = [0 1], B = [0 2]^T; router = I;
  // alpha / r = 2. Token [3 1] routes to expert 0: [3 1] + 2 * [3 0] = [9 1].
  // Token [1 2] routes to expert 1: [1 2] + 2 * [0 2*2] = [1 10].
  MolaLinear lin(MolaLinearOptions(2, 2).num_experts(2).top_k(1).rank(1).alpha(2).dropout(0),
                 at::eye(2, at::kDouble));
  {
    torch::NoGradGuard no_grad;
    lin->to(at::kDouble);
    lin->lora_A.copy_(at::eye(2));
    lin->lora_B.copy_(at::tensor({1.0, 0.0, 0.0, 2.0}).view({2, 2}));
    lin->router.copy_(at::eye(2));
  }
  const at::Tensor x = at::tensor({3.0, 1.0, 1.0, 2.0}, at::kDouble).view({2, 2});
  const at::Tensor y = lin(x);
  EXPECT_TRUE(at::allclose(y, at::tensor({9.0, 1.0, 1.0, 10.0}, at::kDouble).view({2, 2}))) << y;
  EXPECT_EQ(lin->routing().topk_idx[0][0].item<int64_t>(), 0);
  EXPECT_EQ(lin->routing().topk_idx[1][0].item<int64_t>(), 1);

  // Top-2 keeps both: token 0 mixes with p0 = sigmoid(3 - 1), token 1 with p1 = sigmoid(2 - 1).
  lin->options.top_k(2);
  const double p0 = 1.0 / (1.0 + std::exp(-2.0)), q1 = 1.0 / (1.0 + std::exp(-1.0));
  const at::Tensor want =
      at::tensor({3 + 6 * p0, 1 + 4 * (1 - p0), 1 + 2 * (1 - q1), 2 + 8 * q1}, at::kDouble)
          .view({2, 2});
  EXPECT_TRUE(at::allclose(lin(x), want, 1e-12, 1e-12)) << lin(x) << want;
}

TEST(MolaLinear, StackedEqualsPerExpertLoopAndPerTokenReference) {
  for (int64_t k : {1, 2, 4}) {
    MolaLinear stacked = randomLayer(opts(6, 5, 4, k, 3).bias(true), 11);
    MolaLinear loop = randomLayer(opts(6, 5, 4, k, 3).bias(true).impl(ExpertImpl::Loop), 99);
    copyParameters(loop, stacked);
    const at::Tensor x = at::randn({2, 7, 6}, at::kDouble);  // [B, T, d_in]
    const at::Tensor ys = stacked(x), yl = loop(x);
    EXPECT_EQ(ys.sizes(), (std::vector<int64_t>{2, 7, 5}));
    EXPECT_TRUE(at::allclose(ys, yl, 1e-12, 1e-12)) << "K=" << k;
    EXPECT_TRUE(
        at::allclose(ys.view({14, 5}), perTokenReference(*stacked, x.view({14, 6})), 1e-12, 1e-12))
        << "K=" << k;
  }
}

TEST(MolaLinear, GradientsOfBothImplementationsAgree) {
  MolaLinear stacked = randomLayer(opts(6, 5, 4, 2, 3), 5);
  MolaLinear loop = randomLayer(opts(6, 5, 4, 2, 3).impl(ExpertImpl::Loop), 6);
  copyParameters(loop, stacked);
  const at::Tensor x = at::randn({9, 6}, at::kDouble);
  const at::Tensor w = at::randn({9, 5}, at::kDouble);
  (stacked(x) * w).sum().backward();
  (loop(x) * w).sum().backward();
  for (const char* name : {"lora_A", "lora_B", "router"}) {
    const at::Tensor gs = stacked->named_parameters()[name].grad();
    const at::Tensor gl = loop->named_parameters()[name].grad();
    ASSERT_TRUE(gs.defined() && gl.defined()) << name;
    EXPECT_GT(gs.abs().sum().item<double>(), 0.0) << name;
    EXPECT_TRUE(at::allclose(gs, gl, 1e-10, 1e-12)) << name;
  }
}

TEST(MolaLinear, GradientsMatchFiniteDifferences) {
  for (ExpertImpl impl : {ExpertImpl::Stacked, ExpertImpl::Loop}) {
    MolaLinear lin = randomLayer(opts(4, 3, 3, 2, 2).bias(true).impl(impl), 21);
    at::Tensor x = at::randn({5, 4}, at::kDouble).requires_grad_(true);
    const at::Tensor w = at::randn({5, 3}, at::kDouble);
    auto loss = [&] { return (lin(x) * w).sum(); };
    loss().backward();
    std::vector<std::pair<std::string, at::Tensor>> wrt = {
        {"lora_A", lin->lora_A}, {"lora_B", lin->lora_B}, {"router", lin->router}, {"x", x}};
    for (auto& [name, p] : wrt) {
      const at::Tensor analytic = p.grad().clone();
      at::Tensor flat = p.detach().view({-1});  // shares storage with p
      const double eps = 1e-6;
      for (int64_t i = 0; i < flat.numel(); ++i) {
        torch::NoGradGuard no_grad;
        const double orig = flat[i].item<double>();
        flat[i] = orig + eps;
        const double up = loss().item<double>();
        flat[i] = orig - eps;
        const double down = loss().item<double>();
        flat[i] = orig;
        const double numeric = (up - down) / (2 * eps);
        EXPECT_NEAR(analytic.view({-1})[i].item<double>(), numeric, 1e-6 * (1 + std::abs(numeric)))
            << name << "[" << i << "] impl=" << int(impl);
      }
    }
  }
}

TEST(MolaLinear, ZeroBLeavesTheBaseOutputExactly) {
  MolaLinear lin(opts(8, 6, 4, 2, 4).bias(true).dropout(0.3));  // fresh: B = 0
  lin->train();
  const at::Tensor x = at::randn({3, 5, 8});
  const at::Tensor base = at::linear(x, lin->weight, lin->bias);
  EXPECT_TRUE(at::equal(lin(x), base));
  lin->options.impl(ExpertImpl::Loop);
  EXPECT_TRUE(at::equal(lin(x), base));
}

TEST(MolaLinear, TopKEqualsNIsTheDenseSoftmaxMixture) {
  MolaLinear lin = randomLayer(opts(5, 4, 3, 3, 2), 8);
  const at::Tensor x = at::randn({6, 5}, at::kDouble);
  // With K = N the renormalisation divides by 1: gates are the softmax itself.
  const at::Tensor p = at::softmax(at::matmul(x, lin->router.t()), -1);  // [T, N]
  at::Tensor want = at::matmul(x, lin->weight.t());
  for (int64_t i = 0; i < 3; ++i) {
    const at::Tensor delta = at::matmul(at::matmul(x, lin->lora_A.narrow(0, 2 * i, 2).t()),
                                        lin->lora_B.narrow(1, 2 * i, 2).t());
    want = want + p.narrow(1, i, 1) * delta * (lin->options.alpha() / 2.0);
  }
  EXPECT_TRUE(at::allclose(lin(x), want, 1e-12, 1e-12));
}

TEST(MolaLinear, ATokenDependsOnlyOnItsChosenExperts) {
  MolaLinear lin = randomLayer(opts(6, 5, 5, 2, 3), 13);
  const at::Tensor x = at::randn({16, 6}, at::kDouble);
  const at::Tensor before = lin(x);
  const at::Tensor idx = lin->routing().topk_idx.clone();  // [T, K]
  const int64_t expert = 3;
  {
    torch::NoGradGuard no_grad;
    lin->lora_A.narrow(0, expert * 3, 3).add_(1.0);
    lin->lora_B.narrow(1, expert * 3, 3).add_(1.0);
  }
  const at::Tensor after = lin(x);
  ASSERT_TRUE(at::equal(lin->routing().topk_idx, idx)) << "the router was not touched";
  int changed = 0, unchanged = 0;
  for (int64_t t = 0; t < 16; ++t) {
    if (idx[t].eq(expert).any().item<bool>()) {
      EXPECT_FALSE(at::allclose(after[t], before[t])) << "token " << t << " chose expert 3";
      ++changed;
    } else {
      EXPECT_TRUE(at::equal(after[t], before[t])) << "token " << t << " did not choose expert 3";
      ++unchanged;
    }
  }
  EXPECT_GT(changed, 0);
  EXPECT_GT(unchanged, 0);
}

TEST(MolaLinear, PlainLoraHasNoRouter) {
  MolaLinear lin = randomLayer(opts(6, 4, 1, 1, 2), 3);
  EXPECT_FALSE(lin->hasRouter());
  EXPECT_FALSE(lin->router.defined());
  EXPECT_EQ(lin->named_parameters().size(), 3u);  // weight, lora_A, lora_B
  const at::Tensor x = at::randn({4, 6}, at::kDouble);
  const at::Tensor want = at::matmul(x, lin->weight.t()) +
                          at::matmul(at::matmul(x, lin->lora_A.t()), lin->lora_B.t()) * 2.0;
  EXPECT_TRUE(at::allclose(lin(x), want, 1e-12, 1e-12));
  EXPECT_FALSE(lin->routing().probs.defined());
}

TEST(MolaLinear, ZeroExpertsIsThePlainFrozenLinear) {
  MolaLinear lin(MolaLinearOptions(6, 4).num_experts(0).bias(true));
  EXPECT_FALSE(lin->hasAdapter());
  EXPECT_EQ(lin->named_parameters().size(), 2u);  // weight, bias
  for (const auto& p : lin->parameters()) EXPECT_FALSE(p.requires_grad());
  const at::Tensor x = at::randn({2, 3, 6});
  EXPECT_TRUE(at::equal(lin(x), at::linear(x, lin->weight, lin->bias)));
  EXPECT_THROW(lin->expertsA(), c10::Error);
}

TEST(MolaLinear, OnlyTheAdapterIsTrainable) {
  MolaLinear lin(opts(6, 4, 3, 2, 2).bias(true));
  for (const auto& p : lin->named_parameters()) {
    const bool adapter = p.key() == "lora_A" || p.key() == "lora_B" || p.key() == "router";
    EXPECT_EQ(p.value().requires_grad(), adapter) << p.key();
  }
  EXPECT_TRUE(at::equal(lin->lora_B, at::zeros_like(lin->lora_B))) << "B starts at zero";
  // Kaiming-uniform with a = sqrt(5): bound 1/sqrt(d_in).
  EXPECT_LE(lin->lora_A.abs().max().item<double>(), 1.0 / std::sqrt(6.0) + 1e-7);
  EXPECT_GT(lin->lora_A.abs().max().item<double>(), 0.0);
}

TEST(MolaLinear, RoutingIsExposedWithoutLeavingTheDevice) {
  MolaLinear lin(opts(6, 4, 5, 2, 2));
  const at::Tensor x = at::randn({2, 3, 6});
  lin(x);
  const Routing& r = lin->routing();
  EXPECT_EQ(r.probs.sizes(), (std::vector<int64_t>{6, 5}));
  EXPECT_EQ(r.probs.scalar_type(), at::kFloat);
  EXPECT_EQ(r.topk_idx.sizes(), (std::vector<int64_t>{6, 2}));
  EXPECT_TRUE(at::allclose(r.probs.sum(-1), at::ones({6})));
  EXPECT_TRUE(at::allclose(r.topk_gate.sum(-1), at::ones({6})));
  lin->clearRouting();
  EXPECT_FALSE(lin->routing().probs.defined());
}

TEST(MolaLinear, RouterSoftmaxRunsInFp32ForBf16) {
  torch::manual_seed(4);
  MolaLinear lin(opts(16, 8, 4, 2, 4));
  {
    torch::NoGradGuard no_grad;
    lin->lora_B.normal_(0.0, 0.5);
  }
  const at::Tensor x = at::randn({10, 16});
  const at::Tensor y32 = lin(x);
  lin->to(at::kBFloat16);
  const at::Tensor y16 = lin(x.to(at::kBFloat16));
  EXPECT_EQ(y16.scalar_type(), at::kBFloat16);
  EXPECT_EQ(lin->routing().probs.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(y16.to(at::kFloat), y32, 5e-2, 5e-2));
}

TEST(MolaLinear, DropoutMasksOnlyTheLoraInputAndBothPathsAgree) {
  MolaLinear stacked = randomLayer(opts(6, 5, 4, 2, 3).dropout(0.5), 17);
  MolaLinear loop = randomLayer(opts(6, 5, 4, 2, 3).dropout(0.5).impl(ExpertImpl::Loop), 18);
  copyParameters(loop, stacked);
  const at::Tensor x = at::randn({8, 6}, at::kDouble);
  torch::manual_seed(123);
  const at::Tensor ys = stacked(x);
  torch::manual_seed(123);
  const at::Tensor yl = loop(x);
  EXPECT_TRUE(at::allclose(ys, yl, 1e-12, 1e-12)) << "same dropout mask, same result";
  stacked->eval();
  const at::Tensor clean = stacked(x);
  EXPECT_FALSE(at::allclose(ys, clean)) << "dropout is active in training mode";
  EXPECT_TRUE(at::equal(clean, stacked(x))) << "and off in eval mode";
}

TEST(MolaLinear, BadShapesAndOptionsAreClearErrors) {
  MolaLinear lin(opts(6, 4, 3, 2, 2));
  try {
    lin(at::randn({2, 5}));
    ADD_FAILURE() << "wrong input width accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("in_features = 6"), std::string::npos) << e.what();
  }
  EXPECT_THROW(MolaLinear(opts(6, 4, 2, 3, 2)), c10::Error);  // K > N
  EXPECT_THROW(MolaLinear(opts(6, 4, -1, 1, 2)), c10::Error);
  EXPECT_THROW(MolaLinear(opts(6, 4, 2, 1, 0)), c10::Error);
  EXPECT_THROW(MolaLinear(opts(6, 4, 2, 1, 2), at::zeros({6, 4})), c10::Error);  // transposed
  EXPECT_THROW(MolaLinear(opts(6, 4, 2, 1, 2).bias(true), at::zeros({4, 6})), c10::Error);
}

TEST(MolaLinear, ExpertsRoundTripThroughTheFileLayout) {
  MolaLinear a = randomLayer(opts(6, 5, 3, 2, 2), 30);
  MolaLinear b = randomLayer(opts(6, 5, 3, 2, 2), 31);
  EXPECT_EQ(a->expertsA().sizes(), (std::vector<int64_t>{3, 2, 6}));
  EXPECT_EQ(a->expertsB().sizes(), (std::vector<int64_t>{3, 5, 2}));
  // Expert 1's B in the file layout is columns [2, 4) of lora_B.
  EXPECT_TRUE(at::equal(a->expertsB()[1], a->lora_B.narrow(1, 2, 2)));
  b->loadExperts(a->expertsA(), a->expertsB(), a->router);
  b->weight.detach().copy_(a->weight);
  const at::Tensor x = at::randn({4, 6}, at::kDouble);
  EXPECT_TRUE(at::equal(a(x), b(x)));
  EXPECT_THROW(b->loadExperts(a->expertsB(), a->expertsB(), a->router), c10::Error);
  EXPECT_THROW(b->loadExperts(a->expertsA(), a->expertsB(), at::Tensor()), c10::Error);
}

}  // namespace
}  // namespace mola
