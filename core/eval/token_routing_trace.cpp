// SPDX-License-Identifier: GPL-3.0-or-later
// traceTokenRouting: a forward pass without gradients, then each module's last routing.
#include "eval/token_routing_trace.h"

#include <ATen/ATen.h>
#include <torch/utils.h>

#include <stdexcept>
#include <string>

#include "model/tokenizer.h"

namespace mola {

namespace {

// [T, N] of any floating dtype on any device -> rows of doubles.
TokenExpertTable tableOf(const at::Tensor& t) {
  const at::Tensor host = t.detach().to(at::kCPU, at::kDouble).contiguous();
  const int64_t rows = host.size(0), cols = host.size(1);
  const double* p = host.data_ptr<double>();
  TokenExpertTable out(size_t(rows), std::vector<double>(static_cast<size_t>(cols)));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[size_t(r)][size_t(c)] = p[r * cols + c];
  return out;
}

ModuleTokenRouting moduleRouting(TargetModule m, const Routing& r) {
  ModuleTokenRouting out;
  out.module = std::string(targetModuleName(m));
  out.probability = tableOf(r.probs);
  // The K gates scattered to their experts' columns.
  const at::Tensor dense =
      at::zeros_like(r.probs).scatter(1, r.topk_idx, r.topk_gate.to(r.probs.scalar_type()));
  out.gate = tableOf(dense);
  return out;
}

}  // namespace

TokenRouting traceTokenRouting(LlamaModel& model, const Tokenizer& tokenizer,
                               const std::vector<int>& ids) {
  const MolaSpec& spec = model->molaSpec();
  if (!model->hasAdapters() || spec.task_gated || spec.allocation.maxExperts() < 2)
    throw std::invalid_argument(
        spec.task_gated ? "a MOELoRA adapter's gate reads the task, not the token: it routes "
                          "every token of a task alike (its weights are in the run's router "
                          "statistics)"
                        : "the model has no router to trace: load a MoLA adapter (2 or more "
                          "experts in a layer)");
  const int64_t max_len = model->config().max_seq_len;
  if (ids.empty() || int64_t(ids.size()) > max_len)
    throw std::invalid_argument("the text is " + std::to_string(ids.size()) +
                                " tokens; the model takes 1 to " + std::to_string(max_len));
  TokenRouting out;
  out.ids = ids;
  out.tokens = tokenPieces(tokenizer, ids);
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids64(ids.begin(), ids.end());
  const at::Tensor input =
      at::tensor(ids64, at::TensorOptions(at::kLong)).view({1, -1}).to(model->embed.device());
  model->forward(input);
  for (int j = 0; j < spec.allocation.numLayers(); ++j) {
    if (spec.allocation.experts(j) < 2) continue;
    LayerTokenRouting layer;
    layer.layer = j;
    layer.experts = spec.allocation.experts(j);
    layer.top_k = spec.top_k;
    for (TargetModule m : spec.target_modules) {
      const MolaLinear& p = model->layer(j)->projection(m);
      if (p->hasRouter() && p->routing().probs.defined())
        layer.modules.push_back(moduleRouting(m, p->routing()));
    }
    if (!layer.modules.empty()) out.layers.push_back(std::move(layer));
  }
  model->clearRoutings();
  return out;
}

}  // namespace mola
