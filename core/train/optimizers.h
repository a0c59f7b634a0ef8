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

// training.optimizer.name over `params`: adamw (betas, eps, decoupled weight decay; the
// multi-tensor form below) or sgd (momentum, weight decay).
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const ExperimentConfig& config,
                                                       const std::vector<at::Tensor>& params);
// LibTorch's AdamW with its step done by multi-tensor (_foreach_*) operators: the same update,
// state and checkpoint format as torch::optim::AdamW, in about nine operator calls per step
// instead of nine per parameter tensor (one kernel launch each on a GPU, where multi-tensor
// kernels cover many tensors at once). AMSGrad is left to AdamW's own step.
// capturable (LibTorch 2.x; std::invalid_argument on 1.13): each parameter's step count is also
// kept on its device, and the bias corrections are computed there from it, so that the step can
// be captured in a CUDA graph and replayed (about nine more calls, each over 0-dim tensors). The
// host's counts (the checkpoint's) advance only when step() runs, not in replays; the learning
// rate and weight decay are captured as they are.
std::unique_ptr<torch::optim::Optimizer> makeForeachAdamW(const std::vector<at::Tensor>& params,
                                                          double lr, double beta1 = 0.9,
                                                          double beta2 = 0.999, double eps = 1e-8,
                                                          double weight_decay = 0.0,
                                                          bool capturable = false);
void setLearningRate(torch::optim::Optimizer& optimizer, double lr);
// The global 2-norm of the gradients of `params` (those without one left out), with the gradients
// scaled in place by min(1, max_norm / (norm + 1e-6)) as torch::nn::utils::clip_grad_norm_ does
// (no scaling when max_norm is infinite). The norm comes back as a 0-dim fp32 tensor on the
// gradients' device, unread: nothing here waits for the device (LibTorch's version reads it), and
// the per-tensor norms and the scaling are one multi-tensor call each (LibTorch 2.x; a call per
// tensor on 1.13). 0 on the CPU when no parameter has a gradient.
at::Tensor clipGradNorm(const std::vector<at::Tensor>& params, double max_norm);
// training.optimizer.preconditioner riemannian: a preconditioner over every adapter of `model`;
// none: null.
std::unique_ptr<RiemannianPreconditioner> makePreconditioner(const ExperimentConfig& config,
                                                             LlamaModelImpl& model);

}  // namespace mola
