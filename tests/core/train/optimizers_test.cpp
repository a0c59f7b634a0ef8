// SPDX-License-Identifier: GPL-3.0-or-later
// The multi-tensor AdamW against LibTorch's own AdamW: the same parameters after several steps
// (weight decay, a parameter without gradient in some steps), interchangeable checkpoints, and
// fewer operator calls. Gradient clipping against LibTorch's clip_grad_norm_ and by hand.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>
#include <torch/utils.h>
#include <torch/version.h>

#include <functional>
#include <limits>

#include "bench/op_counter.h"
#include "shared_data.h"
#include "train/optimizers.h"

namespace mola {
namespace {

std::vector<at::Tensor> freshParameters() {
  torch::manual_seed(9);
  return {at::randn({4, 3}).requires_grad_(), at::randn({5}).requires_grad_(),
          at::randn({2, 2, 2}).requires_grad_()};
}

// Gradients of step `k`: the second parameter gets none in odd steps.
void setGradients(std::vector<at::Tensor>& params, int k) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (i == 1 && k % 2 == 1) {
      params[i].mutable_grad().reset();
      continue;
    }
    params[i].mutable_grad() = at::sin(params[i].detach() * double(k + 1) + double(i));
  }
}

// Six steps of ours (capturable or not) beside LibTorch's AdamW (lr 0.01, betas 0.8 and 0.95, eps
// 1e-6, weight decay 0.1), the parameters compared after each step to `rtol`; `after(k, ours)`
// runs after step k. Returns our parameters.
std::vector<at::Tensor> stepBesideLibTorch(
    bool capturable, double rtol,
    const std::function<void(int, torch::optim::Optimizer&)>& after = {}) {
  std::vector<at::Tensor> ours = freshParameters(), reference = freshParameters();
  auto foreach_adamw = makeForeachAdamW(ours, 0.01, 0.8, 0.95, 1e-6, 0.1, capturable);
  torch::optim::AdamW adamw(reference, torch::optim::AdamWOptions(0.01)
                                           .betas(std::make_tuple(0.8, 0.95))
                                           .eps(1e-6)
                                           .weight_decay(0.1));
  for (int k = 0; k < 6; ++k) {
    setGradients(ours, k);
    setGradients(reference, k);
    foreach_adamw->step();
    adamw.step();
    for (size_t i = 0; i < ours.size(); ++i)
      EXPECT_TRUE(at::allclose(ours[i], reference[i], rtol, 1e-7)) << "step " << k << ", " << i;
    if (after) after(k, *foreach_adamw);
  }
  EXPECT_GT((ours[0] - freshParameters()[0]).abs().max().item<double>(), 1e-3);  // it moved
  return ours;
}

TEST(ForeachAdamW, FollowsLibTorchsAdamWStepForStep) {
  stepBesideLibTorch(false, 1e-6);
}

TEST(ForeachAdamW, ItsStateIsAdamWsAndItsStepIsAFewOperatorCalls) {
  std::vector<at::Tensor> ours = freshParameters(), reference = freshParameters();
  auto foreach_adamw = makeForeachAdamW(ours, 0.01);  // weight decay 0
  torch::optim::AdamW adamw(reference, torch::optim::AdamWOptions(0.01).weight_decay(0.0));
  for (int k = 0; k < 3; ++k) {
    setGradients(ours, k);
    setGradients(reference, k);
    foreach_adamw->step();
    adamw.step();
  }
  // Saved by the multi-tensor form, loaded by LibTorch's AdamW over fresh copies: both go on alike.
  const auto file = test::tempDir("foreach_adamw") / "optimizer.pt";
  torch::save(*foreach_adamw, file.string());
  std::vector<at::Tensor> copies;
  for (const at::Tensor& p : ours) copies.push_back(p.detach().clone().requires_grad_());
  torch::optim::AdamW restored(copies, torch::optim::AdamWOptions(0.01).weight_decay(0.0));
  torch::load(restored, file.string());
  setGradients(ours, 4);
  setGradients(copies, 4);
  setGradients(reference, 4);
  OpCounts calls;
  {
    const OpCounter counter;
    foreach_adamw->step();
    calls = counter.counts();
  }
  restored.step();
  adamw.step();
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_TRUE(at::allclose(ours[i], copies[i], 1e-6, 1e-7)) << i;
    EXPECT_TRUE(at::allclose(ours[i], reference[i], 1e-6, 1e-7)) << i;
  }
  // Nine multi-tensor calls for three tensors (AdamW's own loop: about nine per tensor).
  EXPECT_LE(calls.ops, 12) << calls.ops;
}

