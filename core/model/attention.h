// SPDX-License-Identifier: GPL-3.0-or-later
// Scaled dot-product attention for LlamaModel: which keys each query sees, the additive mask in
// the compute dtype, and one kernel call per LibTorch line (2.x's fused kernel, 1.13's exact path).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace mola {

// Which keys the T new queries (positions offset .. offset+T-1) may see among keys 0 .. T_total-1.
struct AttentionMask {
  // Exactly causal over the new positions alone (no cache, no padding): LibTorch 2.x masks by
  // itself then (is_causal), which lets it choose flash attention.
  bool causal = false;
  // [B or 1, 1, T, T_total] bool, true where a query may look; undefined when every query sees
  // every key (one new position without padding).
  at::Tensor allowed;
};

// key_mask: [B, T_total] bool, true for real tokens, or undefined for no padding. A query sees the
// keys at or before its position that are real, and always itself. A query at a padded position
// (left padding) would otherwise have no key at all, and the kernels disagree on such a row: where
// its mask reads -inf they return zeros (2.x's CPU kernels since 2.5; CUDA's memory-efficient
// kernel, which scales scores by log2(e) first, so that even a float's lowest overflows to -inf),
// where it is finite they average over every key, later ones included (the CPU), and a plain
// softmax gives NaN. Seeing itself, every row has a key and the same answer on every kernel.
AttentionMask attentionMask(int64_t t, int64_t offset, const at::Tensor& key_mask,
                            c10::Device device);

// The additive bias for `allowed` in `dtype`: 0 where allowed, else the dtype's lowest finite value
// (a float lowest cast to bf16 or fp16 would round to -inf).
at::Tensor attentionBias(const at::Tensor& allowed, at::ScalarType dtype);

// The dtype attention computes in for q: autocast's on its device for an fp32 q when autocast is
// on there (LibTorch 2.x's scaled_dot_product_attention runs under autocast), else q's own.
at::ScalarType attentionComputeDtype(const at::Tensor& q);

// softmax(q k^T / sqrt(hd) + bias) v. q: [B, H, T, hd]; k, v: [B, H, T_total, hd] (key/value heads
// already repeated for grouped-query attention). Returns [B, H, T, hd] in the compute dtype.
// LibTorch 2.x: at::scaled_dot_product_attention with the bias in the compute dtype (or is_causal).
// LibTorch 1.13: the same equation, scores in fp32 (fp64 for fp64) with autocast off.
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                  const AttentionMask& mask);

}  // namespace mola
