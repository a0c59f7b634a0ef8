// SPDX-License-Identifier: GPL-3.0-or-later
// MolaLinear: a frozen linear layer plus N LoRA experts and a top-K router (MoLA, DESIGN.md).
#pragma once

#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace mola {

// Stacked: all experts of the module in two matmuls with gate masking (the fast path).
// Loop: one expert at a time over the tokens routed to it, as the published code does; kept as the
// reference in tests and the baseline in benchmarks.
enum class ExpertImpl { Stacked, Loop };

struct MolaLinearOptions {
  MolaLinearOptions(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}
  TORCH_ARG(int64_t, in_features);
  TORCH_ARG(int64_t, out_features);
  // Whether the frozen base layer has a bias (Qwen2's q/k/v do).
  TORCH_ARG(bool, bias) = false;
  // N_j. With 1 expert there is no router: plain LoRA. With 0 there is no adapter at all: the
  // layer is the frozen base linear (how a model holds projections that are not targeted).
  TORCH_ARG(int64_t, num_experts) = 1;
  TORCH_ARG(int64_t, rank) = 8;
  // The expert output is scaled by alpha / rank.
  TORCH_ARG(double, alpha) = 16.0;
  // K experts kept per token, 1 <= K <= N.
  TORCH_ARG(int64_t, top_k) = 1;
  // Dropout on the LoRA input only (never on the base or router input); active in training mode.
  TORCH_ARG(double, dropout) = 0.05;
  TORCH_ARG(ExpertImpl, impl) = ExpertImpl::Stacked;
  // MOELoRA: no router; the experts' weights come from the task of each sequence
  // (setTaskGates), dense over all N experts.
  TORCH_ARG(bool, task_gated) = false;
  // The rank r in the scaling alpha / r; 0: rank (MOELoRA's N experts of rank r / N scale by
  // alpha over the whole r).
  TORCH_ARG(int64_t, scaling_rank) = 0;
  // The gate-aware rescaling of Sun et al. (ICML 2025): the forward is unchanged, but each routed
  // expert's output passes gradient (to its A, B and the input) weighted by sqrt(g), not g; the
  // router's gradient is unchanged.
  TORCH_ARG(bool, gate_rescaling) = false;
  // The dtype of A, B and the router; Undefined: the base weight's. Mixed precision keeps fp32
  // adapters (master weights, fp32 optimizer state) on a bf16/fp16 base: the forward casts them to
  // the input's dtype and their gradients come back in fp32.
  TORCH_ARG(c10::ScalarType, adapter_dtype) = c10::ScalarType::Undefined;
};

// What one forward call routed, kept on the device (no host sync) for the balance loss and the
// router statistics. Undefined tensors when the module has no router.
struct Routing {
  torch::Tensor
      probs;  // [T, N] softmax over all experts (fp32, fp64 for fp64 input); keeps its graph
  torch::Tensor topk_idx;   // [T, K] int64 chosen experts
  torch::Tensor topk_gate;  // [T, K] gates renormalised over the K kept, dtype of probs
};

class MolaLinearImpl : public torch::nn::Module {
 public:
  // A fresh random base weight (Kaiming-uniform as torch::nn::Linear), for tests and benchmarks.
  explicit MolaLinearImpl(const MolaLinearOptions& options);
  // Wraps an existing frozen base weight [out_features, in_features] (and bias [out_features]).
  MolaLinearImpl(const MolaLinearOptions& options, torch::Tensor base_weight,
                 torch::Tensor base_bias = {});

  // Initialises the adapter only: B = 0, A and the router Kaiming-uniform. The base stays.
  void reset();
  void pretty_print(std::ostream& stream) const override;

  // x: [..., in_features] -> [..., out_features]
  torch::Tensor forward(const torch::Tensor& x);

