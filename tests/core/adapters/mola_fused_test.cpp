// SPDX-License-Identifier: GPL-3.0-or-later
// The fused adapter path (MolaLinearImpl::forwardShared) against the composite and loop paths.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <map>
#include <string>
#include <vector>

#include "adapters/balance_loss.h"
#include "adapters/mola_linear.h"
#include "model/llama_model.h"

namespace mola {
namespace {

LlamaConfig smallConfig() {
  LlamaConfig c;
  c.vocab_size = 37;
  c.d_model = 16;
  c.ffn_dim = 24;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 2;  // GQA: k/v are narrower than q, so the fused outputs differ in width
  c.head_dim = 4;
  c.max_seq_len = 64;
  return c;
}

// A double-precision model with MoLA 2-4-6-8 (top-2, r = 3, dropout off) and random non-zero B.
LlamaModel molaModel(ExpertImpl impl, uint64_t seed, bool gate_rescaling = false) {
  torch::manual_seed(seed);
  LlamaModel model(smallConfig());
  MolaSpec spec;
  spec.allocation = Allocation::parse("2-4-6-8", 4);
  spec.rank = 3;
  spec.top_k = 2;
  spec.dropout = 0.0;
  spec.impl = impl;
  spec.gate_rescaling = gate_rescaling;
  model->injectMola(spec);
  model->to(at::kDouble);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters())
    if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0.0, 0.3);
  return model;
}

void copyParameters(LlamaModel& dst, const LlamaModel& src) {
  torch::NoGradGuard no_grad;
  auto s = src->named_parameters();
  for (auto& p : dst->named_parameters()) p.value().copy_(s[p.key()]);
}

// Cross-entropy plus a large balance-loss coefficient, so that its gradient through the router
// probabilities is not lost in rounding.
at::Tensor trainingLoss(LlamaModel& model, const at::Tensor& ids) {
  const at::Tensor logits = model->forward(ids.narrow(1, 0, ids.size(1) - 1));
  const at::Tensor targets = ids.narrow(1, 1, ids.size(1) - 1).reshape({-1});
  const at::Tensor ce = at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), targets);
  return ce + balanceLoss(model->layerRoutings(), {}, 0.5).to(ce.scalar_type());
}

std::map<std::string, at::Tensor> adapterGrads(LlamaModel& model) {
  std::map<std::string, at::Tensor> out;
  for (const auto& p : model->named_parameters())
    if (p.value().requires_grad()) out[p.key()] = p.value().grad();
  return out;
}

TEST(FusedExperts, FusedQkvAndGateUpEqualTheUnfusedModulesAndTheLoop) {
  LlamaModel fused = molaModel(ExpertImpl::Stacked, 1);
  LlamaModel unfused = molaModel(ExpertImpl::Stacked, 2);
  LlamaModel loop = molaModel(ExpertImpl::Loop, 3);
  copyParameters(unfused, fused);
  copyParameters(loop, fused);
  unfused->setFuseSharedInputs(false);
  ASSERT_TRUE(fused->fuseSharedInputs());
  const at::Tensor ids = at::randint(37, {3, 9}, at::kLong);

  const at::Tensor lf = trainingLoss(fused, ids);
  // q, k and v were routed in one call: their probabilities are views into one [T, 3, N] tensor.
  for (int j = 0; j < 4; ++j) {
    const Routing& q = fused->layer(j)->projection(TargetModule::QProj)->routing();
    const Routing& v = fused->layer(j)->projection(TargetModule::VProj)->routing();
    const Routing& up = fused->layer(j)->projection(TargetModule::UpProj)->routing();
    const Routing& down = fused->layer(j)->projection(TargetModule::DownProj)->routing();
    const int64_t n = fused->molaSpec().allocation.experts(j);
    EXPECT_EQ(q.probs.stride(0), 3 * n) << "layer " << j;
    EXPECT_TRUE(q.probs.is_alias_of(v.probs)) << "layer " << j;
    EXPECT_EQ(up.probs.stride(0), 2 * n) << "layer " << j;
    EXPECT_FALSE(down.probs.is_alias_of(up.probs)) << "down_proj reads another input";
  }
  const at::Tensor lu = trainingLoss(unfused, ids);
  const at::Tensor ll = trainingLoss(loop, ids);
  EXPECT_NEAR(lf.item<double>(), lu.item<double>(), 1e-12);
  EXPECT_NEAR(lf.item<double>(), ll.item<double>(), 1e-12);
  for (int j = 0; j < 4; ++j)
    for (TargetModule m : kAllTargetModules) {
      const Routing& a = fused->layer(j)->projection(m)->routing();
      const Routing& b = unfused->layer(j)->projection(m)->routing();
      EXPECT_TRUE(at::allclose(a.probs, b.probs, 1e-12, 1e-14)) << j;
      EXPECT_TRUE(at::equal(a.topk_idx, b.topk_idx)) << j;
      EXPECT_TRUE(at::allclose(a.topk_gate, b.topk_gate, 1e-12, 1e-14)) << j;
    }

  lf.backward();
  lu.backward();
  ll.backward();
  const auto gf = adapterGrads(fused), gu = adapterGrads(unfused), gl = adapterGrads(loop);
  ASSERT_EQ(gf.size(), size_t(4 * 7 * 3));  // A, B and a router (every N_j > 1) per module
  for (const auto& [name, g] : gf) {
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << name;
    EXPECT_TRUE(at::allclose(g, gu.at(name), 1e-9, 1e-12)) << name;
    EXPECT_TRUE(at::allclose(g, gl.at(name), 1e-9, 1e-12)) << name;
  }
}

