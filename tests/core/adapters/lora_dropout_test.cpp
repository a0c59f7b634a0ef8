// SPDX-License-Identifier: GPL-3.0-or-later
// The LoRA dropout mask: its keep rate and independence against binomial bounds, its determinism
// under torch::manual_seed and across thread counts, and the inverted-dropout values and gradient.
#include "adapters/lora_dropout.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>

namespace mola {
namespace {

// |observed - expected| of a rate measured over n Bernoulli(q) trials, in standard deviations.
double sigmas(double observed, double q, int64_t n) {
  return std::abs(observed - q) / std::sqrt(q * (1.0 - q) / double(n));
}

TEST(LoraDropout, KeepsEachElementWithProbabilityOneMinusP) {
  const at::Tensor like = at::empty({1000, 1001});  // odd count: the last pair is half used
  for (double p : {0.05, 0.3, 0.5, 0.9}) {
    torch::manual_seed(7);
    const at::Tensor keep = dropoutKeepMask(like, p);
    ASSERT_EQ(keep.scalar_type(), at::kBool);
    ASSERT_EQ(keep.sizes(), like.sizes());
    const double rate = keep.to(at::kDouble).mean().item<double>();
    EXPECT_LT(sigmas(rate, 1.0 - p, like.numel()), 5.0) << "p = " << p << ", kept " << rate;
  }
}

TEST(LoraDropout, NeighboursAreIndependent) {
  // Elements 2j and 2j+1 share one 64-bit draw, 2j+1 and 2j+2 do not: both pairs must be kept
  // together at the rate (1 - p)^2 of independent draws, and every position kept at 1 - p.
  const double p = 0.3, q = 1.0 - p;
  torch::manual_seed(11);
  const at::Tensor keep = dropoutKeepMask(at::empty({1 << 20}), p).to(at::kDouble);
  const at::Tensor even = keep.slice(0, 0, keep.size(0) - 1, 2);
  const at::Tensor odd = keep.slice(0, 1, keep.size(0), 2);
  const int64_t n = even.numel();
  EXPECT_LT(sigmas(even.mean().item<double>(), q, n), 5.0);
  EXPECT_LT(sigmas(odd.mean().item<double>(), q, n), 5.0);
  const double same_draw = (even * odd).mean().item<double>();
  const double next_draw = (odd.slice(0, 0, n - 1) * even.slice(0, 1, n)).mean().item<double>();
  EXPECT_LT(sigmas(same_draw, q * q, n), 5.0) << same_draw;
  EXPECT_LT(sigmas(next_draw, q * q, n - 1), 5.0) << next_draw;
}

TEST(LoraDropout, SeededByTorchAndTheSameOnAnyThreadCount) {
  const at::Tensor like = at::empty({300, 700});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  torch::manual_seed(5);
  const at::Tensor one_thread = dropoutKeepMask(like, 0.2);
  at::set_num_threads(2);
  torch::manual_seed(5);
  const at::Tensor two_threads = dropoutKeepMask(like, 0.2);
  const at::Tensor next = dropoutKeepMask(like, 0.2);
  torch::manual_seed(6);
  const at::Tensor other_seed = dropoutKeepMask(like, 0.2);
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(one_thread, two_threads));
  EXPECT_FALSE(at::equal(two_threads, next)) << "each call draws a fresh mask";
  EXPECT_FALSE(at::equal(two_threads, other_seed));
}

TEST(LoraDropout, InvertedDropoutValuesAndGradient) {
  const double p = 0.25;
  const at::Tensor x = at::randn({64, 33}, at::kDouble).requires_grad_(true);
  torch::manual_seed(3);
  const DroppedInput d = loraDropout(x, p);
  ASSERT_TRUE(d.keep.defined());
  const at::Tensor expected = at::where(d.keep, x.detach() / (1.0 - p), at::zeros_like(x));
  EXPECT_TRUE(at::allclose(d.x.detach(), expected, 1e-15, 0));
  d.x.sum().backward();
  const at::Tensor grad = at::where(d.keep, at::full_like(x, 1.0 / (1.0 - p)), at::zeros_like(x));
  EXPECT_TRUE(at::allclose(x.grad(), grad, 1e-15, 0));

  const DroppedInput none = loraDropout(x, 0.0);
  EXPECT_TRUE(none.x.is_same(x)) << "p = 0 is the identity";
  EXPECT_FALSE(none.keep.defined());
}

TEST(LoraDropout, ProbabilityOutsideTheRangeIsAnError) {
  for (double p : {-0.1, 1.0, 1.5}) {
    try {
      dropoutKeepMask(at::empty({4}), p);
      ADD_FAILURE() << "p = " << p << " was accepted";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what_without_backtrace()).find("dropout probability"),
                std::string::npos);
    }
  }
}

}  // namespace
}  // namespace mola
