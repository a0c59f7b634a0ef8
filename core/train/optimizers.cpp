// SPDX-License-Identifier: GPL-3.0-or-later
// Optimizer construction from an experiment.
#include "train/optimizers.h"

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/version.h>

#include <cmath>
#include <stdexcept>

#include "model/llama_model.h"
#include "train/riemannian_preconditioner.h"

namespace mola {

namespace {

// The key of a parameter's state in Optimizer::state_ (a string before LibTorch 2.0).
#if TORCH_VERSION_MAJOR >= 2
void* stateKey(const at::Tensor& p) {
  return p.unsafeGetTensorImpl();
}
#else
std::string stateKey(const at::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}
#endif

class ForeachAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  // torch::optim::AdamW's update, operator by operator, over every parameter of a group at once.
  torch::Tensor step(LossClosure closure = nullptr) override {
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : param_groups()) {
      auto& o = static_cast<torch::optim::AdamWOptions&>(group.options());
      if (o.amsgrad()) return torch::optim::AdamW::step();  // not used here: AdamW's own loop
      stepGroup(group.params(), o);
    }
    return loss;
  }

 private:
  void stepGroup(const std::vector<at::Tensor>& group, const torch::optim::AdamWOptions& o) {
    const auto [beta1, beta2] = o.betas();
    std::vector<at::Tensor> params, grads, exp_avg, exp_avg_sq;
    std::vector<at::Scalar> step_sizes, bias_roots;
    for (const at::Tensor& p : group) {
      if (!p.grad().defined()) continue;
      TORCH_CHECK(!p.grad().is_sparse(), "AdamW does not support sparse gradients");
      auto& slot = state_[stateKey(p)];
      if (!slot) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& state = static_cast<torch::optim::AdamWParamState&>(*slot);
      state.step(state.step() + 1);
      const double bias_correction1 = 1 - std::pow(beta1, double(state.step()));
      const double bias_correction2 = 1 - std::pow(beta2, double(state.step()));
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avg.push_back(state.exp_avg());
      exp_avg_sq.push_back(state.exp_avg_sq());
      step_sizes.emplace_back(-o.lr() / bias_correction1);
      bias_roots.emplace_back(std::sqrt(bias_correction2));
    }
    if (params.empty()) return;
    if (o.weight_decay() != 0) at::_foreach_mul_(params, 1 - o.lr() * o.weight_decay());
    at::_foreach_mul_(exp_avg, beta1);
    at::_foreach_add_(exp_avg, grads, 1 - beta1);
    at::_foreach_mul_(exp_avg_sq, beta2);
    at::_foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2);
    std::vector<at::Tensor> denom = at::_foreach_sqrt(exp_avg_sq);
    at::_foreach_div_(denom, bias_roots);
    at::_foreach_add_(denom, o.eps());
    at::_foreach_addcdiv_(params, exp_avg, denom, step_sizes);
  }
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> makeForeachAdamW(const std::vector<at::Tensor>& params,
                                                          double lr, double beta1, double beta2,
                                                          double eps, double weight_decay) {
  return std::make_unique<ForeachAdamW>(params, torch::optim::AdamWOptions(lr)
                                                    .betas(std::make_tuple(beta1, beta2))
                                                    .weight_decay(weight_decay)
                                                    .eps(eps));
}

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const ExperimentConfig& c,
                                                       const std::vector<at::Tensor>& params) {
  if (c.optimizer == "sgd")
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  if (c.optimizer != "adamw")
    throw std::invalid_argument("training.optimizer.name: '" + c.optimizer +
                                "' is not one of adamw, sgd");
  return makeForeachAdamW(params, c.lr, c.beta1, c.beta2, c.adam_eps, c.weight_decay);
}

void setLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
}

at::Tensor clipGradNorm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return at::zeros({}, at::kFloat);
  const at::Tensor norm = at::stack(at::_foreach_norm(grads)).to(at::kFloat).norm();
  if (std::isinf(max_norm)) return norm;
  const at::Tensor scale = at::clamp_max(max_norm / (norm + 1e-6), 1.0);
#if TORCH_VERSION_MAJOR >= 2
  at::_foreach_mul_(grads, scale);
#else
  for (at::Tensor& g : grads) g.mul_(scale);
#endif
  return norm;
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