// With the gate-aware rescaling (expert gradients through sqrt(g)) the fused node, the composite
// stacked path and the per-expert loop (which rescales each expert's output on its own, as the
// authors' code does) give the same gradients, and not the plain ones.
TEST(FusedExperts, GateRescalingGivesTheSameGradientsOnEveryPath) {
  LlamaModel fused = molaModel(ExpertImpl::Stacked, 1, true);
  LlamaModel unfused = molaModel(ExpertImpl::Stacked, 2, true);
  LlamaModel loop = molaModel(ExpertImpl::Loop, 3, true);
  LlamaModel plain = molaModel(ExpertImpl::Stacked, 4, false);
  for (LlamaModel* m : {&unfused, &loop, &plain}) copyParameters(*m, fused);
  unfused->setFuseSharedInputs(false);
  const at::Tensor ids = at::randint(37, {3, 9}, at::kLong);
  const at::Tensor x = at::randn({5, 16}, at::kDouble);
  std::vector<MolaLinearImpl*> qkv;
  for (TargetModule m : {TargetModule::QProj, TargetModule::KProj, TargetModule::VProj})
    qkv.push_back(fused->layer(1)->projection(m).get());
  ASSERT_TRUE(MolaLinearImpl::canFuse(qkv, x));
  std::vector<double> losses;
  for (LlamaModel* m : {&fused, &unfused, &loop, &plain}) {
    const at::Tensor l = trainingLoss(*m, ids);
    losses.push_back(l.item<double>());
    l.backward();
  }
  EXPECT_NEAR(losses[0], losses[1], 1e-12);
  EXPECT_NEAR(losses[0], losses[2], 1e-12);
  EXPECT_NEAR(losses[0], losses[3], 1e-12);  // the forward is unchanged
  const auto gf = adapterGrads(fused), gu = adapterGrads(unfused), gl = adapterGrads(loop),
             gp = adapterGrads(plain);
  size_t differ = 0;
  for (const auto& [name, g] : gf) {
    ASSERT_TRUE(g.defined()) << name;
    EXPECT_TRUE(at::allclose(g, gu.at(name), 1e-9, 1e-12)) << name;
    EXPECT_TRUE(at::allclose(g, gl.at(name), 1e-9, 1e-12)) << name;
    differ += !at::allclose(g, gp.at(name), 1e-6, 1e-9);
  }
  EXPECT_GT(differ, gf.size() / 2) << "the rescaling changes most gradients";
}

// Three modules of different output widths on one input, as q/k/v with GQA.
struct Group {
  std::vector<MolaLinear> modules;
  std::vector<MolaLinearImpl*> ptrs() {
    std::vector<MolaLinearImpl*> out;
    for (auto& m : modules) out.push_back(m.get());
    return out;
  }
};

