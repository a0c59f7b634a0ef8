// SPDX-License-Identifier: GPL-3.0-or-later
// Attention masks and the attention kernel call, shared by both LibTorch lines (see attention.h).
#include "model/attention.h"

#include <ATen/ATen.h>
#include <c10/util/Optional.h>
#include <torch/version.h>

#include <cmath>
#include <limits>

#include "runtime.h"

namespace mola {

AttentionMask attentionMask(int64_t t, int64_t offset, const at::Tensor& key_mask,
                            c10::Device device) {
  AttentionMask mask;
  const int64_t total = offset + t;
  mask.causal = t > 1 && !key_mask.defined() && offset == 0;
  if (t == 1 && !key_mask.defined()) return mask;  // one query sees everything so far
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  const at::Tensor qpos = at::arange(offset, total, longs).unsqueeze(1);  // [T, 1]
  const at::Tensor kpos = at::arange(0, total, longs).unsqueeze(0);       // [1, T_total]
  at::Tensor allowed = kpos.le(qpos).unsqueeze(0).unsqueeze(0);           // [1, 1, T, T_total]
  if (key_mask.defined()) {
    const int64_t b = key_mask.size(0);
    allowed = allowed.logical_and(key_mask.to(device, at::kBool).view({b, 1, 1, total}))
                  .logical_or(kpos.eq(qpos).view({1, 1, t, total}));  // [B, 1, T, T_total]
  }
  mask.allowed = allowed;
  return mask;
}

at::Tensor attentionBias(const at::Tensor& allowed, at::ScalarType dtype) {
  at::Tensor bias = at::zeros(allowed.sizes(), allowed.options().dtype(dtype));
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, dtype, "attentionBias", [&] {
    bias.masked_fill_(allowed.logical_not(), std::numeric_limits<scalar_t>::lowest());
  });
  return bias;
}

at::ScalarType attentionComputeDtype(const at::Tensor& q) {
  const c10::DeviceType device = q.device().type();
  const bool autocast_here = (device == c10::DeviceType::CPU || device == c10::DeviceType::CUDA) &&
                             autocastEnabled(device);
  if (autocast_here && q.scalar_type() == at::kFloat) return autocastDtype(device);
  return q.scalar_type();
}

at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const AttentionMask& mask) {
#if TORCH_VERSION_MAJOR >= 2
  // No mask is an empty optional: an undefined tensor in it is refused ("attn_mask.dtype:
  // nullptr") by 2.x's checks.
  c10::optional<at::Tensor> bias;
  if (mask.allowed.defined() && !mask.causal)
    bias = attentionBias(mask.allowed, attentionComputeDtype(q));
  return at::scaled_dot_product_attention(q, k, v, bias, /*dropout_p=*/0.0,
                                          /*is_causal=*/mask.causal);
#else
  // Scores in fp32 (fp64 for fp64), also under autocast, which would run q k^T in half precision.
  // The mask carries causality here (1.13 has no fused kernel to do it).
  const at::ScalarType ct = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor scores;
  {
    AutocastGuard exact(q.device().type(), at::kBFloat16, /*enabled=*/false);
    scores = at::matmul(q.to(ct), k.to(ct).transpose(-2, -1)) /
             std::sqrt(double(q.size(-1)));  // [B, H, T, T_total]
  }
  if (mask.allowed.defined()) scores = scores + attentionBias(mask.allowed, ct);
  return at::matmul(at::softmax(scores, -1).to(v.scalar_type()), v);
#endif
}

}  // namespace mola
