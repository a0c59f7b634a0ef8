// SPDX-License-Identifier: GPL-3.0-or-later
// Greedy decoding of several prompts one record at a time and as one left-padded batch with a key
// mask and a KV cache (as the evaluator's generate protocol runs it), compared step by step.
#pragma once

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>
#include <vector>

#include "model/generate.h"
#include "model/llama_model.h"

namespace mola::test {

struct BatchedDecodeComparison {
  bool finite = true;  // every logit of the batched run, the padded positions' included
  // max over records and steps of max|batched - alone| / max|alone| (the chosen token's logits)
  double worst_diff = 0;
  // The same for each padded position of the prefill against its token as a record of its own: a
  // padded query sees only itself, so it is one-token sequence wherever it stands.
  double padded_diff = 0;
  int padded = 0;  // padded positions compared
  // Steps where the record's own top-2 logits differ by more than `margin` * max|logit|, and
  // those of them where the batch chose the record's own token.
  int decided = 0, agreed = 0;
};

// Alone: generate() (greedy, cached) for each prompt, and a full forward over prompt + new tokens
// for the logits at each choice. Batched: one prefill of the left-padded prompts, then each row's
// own tokens (the same continuation as alone), one cached position at a time.
inline BatchedDecodeComparison compareBatchedDecode(LlamaModel& m,
                                                    const std::vector<std::vector<int>>& prompts,
                                                    int64_t steps, double margin) {
  torch::NoGradGuard no_grad;
  const c10::Device device = m->embed.device();
  const int64_t b = int64_t(prompts.size());
  int64_t len = 0;
  for (const auto& p : prompts) len = std::max(len, int64_t(p.size()));
  std::vector<std::vector<int>> tokens;
  std::vector<at::Tensor> alone;  // [steps, vocab] each
  GenerateOptions o;
  o.max_new_tokens = int(steps);
  o.stop_at_eos = false;
  for (const std::vector<int>& p : prompts) {
    tokens.push_back(generate(m, p, o));
    std::vector<int64_t> seq(p.begin(), p.end());
    seq.insert(seq.end(), tokens.back().begin(), tokens.back().end());
    const at::Tensor ids = at::tensor(seq, at::kLong).view({1, -1}).to(device);
    alone.push_back(m->forward(ids)[0].narrow(0, int64_t(p.size()) - 1, steps).cpu());
  }
  std::vector<int64_t> flat(size_t(b * len), 0), keys(size_t(b * (len + steps)), 1);
  for (int64_t i = 0; i < b; ++i) {
    const auto& p = prompts[size_t(i)];
    const int64_t pad = len - int64_t(p.size());
    std::copy(p.begin(), p.end(), flat.begin() + i * len + pad);
    std::fill(keys.begin() + i * (len + steps), keys.begin() + i * (len + steps) + pad, 0);
  }
  const at::Tensor key_mask =
      at::tensor(keys, at::kLong).view({b, len + steps}).to(at::kBool).to(device);
  KvCache cache = m->makeCache(b, len + steps);
  at::Tensor logits = m->forward(at::tensor(flat, at::kLong).view({b, len}).to(device),
                                 key_mask.narrow(1, 0, len), &cache);
  BatchedDecodeComparison out;
  for (int64_t i = 0; i < b; ++i)
    for (int64_t p = 0; p < len - int64_t(prompts[size_t(i)].size()); ++p) {
      const at::Tensor one = at::full({1, 1}, flat[size_t(i * len + p)], at::kLong).to(device);
      const at::Tensor want = m->forward(one)[0][0].cpu();
      out.padded_diff =
          std::max(out.padded_diff, (logits[i][p].cpu() - want).abs().max().item<double>() /
                                        want.abs().max().item<double>());
      ++out.padded;
    }
  for (int64_t s = 0; s < steps; ++s) {
    out.finite = out.finite && logits.isfinite().all().item<bool>();
    const at::Tensor last = logits.select(1, logits.size(1) - 1).cpu();  // [B, vocab]
    std::vector<int64_t> next;
    for (int64_t i = 0; i < b; ++i) {
      const at::Tensor want = alone[size_t(i)][s];
      const double scale = want.abs().max().item<double>();
      out.worst_diff =
          std::max(out.worst_diff, (last[i] - want).abs().max().item<double>() / scale);
      const at::Tensor top2 = std::get<0>(want.topk(2));
      if ((top2[0] - top2[1]).item<double>() > margin * scale) {
        ++out.decided;
        out.agreed += last[i].argmax().item<int64_t>() == tokens[size_t(i)][size_t(s)];
      }
      next.push_back(tokens[size_t(i)][size_t(s)]);
    }
    logits = m->forward(at::tensor(next, at::kLong).view({b, 1}).to(device),
                        key_mask.narrow(1, 0, len + s + 1), &cache);
  }
  out.finite = out.finite && logits.isfinite().all().item<bool>();
  return out;
}

}  // namespace mola::test
