// SPDX-License-Identifier: GPL-3.0-or-later
// The output head and the next-token cross-entropy in one pass over chunks of rows, without the
// [rows, vocab] logits in memory.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace mola {

// sum_i CE(h_i W^T, targets_i): the summed cross-entropy of the logits h W^T (h [n, d], the
// head's weight W [V, d]) against targets [n], each in [0, V). The rows go chunk by chunk: a
// chunk's logits live only while it is worked on, and since the loss ends the graph, the
// gradients of h (and of W when it needs one) are computed in the same pass and kept for the
// backward, which scales them by the loss's gradient. Memory: one chunk of logits and h's
// gradient, instead of the logits, their log-softmax and its gradient for every row (three times
// n x V floats: 1.5 GiB for 4,096 rows of a 32,000-token vocabulary). The logits are the
// products at::linear makes under the current autocast state, the softmax is fp32 (fp64 for fp64
// inputs), and the result equals at::cross_entropy_loss over at::linear(h, W) with Sum.
// chunk_rows 0: as many rows as make 64 Mi logits a chunk.
at::Tensor linearCrossEntropySum(const at::Tensor& h, const at::Tensor& weight,
                                 const at::Tensor& targets, int64_t chunk_rows = 0);

}  // namespace mola