// The capturable form (for CUDA graphs) against LibTorch's AdamW, and its device-side step counts
// as what corrects the bias: with the host's counts set back to 0, as they stay while a captured
// step is replayed, it still takes the step LibTorch takes.
TEST(ForeachAdamW, ItsCapturableFormCorrectsByTheStepCountOnTheDevice) {
#if TORCH_VERSION_MAJOR >= 2
  // After step 3 the host's counts go back to 0 (a replay's view: the host never counts them);
  // had they corrected the bias, step 4 would have used step 1's corrections (0.2 and 0.05).
  stepBesideLibTorch(true, 1e-5, [](int k, torch::optim::Optimizer& o) {
    if (k == 2)
      for (auto& [key, state] : o.state())
        static_cast<torch::optim::AdamWParamState&>(*state).step(0);
  });
#else
  EXPECT_THROW(makeForeachAdamW(freshParameters(), 0.01, 0.8, 0.95, 1e-6, 0.1, true),
               std::invalid_argument);
#endif
}

TEST(ClipGradNorm, ScalesAsLibTorchDoesWithoutReadingTheNorm) {
  std::vector<at::Tensor> ours = freshParameters(), reference = freshParameters();
  setGradients(ours, 1);  // the second parameter has no gradient
  setGradients(reference, 1);
  const double expected = torch::nn::utils::clip_grad_norm_(reference, 0.5);
  ASSERT_GT(expected, 0.5);  // so that both clip
  OpCounts calls;
  at::Tensor norm;
  {
    const OpCounter counter;
    norm = clipGradNorm(ours, 0.5);
    calls = counter.counts();
  }
  EXPECT_EQ(calls.syncs, 0) << "the norm stays unread";
  EXPECT_EQ(norm.dim(), 0);
  EXPECT_EQ(norm.scalar_type(), at::kFloat);
  EXPECT_NEAR(norm.item<double>(), expected, 1e-6 * expected);
  EXPECT_FALSE(ours[1].grad().defined());
  for (size_t i : {0, 2}) EXPECT_TRUE(at::allclose(ours[i].grad(), reference[i].grad(), 1e-6, 0));
}

TEST(ClipGradNorm, ByHand) {
  at::Tensor a = at::zeros({2}).requires_grad_(), b = at::zeros({1}).requires_grad_();
  a.mutable_grad() = at::tensor({3.0f, 0.0f});
  b.mutable_grad() = at::tensor({4.0f});
  // The norm is 5: a limit of 1 scales every gradient by 1 / (5 + 1e-6).
  EXPECT_FLOAT_EQ(clipGradNorm({a, b}, 1.0).item<float>(), 5.0f);
  EXPECT_FLOAT_EQ(a.grad()[0].item<float>(), float(3.0 / (5.0 + 1e-6)));
  EXPECT_FLOAT_EQ(b.grad()[0].item<float>(), float(4.0 / (5.0 + 1e-6)));
  // Under the limit (the norm is now 1) or without one, nothing changes.
  const at::Tensor before = a.grad().clone();
  EXPECT_NEAR(clipGradNorm({a, b}, 10.0).item<double>(), 1.0, 1e-6);
  EXPECT_TRUE(at::equal(a.grad(), before));
  EXPECT_NEAR(clipGradNorm({a, b}, std::numeric_limits<double>::infinity()).item<double>(), 1.0,
              1e-6);
  EXPECT_TRUE(at::equal(a.grad(), before));
  // No gradient at all: 0.
  EXPECT_EQ(clipGradNorm({at::zeros({3}).requires_grad_()}, 1.0).item<double>(), 0.0);
}

}  // namespace
}  // namespace mola
