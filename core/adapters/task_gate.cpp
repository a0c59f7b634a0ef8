// SPDX-License-Identifier: GPL-3.0-or-later
// TaskGate: the task embedding and the per-layer softmax gates of MOELoRA.
#include "adapters/task_gate.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <cmath>

#include "runtime.h"

namespace mola {

TaskGateImpl::TaskGateImpl(std::vector<std::string> tasks, int64_t dim,
                           const std::vector<int>& experts_per_layer,
                           const c10::TensorOptions& options)
    : m_tasks(std::move(tasks)) {
  TORCH_CHECK(!m_tasks.empty(), "TaskGate: at least one task is needed");
  TORCH_CHECK(dim >= 1, "TaskGate: the task embedding width must be at least 1, got ", dim);
  const auto like = options.requires_grad(false);
  embedding = register_parameter("embedding", torch::empty({int64_t(m_tasks.size()), dim}, like));
  for (size_t j = 0; j < experts_per_layer.size(); ++j) {
    TORCH_CHECK(experts_per_layer[j] >= 1, "TaskGate: layer ", j, " has no experts");
    gates.push_back(register_parameter("gate_" + std::to_string(j),
                                       torch::empty({experts_per_layer[j], dim}, like)));
  }
  reset();
}

void TaskGateImpl::reset() {
  torch::NoGradGuard no_grad;
  embedding.normal_(0.0, 1.0);
  for (torch::Tensor& g : gates) torch::nn::init::kaiming_uniform_(g, std::sqrt(5.0));
}

std::vector<torch::Tensor> TaskGateImpl::weights(const torch::Tensor& rows) const {
  TORCH_CHECK(rows.dim() == 1, "TaskGate: task rows must be [batch], got ", rows.sizes());
  const torch::Tensor on_device =
      rows.is_cpu() ? uploaded(rows, embedding.device()) : rows.to(embedding.device());
  const torch::Tensor e = embedding.index_select(0, on_device);  // [B, dim]
  const auto type = embedding.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& g : gates)
    out.push_back(at::softmax(at::linear(e, g).to(type), /*dim=*/-1));  // [B, N_j]
  return out;
}

std::vector<torch::Tensor> TaskGateImpl::table() const {
  torch::NoGradGuard no_grad;
  return weights(torch::arange(int64_t(m_tasks.size()), embedding.options().dtype(at::kLong)));
}

RouterStatsSnapshot TaskGateImpl::snapshot(int64_t step) const {
  RouterStatsSnapshot snap;
  snap.step = step;
  snap.tasks = m_tasks;
  const std::vector<torch::Tensor> tables = table();
  for (size_t j = 0; j < tables.size(); ++j) {
    const at::Tensor w = tables[j].to(at::kCPU, at::kDouble).contiguous();  // [tasks, N]
    const int64_t tasks = w.size(0), n = w.size(1);
    std::vector<std::vector<double>> rows(static_cast<size_t>(tasks),
                                          std::vector<double>(static_cast<size_t>(n)));
    const double* p = w.data_ptr<double>();
    for (int64_t t = 0; t < tasks; ++t)
      for (int64_t i = 0; i < n; ++i) rows[size_t(t)][size_t(i)] = p[t * n + i];
    snap.task_weights.push_back(rows);

    LayerRouterStats l;
    l.layer = int(j);
    const at::Tensor mean = w.mean(0);
    l.mean_probability.assign(mean.data_ptr<double>(), mean.data_ptr<double>() + n);
    l.token_fraction = l.mean_probability;
    l.entropy = -(w * w.clamp_min(1e-300).log()).sum(1).mean().item<double>();
    l.normalized_entropy = n > 1 ? l.entropy / std::log(double(n)) : 0.0;
    l.load_cv = n > 1 ? (mean.std(/*unbiased=*/false) / mean.mean()).item<double>() : 0.0;
    snap.layers.push_back(std::move(l));
  }
  return snap;
}

}  // namespace mola
