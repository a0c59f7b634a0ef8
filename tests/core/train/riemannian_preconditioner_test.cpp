// SPDX-License-Identifier: GPL-3.0-or-later
// The Riemannian-preconditioned update of a two-expert layer against one computed by hand in fp64
// (2 x 2 inverses written out), with SGD and with AdamW's first step.
#include "train/riemannian_preconditioner.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/optimizer.h>
#include <torch/utils.h>

#include "adapters/mola_linear.h"
#include "train/optimizers.h"

namespace mola {
namespace {

// [[a, b], [c, d]]^-1 by the cofactor formula.
at::Tensor inverse2x2(const at::Tensor& m) {
  const double a = m[0][0].item<double>(), b = m[0][1].item<double>();
  const double c = m[1][0].item<double>(), d = m[1][1].item<double>();
  const double det = a * d - b * c;
  return at::tensor({d / det, -b / det, -c / det, a / det}, at::kDouble).view({2, 2});
}

// Two experts of rank 2 on [3 -> 2], fp64, with given (random) A, B and gradients.
struct TwoExpertLayer {
  MolaLinear layer{MolaLinearOptions(3, 2).num_experts(2).top_k(1).rank(2).dropout(0.0)};
  at::Tensor grad_a, grad_b;

  TwoExpertLayer() {
    layer->to(at::kDouble);
    torch::manual_seed(21);
    torch::NoGradGuard no_grad;
    layer->lora_A.normal_();
    layer->lora_B.normal_();
    grad_a = at::randn({4, 3}, at::kDouble);
    grad_b = at::randn({2, 4}, at::kDouble);
    layer->lora_A.mutable_grad() = grad_a.clone();
    layer->lora_B.mutable_grad() = grad_b.clone();
  }

  // The preconditioned gradients by hand: expert i's A rows [2i, 2i+2), B columns [2i, 2i+2).
  std::pair<at::Tensor, at::Tensor> byHand(double damping) const {
    at::Tensor pa = grad_a.clone(), pb = grad_b.clone();
    for (int64_t i = 0; i < 2; ++i) {
      const at::Tensor a = layer->lora_A.detach().narrow(0, 2 * i, 2);  // [2, 3]
      const at::Tensor b = layer->lora_B.detach().narrow(1, 2 * i, 2);  // [2, 2]
      const at::Tensor eye = at::eye(2, at::kDouble) * damping;
      pa.narrow(0, 2 * i, 2)
          .copy_(at::mm(inverse2x2(at::mm(b.t(), b) + eye), grad_a.narrow(0, 2 * i, 2)));
      pb.narrow(1, 2 * i, 2)
          .copy_(at::mm(grad_b.narrow(1, 2 * i, 2), inverse2x2(at::mm(a, a.t()) + eye)));
    }
    return {pa, pb};
  }
};

TEST(RiemannianPreconditioner, SgdStepMatchesTheHandComputedUpdate) {
  TwoExpertLayer t;
  const double damping = 0.01, lr = 0.1;
  const auto [pa, pb] = t.byHand(damping);
  const at::Tensor a0 = t.layer->lora_A.detach().clone(), b0 = t.layer->lora_B.detach().clone();
  ExperimentConfig c;
  c.optimizer = "sgd";
  c.lr = lr;
  auto sgd = makeOptimizer(c, {t.layer->lora_A, t.layer->lora_B});
  RiemannianPreconditioner(std::vector<MolaLinearImpl*>{t.layer.get()}, damping).apply();
  EXPECT_TRUE(at::allclose(t.layer->lora_A.grad(), pa, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(t.layer->lora_B.grad(), pb, 1e-12, 1e-12));
  sgd->step();
  EXPECT_TRUE(at::allclose(t.layer->lora_A.detach(), a0 - lr * pa, 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(t.layer->lora_B.detach(), b0 - lr * pb, 1e-12, 1e-12));
  // Not the plain step: the preconditioner changes the direction.
  EXPECT_FALSE(at::allclose(pa, t.grad_a, 1e-3, 1e-3));
}

TEST(RiemannianPreconditioner, AdamWMomentsSeeThePreconditionedGradient) {
  TwoExpertLayer t;
  const double damping = 1e-6, lr = 0.01, eps = 1e-8;
  const auto [pa, pb] = t.byHand(damping);
  const at::Tensor a0 = t.layer->lora_A.detach().clone();
  ExperimentConfig c;
  c.lr = lr;
  c.adam_eps = eps;
  auto adamw = makeOptimizer(c, {t.layer->lora_A, t.layer->lora_B});
  RiemannianPreconditioner(std::vector<MolaLinearImpl*>{t.layer.get()}, damping).apply();
  adamw->step();
  // First step, bias-corrected: m = g, v = g^2, so the update is lr * g / (|g| + eps) of the
  // preconditioned g.
  EXPECT_TRUE(
      at::allclose(t.layer->lora_A.detach(), a0 - lr * pa / (pa.abs() + eps), 1e-10, 1e-12));
}

TEST(RiemannianPreconditioner, ZeroBStartsWithAFiniteStep) {
  // A fresh adapter has B = 0: (B^T B + delta I)^-1 = I / delta, and grad A is 0 there anyway.
  MolaLinear lin(MolaLinearOptions(3, 2).num_experts(2).top_k(1).rank(2).dropout(0.0));
  lin->to(at::kDouble);
  torch::manual_seed(2);
  const at::Tensor x = at::randn({5, 3}, at::kDouble);
  lin->forward(x).pow(2).sum().backward();
  RiemannianPreconditioner(std::vector<MolaLinearImpl*>{lin.get()}, 1e-6).apply();
  EXPECT_TRUE(at::isfinite(lin->lora_A.grad()).all().item<bool>());
  EXPECT_TRUE(at::isfinite(lin->lora_B.grad()).all().item<bool>());
  EXPECT_EQ(lin->lora_A.grad().abs().max().item<double>(), 0.0);
  EXPECT_GT(lin->lora_B.grad().abs().max().item<double>(), 0.0);
}

}  // namespace
}  // namespace mola
