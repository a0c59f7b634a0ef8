// SPDX-License-Identifier: GPL-3.0-or-later
// The attention helper against a per-query fp64 loop: no mask, the causal flag, key masks with
// padding and a cache offset, the bias in each dtype, and the dtype autocast computes in.
#include "model/attention.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/utils.h>

#include <cmath>
#include <limits>
#include <vector>

#include "runtime.h"

namespace mola {
namespace {

// softmax(q k^T / sqrt(hd)) v over the keys `sees(b, t, u)` allows, one query at a time, in fp64.
template <typename Sees>
at::Tensor referenceAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                              Sees sees) {
  const at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  const int64_t bs = q.size(0), hs = q.size(1), ts = q.size(2), us = k.size(2), hd = q.size(3);
  at::Tensor out = at::zeros({bs, hs, ts, hd}, at::kDouble);
  auto qa = qd.accessor<double, 4>(), ka = kd.accessor<double, 4>(), va = vd.accessor<double, 4>();
  auto oa = out.accessor<double, 4>();
  for (int64_t b = 0; b < bs; ++b)
    for (int64_t h = 0; h < hs; ++h)
      for (int64_t t = 0; t < ts; ++t) {
        std::vector<double> w(size_t(us), 0.0);
        double mx = -1e300, z = 0;
        for (int64_t u = 0; u < us; ++u) {
          if (!sees(b, t, u)) continue;
          double dot = 0;
          for (int64_t d = 0; d < hd; ++d) dot += qa[b][h][t][d] * ka[b][h][u][d];
          w[size_t(u)] = dot / std::sqrt(double(hd));
          mx = std::max(mx, w[size_t(u)]);
        }
        for (int64_t u = 0; u < us; ++u)
          z += w[size_t(u)] = sees(b, t, u) ? std::exp(w[size_t(u)] - mx) : 0.0;
        for (int64_t u = 0; u < us; ++u)
          for (int64_t d = 0; d < hd; ++d) oa[b][h][t][d] += w[size_t(u)] / z * va[b][h][u][d];
      }
  return out;
}

struct Qkv {
  at::Tensor q, k, v;
};

Qkv randomQkv(int64_t b, int64_t t, int64_t total, at::ScalarType dtype = at::kDouble) {
  torch::manual_seed(3);
  return {at::randn({b, 2, t, 4}, at::kDouble).to(dtype),
          at::randn({b, 2, total, 4}, at::kDouble).to(dtype),
          at::randn({b, 2, total, 4}, at::kDouble).to(dtype)};
}

TEST(Attention, WithoutAMaskEveryQuerySeesEveryKey) {
  // One new position after a cache of 4 (decoding), where no mask is needed; on LibTorch 2.x this
  // is the call with an empty optional mask.
  const AttentionMask mask = attentionMask(1, 4, {}, at::kCPU);
  EXPECT_FALSE(mask.causal);
  EXPECT_FALSE(mask.allowed.defined());
  const Qkv x = randomQkv(2, 1, 5);
  const at::Tensor want =
      referenceAttention(x.q, x.k, x.v, [](int64_t, int64_t, int64_t) { return true; });
  EXPECT_TRUE(at::allclose(attend(x.q, x.k, x.v, mask), want, 1e-12, 1e-12));
}

TEST(Attention, CausalWithoutPaddingIsTheCausalFlag) {
  const AttentionMask mask = attentionMask(5, 0, {}, at::kCPU);
  EXPECT_TRUE(mask.causal);
  const Qkv x = randomQkv(2, 5, 5);
  const at::Tensor want =
      referenceAttention(x.q, x.k, x.v, [](int64_t, int64_t t, int64_t u) { return u <= t; });
  EXPECT_TRUE(at::allclose(attend(x.q, x.k, x.v, mask), want, 1e-12, 1e-12));
}

TEST(Attention, KeyMaskAllowsRealKeysAtOrBeforeTheQueryAndAlwaysItself) {
  // Two new positions (3 and 4) after a cache of 3; row 0 is left-padded by 4 (its position 3 is
  // padding and sees only itself), row 1 has a hole at position 1.
  const at::Tensor key_mask =
      at::tensor({0, 0, 0, 0, 1, 1, 0, 1, 1, 1}, at::kLong).view({2, 5}).to(at::kBool);
  const AttentionMask mask = attentionMask(2, 3, key_mask, at::kCPU);
  EXPECT_FALSE(mask.causal);
  ASSERT_EQ(mask.allowed.sizes(), (std::vector<int64_t>{2, 1, 2, 5}));
  const std::vector<std::vector<std::vector<int>>> want = {
      {{0, 0, 0, 1, 0}, {0, 0, 0, 0, 1}},  // row 0: position 3 (padded) sees itself, 4 sees 4
      {{1, 0, 1, 1, 0}, {1, 0, 1, 1, 1}}};
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 2; ++t)
      for (int64_t u = 0; u < 5; ++u)
        EXPECT_EQ(mask.allowed[b][0][t][u].item<bool>(), want[size_t(b)][size_t(t)][size_t(u)] != 0)
            << "row " << b << " query " << t + 3 << " key " << u;
  const Qkv x = randomQkv(2, 2, 5);
  const at::Tensor got = attend(x.q, x.k, x.v, mask);
  const at::Tensor ref = referenceAttention(x.q, x.k, x.v, [&](int64_t b, int64_t t, int64_t u) {
    return want[size_t(b)][size_t(t)][size_t(u)] != 0;
  });
  EXPECT_TRUE(at::allclose(got, ref, 1e-12, 1e-12));
  // A query that sees only itself returns its own value.
  EXPECT_TRUE(at::allclose(got[0].select(1, 0), x.v[0].select(1, 3), 1e-12, 1e-12));
}

