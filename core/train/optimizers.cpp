// SPDX-License-Identifier: GPL-3.0-or-later
// Optimizer construction from an experiment.
#include "train/optimizers.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <stdexcept>

#include "model/llama_model.h"
#include "train/riemannian_preconditioner.h"

namespace mola {

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const ExperimentConfig& c,
                                                       const std::vector<at::Tensor>& params) {
  if (c.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  if (c.optimizer != "adamw")
    throw std::invalid_argument("training.optimizer.name: '" + c.optimizer +
                                "' is not one of adamw, sgd");
  return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(c.lr)
                                                           .betas(std::make_tuple(c.beta1, c.beta2))
                                                           .weight_decay(c.weight_decay)
                                                           .eps(c.adam_eps));
}

void setLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

std::unique_ptr<RiemannianPreconditioner> makePreconditioner(const ExperimentConfig& c,
                                                             LlamaModelImpl& model) {
  if (c.preconditioner != "riemannian") return nullptr;
  std::vector<MolaLinearImpl*> modules;
  for (auto& layer : model.adapterModules())
    for (auto& [target, module] : layer) modules.push_back(module.get());
  return std::make_unique<RiemannianPreconditioner>(std::move(modules), c.damping);
}

}  // namespace mola
