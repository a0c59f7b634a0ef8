// SPDX-License-Identifier: GPL-3.0-or-later
// MOELoRA's task-gated layer and the gate-aware rescaling of the Riemannian MoE-LoRA method,
// against hand-computed values and per-token references (fp64).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/utils.h>

#include <cmath>

#include "adapters/mola_linear.h"
#include "adapters/task_gate.h"

namespace mola {
namespace {

// Two tasks of embedding width 2, one layer of two experts of rank 1 (r = 2 shared, alpha 2:
// scaling 1). e_0 = [1 0], e_1 = [0 2]; gate rows [1 0] and [0 1]: logits of task 0 are [1 0],
// of task 1 [0 2].
struct TwoTaskToy {
  TaskGate gate{std::vector<std::string>{"arith", "order"}, 2, std::vector<int>{2}};
  MolaLinear layer{MolaLinearOptions(2, 2)
                       .num_experts(2)
                       .rank(1)
                       .scaling_rank(2)
                       .alpha(2.0)
                       .dropout(0.0)
                       .task_gated(true),
                   at::eye(2, at::kDouble)};

  TwoTaskToy() {
    gate->to(at::kDouble);
    layer->to(at::kDouble);
    torch::NoGradGuard no_grad;
    gate->embedding.copy_(at::tensor({1.0, 0.0, 0.0, 2.0}).view({2, 2}));
    gate->gates[0].copy_(at::eye(2));
    // Expert 0: A = [1 0], B = [1 0]^T; expert 1: A = [0 1], B = [0 3]^T.
    layer->lora_A.copy_(at::eye(2));
    layer->lora_B.copy_(at::tensor({1.0, 0.0, 0.0, 3.0}).view({2, 2}));
  }
};

TEST(TaskGate, WeightsAreTheSoftmaxOfTheGateOfTheTaskEmbedding) {
  TwoTaskToy toy;
  const at::Tensor w = toy.gate->weights(at::tensor({0, 1, 0}, at::kLong))[0];
  const double w00 = std::exp(1.0) / (std::exp(1.0) + 1.0);  // task 0: softmax([1, 0])
  const double w10 = 1.0 / (1.0 + std::exp(2.0));            // task 1: softmax([0, 2])
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_NEAR(w[0][0].item<double>(), w00, 1e-14);
  EXPECT_NEAR(w[0][1].item<double>(), 1.0 - w00, 1e-14);
  EXPECT_NEAR(w[1][0].item<double>(), w10, 1e-14);
  EXPECT_NEAR(w[1][1].item<double>(), 1.0 - w10, 1e-14);
  EXPECT_NEAR(w[2][0].item<double>(), w00, 1e-14);
  const RouterStatsSnapshot snap = toy.gate->snapshot(5);
  ASSERT_EQ(snap.tasks, (std::vector<std::string>{"arith", "order"}));
  ASSERT_EQ(snap.task_weights.size(), 1u);
  EXPECT_NEAR(snap.task_weights[0][1][1], 1.0 - w10, 1e-14);
  ASSERT_EQ(snap.layers.size(), 1u);
  EXPECT_NEAR(snap.layers[0].mean_probability[0], (w00 + w10) / 2, 1e-14);
}

TEST(MoeLora, TwoTaskLayerMatchesHandComputedOutputs) {
  TwoTaskToy toy;
  // Sequence 0 is task 0, sequence 1 task 1; each has the tokens [3 1] and [1 2].
  const at::Tensor x =
      at::tensor({3.0, 1.0, 1.0, 2.0, 3.0, 1.0, 1.0, 2.0}, at::kDouble).view({2, 2, 2});
  toy.layer->setTaskGates(toy.gate->weights(at::tensor({0, 1}, at::kLong))[0]);
  const at::Tensor out = toy.layer->forward(x);
  // h = x + w_0 * [x_0, 0] + w_1 * [0, 3 x_1] (scaling alpha / r = 2 / 2 = 1).
  const double w[2] = {std::exp(1.0) / (std::exp(1.0) + 1.0), 1.0 / (1.0 + std::exp(2.0))};
  for (int s = 0; s < 2; ++s)
    for (int t = 0; t < 2; ++t) {
      const double x0 = x[s][t][0].item<double>(), x1 = x[s][t][1].item<double>();
      EXPECT_NEAR(out[s][t][0].item<double>(), x0 + w[s] * x0, 1e-13) << s << "," << t;
      EXPECT_NEAR(out[s][t][1].item<double>(), x1 + (1.0 - w[s]) * 3.0 * x1, 1e-13);
    }
}

TEST(MoeLora, GateAndEmbeddingGradientsMatchFiniteDifferences) {
  TwoTaskToy toy;
  for (auto& p : toy.gate->parameters()) p.set_requires_grad(true);
  torch::manual_seed(4);
  const at::Tensor x = at::randn({2, 3, 2}, at::kDouble), probe = at::randn({2, 3, 2}, at::kDouble);
  const at::Tensor rows = at::tensor({1, 0}, at::kLong);
  const auto loss = [&] {
    toy.layer->setTaskGates(toy.gate->weights(rows)[0]);
    return (toy.layer->forward(x) * probe).sum();
  };
  loss().backward();
  for (at::Tensor p : {toy.gate->embedding, toy.gate->gates[0]}) {
    const at::Tensor grad = p.grad().clone();
    for (int64_t i = 0; i < p.numel(); ++i) {
      const double h = 1e-6;
      torch::NoGradGuard no_grad;
      const double v = p.view(-1)[i].item<double>();
      p.view(-1)[i].fill_(v + h);
      const double up = loss().item<double>();
      p.view(-1)[i].fill_(v - h);
      const double down = loss().item<double>();
      p.view(-1)[i].fill_(v);
      EXPECT_NEAR(grad.view(-1)[i].item<double>(), (up - down) / (2 * h), 1e-7) << i;
    }
  }
}

TEST(MoeLora, MissingOrMisshapenTaskGatesAreNamed) {
  TwoTaskToy toy;
  const at::Tensor x = at::ones({2, 1, 2}, at::kDouble);
  EXPECT_THROW(
      {
        try {
          toy.layer->forward(x);
        } catch (const c10::Error& e) {
          EXPECT_NE(std::string(e.what()).find("no task gates"), std::string::npos);
          throw;
        }
      },
      c10::Error);
  toy.layer->setTaskGates(at::full({3, 2}, 0.5, at::kDouble));
  EXPECT_THROW(toy.layer->forward(x), c10::Error);
}

// A routed fp64 layer: three experts of rank 2, top-2, random non-zero B.
MolaLinear routedLayer(bool rescaling, ExpertImpl impl) {
  torch::manual_seed(11);
  MolaLinear lin(MolaLinearOptions(4, 3)
                     .num_experts(3)
                     .top_k(2)
                     .rank(2)
                     .alpha(4.0)
                     .dropout(0.0)
                     .impl(impl)
                     .gate_rescaling(rescaling));
  lin->to(at::kDouble);
  torch::NoGradGuard no_grad;
  lin->lora_B.normal_(0.0, 0.5);
  return lin;
}

TEST(GateRescaling, ForwardIsUnchangedAndExpertGradientsSeeTheSquareRootOfTheGate) {
  for (ExpertImpl impl : {ExpertImpl::Stacked, ExpertImpl::Loop}) {
    MolaLinear plain = routedLayer(false, impl), rescaled = routedLayer(true, impl);
    torch::manual_seed(5);
    const at::Tensor x = at::randn({6, 4}, at::kDouble), probe = at::randn({6, 3}, at::kDouble);
    const at::Tensor out_plain = plain->forward(x), out = rescaled->forward(x);
    EXPECT_TRUE(at::allclose(out, out_plain, 1e-13, 1e-13));
    (out * probe).sum().backward();
    (out_plain * probe).sum().backward();
    // The router's gradient is the plain one: d out / d g is unchanged.
    EXPECT_TRUE(at::allclose(rescaled->router.grad(), plain->router.grad(), 1e-12, 1e-12));

    // By hand, token by token: dL/dB_i = s sum_t sqrt(g_ti) probe_t (A_i x_t)^T and
    // dL/dA_i = s sum_t sqrt(g_ti) B_i^T probe_t x_t^T, g from the module's own routing.
    const Routing& r = rescaled->routing();
    const double s = 4.0 / 2.0;
    at::Tensor ga = at::zeros_like(rescaled->lora_A), gb = at::zeros_like(rescaled->lora_B);
    for (int64_t t = 0; t < 6; ++t)
      for (int64_t k = 0; k < 2; ++k) {
        const int64_t i = r.topk_idx[t][k].item<int64_t>();
        const double w = s * std::sqrt(r.topk_gate[t][k].item<double>());
        const at::Tensor a_i = rescaled->lora_A.detach().narrow(0, 2 * i, 2);
        const at::Tensor b_i = rescaled->lora_B.detach().narrow(1, 2 * i, 2);
        gb.narrow(1, 2 * i, 2).add_(at::outer(probe[t], at::mv(a_i, x[t])), w);
        ga.narrow(0, 2 * i, 2).add_(at::outer(at::mv(b_i.t(), probe[t]), x[t]), w);
      }
    EXPECT_TRUE(at::allclose(rescaled->lora_A.grad(), ga, 1e-12, 1e-12));
    EXPECT_TRUE(at::allclose(rescaled->lora_B.grad(), gb, 1e-12, 1e-12));
    EXPECT_FALSE(at::allclose(plain->lora_B.grad(), gb, 1e-6, 1e-6));  // the rescaling matters
  }
}

}  // namespace
}  // namespace mola
