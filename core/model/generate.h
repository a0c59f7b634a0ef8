// SPDX-License-Identifier: GPL-3.0-or-later
// Text generation with a KV cache: greedy (temperature 0) or temperature + top-p sampling.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/llama_model.h"

namespace mola {

struct GenerateOptions {
  int max_new_tokens = 128;
  double temperature = 0.0;  // 0: greedy (argmax)
  double top_p = 1.0;        // nucleus sampling: keep the smallest set with this much mass
  uint64_t seed = 0;         // sampling is reproducible for a given seed
  bool stop_at_eos = true;
};

// Continues `prompt` (token ids, BOS included when wanted); returns only the new tokens. The EOS
// that stops generation is not returned. `on_token` sees each new token as it is chosen. The
// prompt and the new tokens must fit the model's maximum sequence length: the number of new
// tokens is reduced to fit.
std::vector<int> generate(LlamaModel& model, const std::vector<int>& prompt,
                          const GenerateOptions& options,
                          const std::function<void(int)>& on_token = {});

// Picks the next token from one row of logits [vocab] (used by generate and its tests):
// `uniform` is a number in [0, 1) that decides the draw.
int sampleToken(const torch::Tensor& logits, double temperature, double top_p, double uniform);

}  // namespace mola