Group randomGroup(int64_t n, int64_t k, double dropout, uint64_t seed) {
  torch::manual_seed(seed);
  Group g;
  for (int64_t out : {5, 3, 3}) {
    MolaLinear m(
        MolaLinearOptions(6, out).num_experts(n).top_k(k).rank(2).alpha(3.0).dropout(dropout));
    m->to(at::kDouble);
    torch::NoGradGuard no_grad;
    m->lora_B.normal_(0.0, 0.5);
    g.modules.push_back(m);
  }
  return g;
}

TEST(FusedExperts, GradientsMatchFiniteDifferencesWithDropout) {
  // Re-seeding before each call fixes the shared dropout mask, so the output is a smooth function
  // of the inputs and parameters (away from top-K ties).
  Group g = randomGroup(4, 2, 0.3, 7);
  at::Tensor x = at::randn({7, 6}, at::kDouble).requires_grad_(true);
  const std::vector<at::Tensor> w = {at::randn({7, 5}, at::kDouble), at::randn({7, 3}, at::kDouble),
                                     at::randn({7, 3}, at::kDouble)};
  auto loss = [&]() {
    torch::manual_seed(99);
    const auto out = MolaLinearImpl::forwardShared(g.ptrs(), x);
    at::Tensor l = at::zeros({}, at::kDouble);
    for (size_t i = 0; i < out.size(); ++i) l = l + (out[i] * w[i]).sum();
    // Through the probabilities too, as the balance loss does.
    for (auto& m : g.modules) l = l + (m->routing().probs * m->routing().probs).sum();
    return l;
  };
  ASSERT_TRUE(MolaLinearImpl::canFuse(g.ptrs(), x));
  loss().backward();
  std::vector<std::pair<std::string, at::Tensor>> params = {{"x", x}};
  for (size_t i = 0; i < 3; ++i)
    for (const char* name : {"lora_A", "lora_B", "router"})
      params.emplace_back(name + std::to_string(i), g.modules[i]->named_parameters()[name]);
  const double eps = 1e-6;
  for (auto& [name, p] : params) {
    const at::Tensor analytic = p.grad().clone();
    ASSERT_TRUE(analytic.defined()) << name;
    at::Tensor flat = p.detach().view({-1});
    for (int64_t i = 0; i < flat.numel(); i += 3) {
      const double orig = flat[i].item<double>();
      double plus, minus;
      {
        torch::NoGradGuard no_grad;
        flat[i] = orig + eps;
        plus = loss().item<double>();
        flat[i] = orig - eps;
        minus = loss().item<double>();
        flat[i] = orig;
      }
      EXPECT_NEAR(analytic.view({-1})[i].item<double>(), (plus - minus) / (2 * eps), 1e-6)
          << name << "[" << i << "]";
    }
  }
}

TEST(FusedExperts, OneModuleWithDropoutEqualsTheCompositePath) {
  // A trainable base weight sends a module down the composite path; the same seed draws the same
  // dropout mask in both.
  for (int64_t n : {1, 4}) {
    MolaLinear fused(
        MolaLinearOptions(6, 5).num_experts(n).top_k(n > 1 ? 2 : 1).rank(2).dropout(0.4));
    MolaLinear composite(fused->options);
    fused->to(at::kDouble);
    composite->to(at::kDouble);
    {
      torch::NoGradGuard no_grad;
      fused->lora_B.normal_(0.0, 0.5);
      for (auto& p : composite->named_parameters())
        p.value().copy_(fused->named_parameters()[p.key()]);
    }
    composite->weight.set_requires_grad(true);
    at::Tensor x1 = at::randn({2, 4, 6}, at::kDouble).requires_grad_(true);
    at::Tensor x2 = x1.detach().clone().requires_grad_(true);
    ASSERT_TRUE(MolaLinearImpl::canFuse({fused.get()}, x1));
    ASSERT_FALSE(MolaLinearImpl::canFuse({composite.get()}, x2));
    const at::Tensor w = at::randn({2, 4, 5}, at::kDouble);
    torch::manual_seed(5);
    const at::Tensor yf = fused(x1);
    torch::manual_seed(5);
    const at::Tensor yc = composite(x2);
    EXPECT_TRUE(at::allclose(yf, yc, 1e-12, 1e-12)) << "N=" << n;
    (yf * w).sum().backward();
    (yc * w).sum().backward();
    EXPECT_TRUE(at::allclose(x1.grad(), x2.grad(), 1e-12, 1e-12)) << "N=" << n;
    for (const char* name : {"lora_A", "lora_B", "router"}) {
      if (n == 1 && std::string(name) == "router") continue;
      EXPECT_TRUE(at::allclose(fused->named_parameters()[name].grad(),
                               composite->named_parameters()[name].grad(), 1e-12, 1e-12))
          << name << " N=" << n;
    }
  }
}

