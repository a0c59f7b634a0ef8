// SPDX-License-Identifier: GPL-3.0-or-later
// TaskGate: MOELoRA's task conditioning, a learned embedding per task and per decoder layer a gate
// from it to a softmax over that layer's experts (Liu et al., SIGIR 2024).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <string>
#include <vector>

#include "adapters/router_stats.h"

namespace mola {

class TaskGateImpl : public torch::nn::Module {
 public:
  // One embedding row per task (in `tasks` order) of width `dim`; layer j's gate has one row per
  // expert (experts_per_layer[j]). Parameters in `options`' dtype and device.
  TaskGateImpl(std::vector<std::string> tasks, int64_t dim,
               const std::vector<int>& experts_per_layer, const c10::TensorOptions& options = {});

  // The embedding N(0, 1) as nn.Embedding draws it, the gates Kaiming-uniform as nn.Linear's
  // (MOELoRA's defaults).
  void reset();
  // rows: [B] int64 task rows -> per layer the expert weights of each sequence,
  // softmax(gate_j e_task) [B, N_j], in fp32 (fp64 for fp64 parameters), with their graph.
  std::vector<torch::Tensor> weights(const torch::Tensor& rows) const;
  // Per layer [tasks, N_j]: every task's expert weights, without gradient (for the views).
  std::vector<torch::Tensor> table() const;
  // table() as a router snapshot of `step` (RouterStatsSnapshot::task_weights), its `layers`
  // the weights averaged over the tasks with their entropy and spread.
  RouterStatsSnapshot snapshot(int64_t step) const;

  const std::vector<std::string>& tasks() const { return m_tasks; }
  int64_t dim() const { return embedding.size(1); }

  torch::Tensor embedding;           // [tasks, dim]
  std::vector<torch::Tensor> gates;  // per layer [N_j, dim]

 private:
  std::vector<std::string> m_tasks;
};
TORCH_MODULE(TaskGate);

}  // namespace mola
