// SPDX-License-Identifier: GPL-3.0-or-later
// The optimizer an experiment names (AdamW or SGD), its learning rate, and the Riemannian
// preconditioning of its expert gradients.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <vector>

#include "experiment/experiment_config.h"

namespace torch::optim {
class Optimizer;
}

namespace mola {

class LlamaModelImpl;
class RiemannianPreconditioner;

// training.optimizer.name over `params`: adamw (betas, eps, decoupled weight decay) or sgd
// (momentum, weight decay).
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const ExperimentConfig& config,
                                                       const std::vector<at::Tensor>& params);
void setLearningRate(torch::optim::Optimizer& optimizer, double lr);
// training.optimizer.preconditioner riemannian: a preconditioner over every adapter of `model`;
// none: null.
std::unique_ptr<RiemannianPreconditioner> makePreconditioner(const ExperimentConfig& config,
                                                             LlamaModelImpl& model);

}  // namespace mola
