// SPDX-License-Identifier: GPL-3.0-or-later
// Optimizer construction from an experiment.
#include "train/optimizers.h"

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/version.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <unordered_map>

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
  ForeachAdamW(const std::vector<at::Tensor>& params, const torch::optim::AdamWOptions& options,
               bool capturable)
      : torch::optim::AdamW(params, options), m_capturable(capturable) {}

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
    std::vector<at::Tensor> params, grads, exp_avg, exp_avg_sq, device_steps;
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
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avg.push_back(state.exp_avg());
      exp_avg_sq.push_back(state.exp_avg_sq());
      if (m_capturable) {  // the corrections come from the count on the device
        device_steps.push_back(deviceStep(p, state.step() - 1));
        continue;
      }
      const double bias_correction1 = 1 - std::pow(beta1, double(state.step()));
      const double bias_correction2 = 1 - std::pow(beta2, double(state.step()));
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
    if (m_capturable) {
      divideByDeviceCorrections(denom, device_steps, o);
      at::_foreach_addcdiv_(params, exp_avg, denom);
      return;
    }
    at::_foreach_div_(denom, bias_roots);
    at::_foreach_add_(denom, o.eps());
    at::_foreach_addcdiv_(params, exp_avg, denom, step_sizes);
  }

  // The step count of `p` on its device, created from the host's count `before` this step.
  at::Tensor deviceStep(const at::Tensor& p, int64_t before) {
    at::Tensor& step = m_device_steps[p.unsafeGetTensorImpl()];
    if (!step.defined()) step = at::full({}, double(before), p.options().dtype(at::kFloat));
    return step;
  }

  // denom = (sqrt(v) / sqrt(1 - beta2^t) + eps) / (-lr / (1 - beta1^t)), with t counted on the
  // device: then params += m / denom is AdamW's update, and a replayed CUDA graph of this step
  // corrects by the replay's t, not by the t of the step it captured (as torch.optim.AdamW's
  // capturable form does).
  static void divideByDeviceCorrections(std::vector<at::Tensor>& denom,
                                        std::vector<at::Tensor>& steps,
                                        const torch::optim::AdamWOptions& o) {
#if TORCH_VERSION_MAJOR >= 2
    const auto [beta1, beta2] = o.betas();
    at::_foreach_add_(steps, 1);
    std::vector<at::Tensor> step_size = at::_foreach_pow(beta1, steps);  // beta1^t
    at::_foreach_sub_(step_size, 1);                                     // -(1 - beta1^t)
    at::_foreach_div_(step_size, o.lr());
    at::_foreach_reciprocal_(step_size);  // -lr / (1 - beta1^t)
    std::vector<at::Tensor> root = at::_foreach_pow(beta2, steps);
    at::_foreach_sub_(root, 1);
    at::_foreach_neg_(root);
    at::_foreach_sqrt_(root);  // sqrt(1 - beta2^t)
    at::_foreach_div_(denom, root);
    at::_foreach_add_(denom, o.eps());
    at::_foreach_div_(denom, step_size);
#else
    (void)denom, (void)steps, (void)o;
    throw std::logic_error("AdamW's capturable form needs LibTorch 2.x");
#endif
  }

  bool m_capturable = false;
  std::unordered_map<const void*, at::Tensor> m_device_steps;  // per parameter (capturable)
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> makeForeachAdamW(const std::vector<at::Tensor>& params,
                                                          double lr, double beta1, double beta2,
                                                          double eps, double weight_decay,
                                                          bool capturable) {
  if (capturable && TORCH_VERSION_MAJOR < 2)
    throw std::invalid_argument("AdamW's capturable form needs LibTorch 2.x, this is " +
                                std::string(TORCH_VERSION));
  return std::make_unique<ForeachAdamW>(params,
                                        torch::optim::AdamWOptions(lr)
                                            .betas(std::make_tuple(beta1, beta2))
                                            .weight_decay(weight_decay)
                                            .eps(eps),
                                        capturable);
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