  // The fast path for modules that read the same input (q/k/v, gate/up): one autograd node
  // computes every module's routers and expert A products in one matmul (two while dropout is
  // active: routers see x, experts dropout(x)), adds each module's B product in place into its
  // base output, and back-propagates without per-module or per-expert kernels and without host
  // syncs. The modules share one dropout mask, as LoRA on a fused projection does. Falls back to
  // calling each module when canFuse() is false. x: [..., in] -> one [..., out_m] per module.
  static std::vector<torch::Tensor> forwardShared(const std::vector<MolaLinearImpl*>& modules,
                                                  const torch::Tensor& x);
  // Stacked experts with the same N, rank, top-K, alpha, dropout, training mode and input width,
  // frozen base weights in the dtype of x, adapters in the dtype of x or fp32 under a bf16/fp16 x
  // (cast on the way in), all on the device of x. Loop modules and trainable bases never fuse,
  // nor does an fp32 x under autocast.
  static bool canFuse(const std::vector<MolaLinearImpl*>& modules, const torch::Tensor& x);

  bool hasAdapter() const { return options.num_experts() > 0; }
  bool hasRouter() const { return options.num_experts() > 1 && !options.task_gated(); }
  // MOELoRA: the expert weights of each sequence of the next forward calls, [B, N] (rows sum to
  // 1), for inputs [B, T, in_features]; kept with its graph (the gate's gradient flows through).
  void setTaskGates(torch::Tensor gates) { m_task_gates = std::move(gates); }
  const torch::Tensor& taskGates() const { return m_task_gates; }
  const Routing& routing() const { return m_routing; }
  // What the balance loss and the router statistics read of the last call: this module's routing
  // ([T, N]), or for the first module of a fused group the whole group's ([T, M, N] probs,
  // [T, M, K] choices: one tensor for the group, no per-module slices in the backward pass);
  // null for the group's other modules (their rows are in the first's) and before a call.
  const Routing* routingBlock() const;
  // Drops the last call's routing tensors (and the autograd graph they hold).
  void clearRouting() {
    m_routing = Routing{};
    m_group_routing = Routing{};
    m_in_group = false;
  }
  // Replaces the last call's routing: activation checkpointing hands back probs that reach the
  // router through its own autograd node.
  void setRouting(Routing routing) {
    clearRouting();
    m_routing = std::move(routing);
  }

  // The adapter in the file layout: A [N, r, d_in], B [N, d_out, r], router [N, d_in].
  torch::Tensor expertsA() const;
  torch::Tensor expertsB() const;
  // Copies (and converts the dtype of) tensors in the file layout into the adapter; shape errors
  // name the tensor. `router` must be undefined exactly when the module has no router.
  void loadExperts(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& router);

  MolaLinearOptions options;
  torch::Tensor weight;  // [out, in] frozen
  torch::Tensor bias;    // [out] frozen, or undefined
  torch::Tensor lora_A;  // [N*r, in]: expert i is rows [i*r, (i+1)*r)
  torch::Tensor lora_B;  // [out, N*r]: expert i is columns [i*r, (i+1)*r)
  torch::Tensor router;  // [N, in], undefined when N == 1

 private:
  void registerAdapter();
  // x2: [T, in] -> the routing of every token, fp32.
  Routing route(const torch::Tensor& x2) const;
  // The composite (one autograd node per op) stacked path, for trainable base weights.
  torch::Tensor forwardStacked(const torch::Tensor& x2, const torch::Tensor& base);
  torch::Tensor forwardLoop(const torch::Tensor& x2, const torch::Tensor& base);
  // MOELoRA: h = W0 x + (alpha / r) sum_i w_i B_i A_i dropout(x), w = the sequence's task gates.
  torch::Tensor forwardTaskGated(const torch::Tensor& x, const torch::Tensor& base);
  // g [T, K] of the last routing scattered to [T, N, 1] (0 where not chosen) times alpha / r, in
  // the dtype of `like` [T, ...].
  torch::Tensor denseGates(const torch::Tensor& g, const torch::Tensor& like) const;
  std::vector<int64_t> outputShape(const torch::Tensor& x) const;
  double scaling() const {
    const int64_t r = options.scaling_rank() > 0 ? options.scaling_rank() : options.rank();
    return options.alpha() / static_cast<double>(r);
  }

  Routing m_routing;
  Routing m_group_routing;  // the fused group's, on its first module
  bool m_in_group = false;  // routed by a fused group (m_routing is a view of the group's)
  torch::Tensor m_task_gates;
};

TORCH_MODULE(MolaLinear);

}  // namespace mola
