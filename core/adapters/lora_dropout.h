// SPDX-License-Identifier: GPL-3.0-or-later
// Dropout on the LoRA input, drawn by one fast keep mask that every expert implementation shares.
#pragma once

#include <ATen/core/Tensor.h>

namespace mola {

// Inverted dropout as at::dropout(x, p, /*train=*/true) defines it: x * keep / (1 - p), keep a
// Bernoulli(1 - p) draw per element. `keep` (bool, the shape of x) is what a hand-written backward
// pass needs. p = 0 returns x itself and an undefined mask.
//
// On the CPU the mask comes from a counter-based generator: element pair j takes the two halves of
// splitmix64(seed + (j + 1) * golden gamma), kept where a half is below (1 - p) * 2^32. The seed is
// one draw from LibTorch's default CPU generator, so torch::manual_seed fixes the mask, and the
// mask does not depend on the thread count. bernoulli_ draws one element at a time through a
// distribution object: 8 ns an element here, a tenth of a CPU training step at the small shape.
// On other devices the mask is rand < 1 - p there.
struct DroppedInput {
  at::Tensor x;     // x * keep / (1 - p), differentiable in x
  at::Tensor keep;  // bool
};
DroppedInput loraDropout(const at::Tensor& x, double p);

// The keep mask alone: bool, the shape and device of `like`, each element true with probability
// 1 - p. Throws c10::Error naming p unless 0 <= p < 1.
at::Tensor dropoutKeepMask(const at::Tensor& like, double p);

}  // namespace mola
