// SPDX-License-Identifier: GPL-3.0-or-later
// Generation loop: prefill the prompt once, then one cached position per new token.
#include "model/generate.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <algorithm>
#include <stdexcept>

#include "split_mix64.h"

namespace mola {

int sampleToken(const torch::Tensor& logits, double temperature, double top_p, double uniform) {
  const torch::Tensor row = logits.to(at::kCPU, at::kDouble).reshape({-1});
  if (temperature <= 0.0) return static_cast<int>(row.argmax().item<int64_t>());
  const torch::Tensor probs = at::softmax(row / temperature, 0);
  auto [sorted, order] = probs.sort(/*dim=*/0, /*descending=*/true);
  const auto p = sorted.accessor<double, 1>();
  const auto idx = order.accessor<int64_t, 1>();
  // Keep the smallest prefix whose mass reaches top_p (at least one token), renormalised.
  int64_t keep = 0;
  double mass = 0.0;
  while (keep < p.size(0) && (keep == 0 || mass < top_p)) mass += p[keep++];
  double target = uniform * mass, acc = 0.0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[i];
    if (target < acc) return static_cast<int>(idx[i]);
  }
  return static_cast<int>(idx[keep - 1]);
}

std::vector<int> generate(LlamaModel& model, const std::vector<int>& prompt,
                          const GenerateOptions& options,
                          const std::function<void(int)>& on_token) {
  if (prompt.empty()) throw std::invalid_argument("generation needs at least one prompt token");
  if (options.top_p <= 0.0 || options.top_p > 1.0)
    throw std::invalid_argument("top_p must lie in (0, 1]");
  const LlamaConfig& c = model->config();
  const int64_t room = c.max_seq_len - int64_t(prompt.size());
  if (room < 0)
    throw std::invalid_argument("the prompt has " + std::to_string(prompt.size()) +
                                " tokens, more than the model's " + std::to_string(c.max_seq_len));
  const int64_t steps = std::min<int64_t>(options.max_new_tokens, room);
  torch::NoGradGuard no_grad;
  const bool was_training = model->is_training();
  model->eval();
  const auto device = model->embed.device();
  KvCache cache = model->makeCache(1, int64_t(prompt.size()) + steps);
  SplitMix64 rng(options.seed);  // the same draws on every platform

  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  torch::Tensor logits =
      model->forward(torch::tensor(ids, at::kLong).view({1, -1}).to(device), {}, &cache);
  std::vector<int> out;
  for (int64_t s = 0; s < steps; ++s) {
    const int next = sampleToken(logits[0][logits.size(1) - 1], options.temperature, options.top_p,
                                 options.temperature > 0 ? rng.uniform() : 0.0);
    if (options.stop_at_eos && next == c.eos_id) break;
    out.push_back(next);
    if (on_token) on_token(next);
    if (s + 1 == steps) break;
    logits = model->forward(
        torch::full({1, 1}, int64_t(next), torch::dtype(at::kLong).device(device)), {}, &cache);
  }
  model->train(was_training);
  return out;
}

}  // namespace mola
