// SPDX-License-Identifier: GPL-3.0-or-later
// linearCrossEntropySum against ATen's cross_entropy over the whole logits: the loss and both
// gradients in fp64 with uneven chunks, a frozen head, no grad mode, bf16 autocast, shape errors.
#include "model/linear_cross_entropy.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/autograd.h>
#include <torch/utils.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>

#include "runtime.h"

namespace mola {
namespace {

struct Problem {
  at::Tensor h, weight, targets;
};

// 13 rows, d 6, a vocabulary of 11, with logits large enough that the softmax is far from even.
Problem problem(at::ScalarType dtype) {
  torch::manual_seed(5);
  Problem p;
  p.h = (3 * at::randn({13, 6}, at::kDouble)).to(dtype).requires_grad_();
  p.weight = at::randn({11, 6}, at::kDouble).to(dtype).requires_grad_();
  p.targets = at::randint(11, {13}, at::kLong);
  return p;
}

struct Result {
  at::Tensor loss, grad_h, grad_w;
};

// loss * 2.5 back-propagated, so that the backward's scaling by the loss's gradient shows.
Result run(const Problem& p, const std::function<at::Tensor()>& loss) {
  p.h.mutable_grad().reset();
  p.weight.mutable_grad().reset();
  Result r;
  r.loss = loss();
  (r.loss * 2.5).backward();
  r.grad_h = p.h.grad().defined() ? p.h.grad().clone() : at::Tensor();
  r.grad_w = p.weight.grad().defined() ? p.weight.grad().clone() : at::Tensor();
  return r;
}

Result reference(const Problem& p) {
  return run(p, [&] {
    return at::cross_entropy_loss(at::linear(p.h, p.weight), p.targets, {}, at::Reduction::Sum);
  });
}

TEST(LinearCrossEntropy, EqualsCrossEntropyOverTheWholeLogitsInFp64) {
  const Problem p = problem(at::kDouble);
  const Result want = reference(p);
  for (int64_t chunk : {0, 1, 4, 13, 50}) {  // one chunk, every row alone, 4+4+4+1, ...
    SCOPED_TRACE(chunk);
    const Result got =
        run(p, [&] { return linearCrossEntropySum(p.h, p.weight, p.targets, chunk); });
    EXPECT_EQ(got.loss.scalar_type(), at::kDouble);
    EXPECT_NEAR(got.loss.item<double>(), want.loss.item<double>(), 1e-12);
    ASSERT_TRUE(got.grad_h.defined() && got.grad_w.defined());
    EXPECT_TRUE(at::allclose(got.grad_h, want.grad_h, 1e-12, 1e-12));
    EXPECT_TRUE(at::allclose(got.grad_w, want.grad_w, 1e-12, 1e-12));
  }
}

TEST(LinearCrossEntropy, ByHandForOneRow) {
  // Logits (1, 2, 3) for target 0: loss log(e + e^2 + e^3) - 1; d loss / d h = (p - e0) W.
  const at::Tensor h = at::tensor({1.0, 0.0}, at::kDouble).view({1, 2}).requires_grad_();
  const at::Tensor w = at::tensor({1.0, 0.0, 2.0, 0.0, 3.0, 0.0}, at::kDouble).view({3, 2});
  const at::Tensor loss = linearCrossEntropySum(h, w, at::zeros({1}, at::kLong));
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(loss.item<double>(), std::log(z) - 1.0, 1e-12);
  loss.backward();
  const double dh0 = (std::exp(1.0) / z - 1.0) * 1 + std::exp(2.0) / z * 2 + std::exp(3.0) / z * 3;
  EXPECT_NEAR(h.grad()[0][0].item<double>(), dh0, 1e-12);
  EXPECT_NEAR(h.grad()[0][1].item<double>(), 0.0, 1e-15);
}

TEST(LinearCrossEntropy, AFrozenHeadGetsNoGradientAndNoGradModeNoGraph) {
  Problem p = problem(at::kDouble);
  const Result want = reference(p);
  p.weight.requires_grad_(false);
  const Result got = run(p, [&] { return linearCrossEntropySum(p.h, p.weight, p.targets, 3); });
  EXPECT_FALSE(got.grad_w.defined());
  EXPECT_TRUE(at::allclose(got.grad_h, want.grad_h, 1e-12, 1e-12));
  at::NoGradGuard no_grad;
  const at::Tensor loss = linearCrossEntropySum(p.h, p.weight, p.targets, 3);
  EXPECT_FALSE(loss.requires_grad());
  EXPECT_NEAR(loss.item<double>(), want.loss.item<double>(), 1e-12);
}

TEST(LinearCrossEntropy, NoRowsGiveZeroAndZeroGradients) {
  const at::Tensor h = at::zeros({0, 4}).requires_grad_();
  const at::Tensor loss = linearCrossEntropySum(h, at::randn({7, 4}), at::zeros({0}, at::kLong));
  EXPECT_EQ(loss.item<float>(), 0.0f);
  loss.backward();
  EXPECT_EQ(h.grad().sizes(), h.sizes());
}

// Under bf16 autocast the products run in bf16 and the softmax in fp32, as at::linear followed by
// cross_entropy does: the same loss and gradients to bf16's precision, the gradients in the
// inputs' dtypes.
TEST(LinearCrossEntropy, FollowsAutocastLikeTheHeadAndCrossEntropy) {
  const Problem p = problem(at::kFloat);
  Result want, got;
  {
    const AutocastGuard amp(c10::kCPU, at::kBFloat16);
    want = run(p, [&] {
      return at::cross_entropy_loss(at::linear(p.h, p.weight).to(at::kFloat), p.targets, {},
                                    at::Reduction::Sum);
    });
    got = run(p, [&] { return linearCrossEntropySum(p.h, p.weight, p.targets, 5); });
  }
  EXPECT_EQ(got.loss.scalar_type(), at::kFloat);
  EXPECT_EQ(got.grad_h.scalar_type(), at::kFloat);
  EXPECT_EQ(got.grad_w.scalar_type(), at::kFloat);
  EXPECT_NEAR(got.loss.item<double>(), want.loss.item<double>(),
              1e-5 * want.loss.abs().item<double>());
  // bf16 products of sums that cancel: compared with the gradients' scale.
  for (const auto& [ours, theirs] : {std::pair(got.grad_h, want.grad_h), {got.grad_w, want.grad_w}})
    EXPECT_LT((ours - theirs).abs().max().item<double>(), 1e-2 * theirs.abs().max().item<double>());
  // And far from the fp32 loss's own value: the products did run in bf16.
  const at::Tensor fp32 =
      at::cross_entropy_loss(at::linear(p.h, p.weight), p.targets, {}, at::Reduction::Sum);
  EXPECT_NE(got.loss.item<float>(), fp32.item<float>());
}

TEST(LinearCrossEntropy, ShapeErrorsNameTheShapes) {
  const at::Tensor h = at::randn({3, 4}), w = at::randn({5, 4});
  try {
    linearCrossEntropySum(h, at::randn({5, 3}), at::zeros({3}, at::kLong));
    FAIL() << "a head of the wrong width was taken";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[5, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(linearCrossEntropySum(h, w, at::zeros({2}, at::kLong)), c10::Error);
  EXPECT_THROW(linearCrossEntropySum(h, w, at::zeros({3}, at::kLong), -1), c10::Error);
}

}  // namespace
}  // namespace mola
