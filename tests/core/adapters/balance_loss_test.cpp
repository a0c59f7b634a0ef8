// SPDX-License-Identifier: GPL-3.0-or-later
// Balance loss and router statistics against hand-computed values.
#include "adapters/balance_loss.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>

namespace mola {
namespace {

Routing routing(std::vector<double> probs, int64_t n, std::vector<int64_t> idx, int64_t k) {
  Routing r;
  const int64_t t = int64_t(probs.size()) / n;
  r.probs = at::tensor(probs, at::kDouble).view({t, n});
  r.topk_idx = at::tensor(idx, at::kLong).view({t, k});
  r.topk_gate = r.probs.gather(1, r.topk_idx);
  r.topk_gate = r.topk_gate / r.topk_gate.sum(-1, true);
  return r;
}

// A token mask (1 = real token); at::tensor has no bool overload in LibTorch 1.13.
at::Tensor mask(std::vector<int64_t> keep) {
  return at::tensor(keep, at::kLong).to(at::kBool);
}

// Two modules, three experts, top-1, two tokens each.
struct HandCase {
  Routing m1 = routing({0.7, 0.2, 0.1, 0.1, 0.6, 0.3}, 3, {0, 1}, 1);
  Routing m2 = routing({0.5, 0.25, 0.25, 0.2, 0.2, 0.6}, 3, {0, 2}, 1);
};

TEST(BalanceLoss, HandComputedLayer) {
  HandCase c;
  // f = [2, 1, 1] / 4 selections; P = column means of the four rows = [0.375, 0.3125, 0.3125].
  // L = 3 * (0.5 * 0.375 + 0.25 * 0.3125 + 0.25 * 0.3125) = 1.03125
  EXPECT_NEAR(layerBalanceLoss({&c.m1, &c.m2}).item<double>(), 1.03125, 1e-12);
}

TEST(BalanceLoss, PaddingTokensAreExcluded) {
  HandCase c;
  // Token 2 is padding: rows 1 of each module remain. f = [1, 0, 0], P = [0.6, 0.225, 0.175].
  EXPECT_NEAR(layerBalanceLoss({&c.m1, &c.m2}, mask({1, 0})).item<double>(), 3 * 0.6, 1e-12);
}

TEST(BalanceLoss, GradientIsTheSelectionShareOverTheTokens) {
  // Token 2 is padding: f = [1, 0, 0] over T = 2 real rows, so d L / d p[row, i] = N f_i / T for
  // a real row: (1.5, 0, 0); padding rows get nothing.
  HandCase c;
  c.m1.probs.requires_grad_(true);
  c.m2.probs.requires_grad_(true);
  layerBalanceLoss({&c.m1, &c.m2}, mask({1, 0})).backward();
  const at::Tensor want = at::tensor({1.5, 0.0, 0.0, 0.0, 0.0, 0.0}, at::kDouble).view({2, 3});
  EXPECT_TRUE(at::allclose(c.m1.probs.grad(), want, 1e-12, 1e-12)) << c.m1.probs.grad();
  EXPECT_TRUE(at::allclose(c.m2.probs.grad(), want, 1e-12, 1e-12)) << c.m2.probs.grad();
}

TEST(BalanceLoss, TopTwoCountsBothSelections) {
  // One module, N = 3, K = 2: selections {0,1}, {1,2} -> f = [1, 2, 1] / 4; P = [0.4, 0.4, 0.2].
  Routing r = routing({0.5, 0.3, 0.2, 0.3, 0.5, 0.2}, 3, {0, 1, 1, 2}, 2);
  const double want = 3 * (0.25 * 0.4 + 0.5 * 0.4 + 0.25 * 0.2);
  EXPECT_NEAR(layerBalanceLoss({&r}).item<double>(), want, 1e-12);
}

TEST(BalanceLoss, UniformRoutingGivesOnePerLayer) {
  // Four experts, uniform probabilities, each chosen equally often (top-2 over 4 tokens).
  std::vector<double> probs(16, 0.25);
  Routing r = routing(probs, 4, {0, 1, 2, 3, 0, 2, 1, 3}, 2);
  EXPECT_NEAR(layerBalanceLoss({&r, &r}).item<double>(), 1.0, 1e-12);
  // Three layers, coefficient 0.01: 0.03.
  const std::vector<LayerRoutings> layers = {{&r}, {&r, &r}, {&r}};
  EXPECT_NEAR(balanceLoss(layers, {}, 0.01).item<double>(), 0.03, 1e-12);
  // Any imbalance costs more than the uniform minimum.
  Routing skewed = routing({0.7, 0.1, 0.1, 0.1, 0.7, 0.1, 0.1, 0.1}, 4, {0, 1, 0, 1}, 2);
  EXPECT_GT(layerBalanceLoss({&skewed}).item<double>(), 1.0);
}

TEST(BalanceLoss, GradientReachesTheRouterThroughTheMeanProbability) {
  torch::manual_seed(2);
  MolaLinear q(MolaLinearOptions(8, 8).num_experts(4).top_k(2).dropout(0));
  MolaLinear v(MolaLinearOptions(8, 8).num_experts(4).top_k(2).dropout(0));
  const at::Tensor x = at::randn({12, 8});
  q(x);
  v(x);
  const at::Tensor loss = balanceLoss({{&q->routing(), &v->routing()}}, {}, 0.001);
  loss.backward();
  ASSERT_TRUE(q->router.grad().defined());
  EXPECT_GT(q->router.grad().abs().sum().item<double>(), 0.0);
  EXPECT_FALSE(q->lora_A.grad().defined()) << "the balance loss does not touch the experts";
}

TEST(BalanceLoss, MismatchedInputsAreErrors) {
  HandCase c;
  Routing other = routing({0.5, 0.5, 0.5, 0.5}, 2, {0, 1}, 1);
  EXPECT_THROW(layerBalanceLoss({&c.m1, &other}), c10::Error);
  EXPECT_THROW(layerBalanceLoss({&c.m1}, mask({1, 1, 1})), c10::Error);
  Routing empty;
  EXPECT_THROW(layerBalanceLoss({&empty}), c10::Error);
}

TEST(RouterStats, HandComputedSnapshot) {
  HandCase c;
  RouterStatsAccumulator acc({1, 3});
  acc.add(1, {&c.m1, &c.m2});
  RouterStatsSnapshot s = acc.snapshot(7);
  EXPECT_EQ(s.step, 7);
  ASSERT_EQ(s.layers.size(), 1u) << "layer 0 saw no routing and has one expert";
  const LayerRouterStats& l = s.layers[0];
  EXPECT_EQ(l.layer, 1);
  EXPECT_EQ(l.tokens, 4);
  const std::vector<double> f = {0.5, 0.25, 0.25}, p = {0.375, 0.3125, 0.3125};
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(l.token_fraction[size_t(i)], f[size_t(i)], 1e-12);
    EXPECT_NEAR(l.mean_probability[size_t(i)], p[size_t(i)], 1e-7);
  }
  // Entropy: mean over the four rows of -sum p ln p.
  auto h = [](std::initializer_list<double> row) {
    double e = 0;
    for (double v : row) e -= v * std::log(v);
    return e;
  };
  const double entropy =
      (h({0.7, 0.2, 0.1}) + h({0.1, 0.6, 0.3}) + h({0.5, 0.25, 0.25}) + h({0.2, 0.2, 0.6})) / 4;
  EXPECT_NEAR(l.entropy, entropy, 1e-7);
  EXPECT_NEAR(l.normalized_entropy, entropy / std::log(3.0), 1e-7);
  // f deviates from 1/3 by 1/6, -1/12, -1/12: std = sqrt(1/72), CV = sqrt(1/72) * 3.
  EXPECT_NEAR(l.load_cv, 3.0 * std::sqrt(1.0 / 72.0), 1e-12);
}

TEST(RouterStats, AccumulatesAcrossCallsAndResets) {
  HandCase c;
  RouterStatsAccumulator acc({3});
  acc.add(0, {&c.m1, &c.m2});
  acc.add(0, {&c.m1}, mask({1, 0}));  // one more token, chose expert 0
  const LayerRouterStats l = acc.snapshot(1).layers.at(0);
  EXPECT_EQ(l.tokens, 5);
  EXPECT_NEAR(l.token_fraction[0], 3.0 / 5.0, 1e-12);
  EXPECT_NEAR(l.mean_probability[0], (1.5 + 0.7) / 5.0, 1e-7);
  acc.reset();
  EXPECT_TRUE(acc.snapshot(2).layers.empty());
  EXPECT_THROW(acc.add(3, {&c.m1}), std::out_of_range);
  RouterStatsAccumulator wrong({4});
  EXPECT_THROW(wrong.add(0, {&c.m1}), c10::Error) << "3 experts routed, allocation says 4";
}

TEST(RouterStats, BalancedRoutingHasZeroCvAndFullEntropy) {
  std::vector<double> probs(16, 0.25);
  Routing r = routing(probs, 4, {0, 1, 2, 3, 0, 2, 1, 3}, 2);
  RouterStatsAccumulator acc({4});
  acc.add(0, {&r});
  const LayerRouterStats l = acc.snapshot(0).layers.at(0);
  EXPECT_NEAR(l.load_cv, 0.0, 1e-12);
  EXPECT_NEAR(l.normalized_entropy, 1.0, 1e-7);
}

// A batch split over two ranks: each rank's balance loss (with the counts summed across ranks by
// `reduce`) is its share, and the shares add up to the whole batch's loss and gradient. Hand
// values: rank A has tokens [0.7 0.2 0.1] -> 0 and [0.1 0.6 0.3] -> 1; rank B [0.5 0.25 0.25] -> 0
// and a padding token. f = (2, 1, 0) / 3, P = (1.3, 1.05, 0.65) / 3, L = 3 * (2.6 + 1.05) / 9.
TEST(BalanceLossAcrossRanks, SharesAddUpToTheWholeBatch) {
  Routing a = routing({0.7, 0.2, 0.1, 0.1, 0.6, 0.3}, 3, {0, 1}, 1);
  Routing b = routing({0.5, 0.25, 0.25, 0.2, 0.2, 0.6}, 3, {0, 2}, 1);
  Routing whole =
      routing({0.7, 0.2, 0.1, 0.1, 0.6, 0.3, 0.5, 0.25, 0.25, 0.2, 0.2, 0.6}, 3, {0, 1, 0, 2}, 1);
  for (Routing* r : {&a, &b, &whole}) r->probs.requires_grad_(true);
  const at::Tensor mask_a = mask({1, 1}), mask_b = mask({1, 0}), mask_whole = mask({1, 1, 1, 0});
  // What each rank puts into the sum, then each rank's reduce adds the other's.
  at::Tensor sent_a, sent_b;
  balanceLoss({{&a}}, mask_a, 1.0, [&](at::Tensor& t) { sent_a = t.clone(); });
  balanceLoss({{&b}}, mask_b, 1.0, [&](at::Tensor& t) { sent_b = t.clone(); });
  // The layer's sums: selections (1, 1, 0), probability sums (0.8, 0.8, 0.4), the two rows'
  // entropies, 2 tokens.
  const double entropy = -(0.7 * std::log(0.7) + 0.2 * std::log(0.2) + 0.1 * std::log(0.1)) -
                         (0.1 * std::log(0.1) + 0.6 * std::log(0.6) + 0.3 * std::log(0.3));
  EXPECT_TRUE(at::allclose(
      sent_a, at::tensor({1.0, 1.0, 0.0, 0.8, 0.8, 0.4, entropy, 2.0}, at::kDouble), 1e-12, 1e-12))
      << sent_a;
  const at::Tensor share_a =
      balanceLoss({{&a}}, mask_a, 1.0, [&](at::Tensor& t) { t.add_(sent_b); });
  const at::Tensor share_b =
      balanceLoss({{&b}}, mask_b, 1.0, [&](at::Tensor& t) { t.add_(sent_a); });
  const at::Tensor all = balanceLoss({{&whole}}, mask_whole, 1.0);
  EXPECT_NEAR(all.item<double>(), 3.0 * 3.65 / 9.0, 1e-12);
  EXPECT_NEAR((share_a + share_b).item<double>(), 3.0 * 3.65 / 9.0, 1e-12);
  // Rank A's share alone: 3 * (2/3 * 0.8/3 + 1/3 * 0.8/3) (its probability sums 0.8, 0.8, 0.4).
  EXPECT_NEAR(share_a.item<double>(), 3.0 * (2.0 / 3.0 * 0.8 + 1.0 / 3.0 * 0.8) / 3.0, 1e-12);

  (share_a + share_b).backward();
  all.backward();
  const at::Tensor whole_grad = whole.probs.grad();
  EXPECT_TRUE(at::allclose(a.probs.grad(), whole_grad.narrow(0, 0, 2), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(b.probs.grad(), whole_grad.narrow(0, 2, 2), 1e-12, 1e-12));
}

// Router statistics summed across two ranks equal the statistics of both ranks' tokens.
TEST(RouterStatsAcrossRanks, ReduceSumsEveryLayer) {
  Routing a = routing({0.7, 0.2, 0.1, 0.1, 0.6, 0.3}, 3, {0, 1}, 1);
  Routing b = routing({0.5, 0.25, 0.25, 0.2, 0.2, 0.6}, 3, {0, 2}, 1);
  RouterStatsAccumulator rank_a({3, 3}), rank_b({3, 3}), both({3, 3});
  rank_a.add(0, {&a}, mask({1, 1}));
  rank_b.add(0, {&b}, mask({1, 1}));
  rank_b.add(1, {&b}, mask({1, 0}));  // layer 1: only rank B counted anything
  both.add(0, {&a}, mask({1, 1}));
  both.add(0, {&b}, mask({1, 1}));
  both.add(1, {&b}, mask({1, 0}));
  at::Tensor sent_a, sent_b;
  rank_a.reduce([&](at::Tensor& t) { sent_a = t.clone(); });
  rank_b.reduce([&](at::Tensor& t) { sent_b = t.clone(); });
  // The first pass left each accumulator's sums as they were; now rank A adds rank B's.
  rank_a.reduce([&](at::Tensor& t) { t.add_(sent_b); });
  const RouterStatsSnapshot got = rank_a.snapshot(5), want = both.snapshot(5);
  ASSERT_EQ(got.layers.size(), want.layers.size());
  for (size_t j = 0; j < want.layers.size(); ++j) {
    EXPECT_EQ(got.layers[j].tokens, want.layers[j].tokens);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(got.layers[j].token_fraction[i], want.layers[j].token_fraction[i], 1e-12);
      EXPECT_NEAR(got.layers[j].mean_probability[i], want.layers[j].mean_probability[i], 1e-12);
    }
    EXPECT_NEAR(got.layers[j].entropy, want.layers[j].entropy, 1e-12);
  }
}

}  // namespace
}  // namespace mola