TEST(Attention, BiasIsZeroOrTheLowestFiniteValueOfItsDtype) {
  const at::Tensor allowed = at::tensor({1, 0, 1, 1}, at::kLong).view({1, 1, 2, 2}).to(at::kBool);
  const std::vector<std::pair<at::ScalarType, double>> lowest = {
      {at::kFloat, double(std::numeric_limits<float>::lowest())},
      {at::kDouble, std::numeric_limits<double>::lowest()},
      {at::kBFloat16, -3.3895313892515355e38},  // -(2 - 2^-7) * 2^127
      {at::kHalf, -65504.0}};
  for (const auto& [dtype, value] : lowest) {
    const at::Tensor bias = attentionBias(allowed, dtype);
    EXPECT_EQ(bias.scalar_type(), dtype);
    EXPECT_TRUE(bias.isfinite().all().item<bool>()) << c10::toString(dtype);
    EXPECT_EQ(bias[0][0][0][0].item<double>(), 0.0);
    EXPECT_EQ(bias[0][0][0][1].item<double>(), value) << c10::toString(dtype);
  }
}

TEST(Attention, Bf16WithPaddingStaysFiniteAndClose) {
  const at::Tensor key_mask =
      at::tensor({0, 0, 0, 1, 1, 1, 1, 1, 1, 1}, at::kLong).view({2, 5}).to(at::kBool);
  const AttentionMask mask = attentionMask(5, 0, key_mask, at::kCPU);
  const Qkv x = randomQkv(2, 5, 5, at::kBFloat16);
  const at::Tensor got = attend(x.q, x.k, x.v, mask);
  EXPECT_EQ(got.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(got.isfinite().all().item<bool>());
  const at::Tensor ref = referenceAttention(x.q, x.k, x.v, [&](int64_t b, int64_t t, int64_t u) {
    return u == t || (u <= t && key_mask[b][u].item<bool>());
  });
  EXPECT_TRUE(at::allclose(got.to(at::kDouble), ref, 2e-2, 2e-2));
}

TEST(Attention, ComputeDtypeFollowsAutocastForFp32) {
  const at::Tensor f = at::zeros({1}, at::kFloat), d = at::zeros({1}, at::kDouble);
  EXPECT_EQ(attentionComputeDtype(f), at::kFloat);
  AutocastGuard amp(c10::DeviceType::CPU, at::kBFloat16);
  EXPECT_EQ(attentionComputeDtype(f), at::kBFloat16);
  EXPECT_EQ(attentionComputeDtype(d), at::kDouble);
  EXPECT_EQ(attentionComputeDtype(f.to(at::kBFloat16)), at::kBFloat16);
}

}  // namespace
}  // namespace mola