TEST(FusedExperts, ABalanceLossAloneReachesOnlyTheRouters) {
  Group g = randomGroup(4, 2, 0.0, 11);
  const at::Tensor x = at::randn({10, 6}, at::kDouble);
  MolaLinearImpl::forwardShared(g.ptrs(), x);
  // The group's routing is one block [T, 3, N] on its first module; the others have none.
  const Routing* block = g.modules[0]->routingBlock();
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->probs.sizes(), at::IntArrayRef({10, 3, 4}));
  EXPECT_EQ(g.modules[1]->routingBlock(), nullptr);
  EXPECT_EQ(g.modules[2]->routingBlock(), nullptr);
  const at::Tensor mask = at::arange(10) < 7;  // three padding tokens
  const at::Tensor fused_loss = layerBalanceLoss({block}, mask);
  fused_loss.backward();
  // The same loss through the modules one by one gives the same value and router gradients.
  Group h = randomGroup(4, 2, 0.0, 11);
  LayerRoutings separate;
  for (auto& m : h.modules) {
    m->weight.set_requires_grad(true);  // the composite path
    m(x);
    separate.push_back(m->routingBlock());
  }
  const at::Tensor separate_loss = layerBalanceLoss(separate, mask);
  separate_loss.backward();
  EXPECT_NEAR(fused_loss.item<double>(), separate_loss.item<double>(), 1e-12);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(g.modules[i]->lora_A.grad().defined()) << i;
    EXPECT_FALSE(g.modules[i]->lora_B.grad().defined()) << i;
    ASSERT_TRUE(g.modules[i]->router.grad().defined()) << i;
    EXPECT_GT(g.modules[i]->router.grad().abs().sum().item<double>(), 0.0) << i;
    EXPECT_TRUE(
        at::allclose(g.modules[i]->router.grad(), h.modules[i]->router.grad(), 1e-12, 1e-14))
        << i;
  }
}

TEST(FusedExperts, MismatchedModulesFallBackToOneCallEach) {
  Group g = randomGroup(4, 2, 0.0, 13);
  const at::Tensor x = at::randn({5, 6}, at::kDouble);
  g.modules[2]->options.top_k(1);
  EXPECT_FALSE(MolaLinearImpl::canFuse(g.ptrs(), x));
  const auto out = MolaLinearImpl::forwardShared(g.ptrs(), x);
  ASSERT_EQ(out.size(), size_t(3));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(at::allclose(out[i], g.modules[i]->forward(x), 1e-12, 1e-14)) << i;
    EXPECT_EQ(g.modules[i]->routing().topk_idx.size(1), i == 2 ? 1 : 2);
  }
  EXPECT_FALSE(MolaLinearImpl::canFuse(g.ptrs(), x.to(at::kFloat))) << "dtype differs";
  g.modules[2]->options.top_k(2);
  EXPECT_TRUE(MolaLinearImpl::canFuse(g.ptrs(), x));
  g.modules[1]->options.impl(ExpertImpl::Loop);
  EXPECT_FALSE(MolaLinearImpl::canFuse(g.ptrs(), x));
}

TEST(FusedExperts, InferenceWithoutGradientsRoutesAndMatchesTraining) {
  Group g = randomGroup(3, 2, 0.0, 17);
  const at::Tensor x = at::randn({4, 6}, at::kDouble);
  const auto trained = MolaLinearImpl::forwardShared(g.ptrs(), x);
  torch::NoGradGuard no_grad;
  for (auto& m : g.modules) m->eval();
  const auto inferred = MolaLinearImpl::forwardShared(g.ptrs(), x);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(at::equal(trained[i].detach(), inferred[i])) << i;
    EXPECT_FALSE(inferred[i].requires_grad());
    EXPECT_EQ(g.modules[i]->routing().probs.sizes(), (std::vector<int64_t>{4, 3}));
  }
}

}  // namespace
}  // namespace mola
