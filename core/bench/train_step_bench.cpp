// SPDX-License-Identifier: GPL-3.0-or-later
// Training-step benchmark: one variant's model, random batch and timed AdamW steps.
#include "bench/train_step_bench.h"

#include <ATen/ATen.h>
#include <torch/cuda.h>
#include <torch/optim/optimizer.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "adapters/balance_loss.h"
#include "bench/cuda_graph_step.h"
#include "bench/machine_info.h"
#include "device_memory.h"
#include "dist/gradient_buckets.h"
#include "dist/rank_group.h"
#include "model/checkpoint_loader.h"
#include "model/linear_cross_entropy.h"
#include "model/llama_model.h"
#include "runtime.h"
#include "train/optimizers.h"

namespace mola {

namespace {

std::vector<TargetModule> allModules() {
  return {std::begin(kAllTargetModules), std::end(kAllTargetModules)};
}

int64_t trainableCount(const BenchVariantSpec& spec, const ModelShape& shape) {
  if (!spec.has_adapter) return 0;
  return countTrainableParameters(spec.allocation, shape, spec.rank, allModules()).total();
}

// Random weights (normal, std 0.02; norms 1; biases 0) drawn in `dtype` on `device`: no fp32 copy
// of a half-precision model on the host (llama2-7b is 27 GB in fp32), and on a GPU no minutes of
// host-side random numbers.
LlamaModel randomModelOn(const LlamaConfig& config, c10::ScalarType dtype,
                         const c10::Device& device) {
  LlamaModel model(config, LlamaModelImpl::Uninitialised{dtype});
  model->to(device);
  torch::NoGradGuard no_grad;
  model->embed.normal_(0.0, 0.02);
  if (model->lm_head.defined()) model->lm_head.normal_(0.0, 0.02);
  for (int j = 0; j < config.num_layers; ++j)
    for (TargetModule m : kAllTargetModules) {
      MolaLinear& p = model->layer(j)->projection(m);
      p->weight.normal_(0.0, 0.02);
      if (p->bias.defined()) p->bias.zero_();
    }
  return model;
}

void synchronize(const c10::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

}  // namespace

const std::vector<std::string>& benchVariantNames() {
  static const std::vector<std::string> names = {"base",      "lora-r8",        "lora-equal",
                                                 "mola-2468", "mola-2468-loop", "mola-8888"};
  return names;
}

int loraEqualRank(const ModelShape& shape) {
  const int64_t target = countTrainableParameters(Allocation::parse("2-4-6-8", shape.num_layers),
                                                  shape, 8, allModules())
                             .total();
  const Allocation one = Allocation::uniform(1, shape.num_layers);
  const int64_t per_rank = countTrainableParameters(one, shape, 1, allModules()).total();
  // Plain LoRA is linear in the rank: the two ranks around target / per_rank hold the closest.
  const int64_t below = std::max<int64_t>(1, target / per_rank);
  const int64_t above = below + 1;
  const int64_t chosen =
      std::llabs(target - below * per_rank) <= std::llabs(above * per_rank - target) ? below
                                                                                     : above;
  return static_cast<int>(chosen);
}

BenchVariantSpec benchVariantSpec(const std::string& name, const ModelShape& shape) {
  const std::vector<std::string>& names = benchVariantNames();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::string all;
    for (const std::string& n : names) all += (all.empty() ? "" : ", ") + n;
    throw std::invalid_argument("unknown bench variant '" + name + "' (" + all + ")");
  }
  BenchVariantSpec s;
  s.name = name;
  if (name == "base") return s;
  const int layers = shape.num_layers;
  // Every adapter variant is defined against MoLA 2-4-6-8 (lora-equal through its parameter count).
  if (name != "lora-r8" && layers < 4)
    throw std::invalid_argument("bench variant " + name +
                                ": MoLA 2-4-6-8 needs at least 4 layers, the shape has " +
                                std::to_string(layers));
  s.has_adapter = true;
  if (name == "lora-r8" || name == "lora-equal") {
    s.allocation = Allocation::uniform(1, layers);
    if (name == "lora-equal") s.rank = loraEqualRank(shape);
    return s;
  }
  s.allocation = Allocation::parse(name == "mola-8888" ? "8" : "2-4-6-8", layers);
  s.top_k = 2;
  s.loop = name == "mola-2468-loop";
  return s;
}

double median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

namespace {

// The variant's model (random weights, fp32 adapters as the trainer keeps them) on the device, in
// training mode.
LlamaModel benchModel(const BenchVariantSpec& spec, const TrainStepBenchOptions& o,
                      c10::ScalarType dtype, const c10::Device& device) {
  torch::manual_seed(o.seed);
  LlamaModel model = randomModelOn(o.config, dtype, device);
  if (spec.has_adapter) {
    MolaSpec m;
    m.allocation = spec.allocation;
    m.rank = spec.rank;
    m.alpha = o.alpha;
    m.top_k = spec.top_k;
    m.dropout = o.dropout;
    m.impl = spec.loop ? ExpertImpl::Loop : ExpertImpl::Stacked;
    m.adapter_dtype = at::kFloat;  // master weights, as the trainer keeps them
    model->injectMola(m);
  }
  model->setActivationCheckpointing(o.activation_checkpointing);
  model->to(device);
  model->train();
  return model;
}

// One variant's training step on one random batch, as the trainer steps: the forward and the loss
// under autocast, the backward outside it, the trainer's optimizer (AdamW in multi-tensor form,
// with AdamW's default settings, weight decay 0.01, as torch.optim.AdamW in the reference).
class BenchStepper {
 public:
  BenchStepper(LlamaModel model, const BenchVariantSpec& spec, const TrainStepBenchOptions& o,
               const c10::Device& device, c10::ScalarType dtype)
      : m_model(std::move(model)),
        m_spec(spec),
        m_o(o),
        m_device(device),
        m_dtype(dtype),
        m_params(m_model->trainableParameters()),
        m_router_stats(spec.allocation.perLayer()) {
    if (!m_params.empty())
      m_optimizer = makeForeachAdamW(m_params, o.lr, 0.9, 0.999, 1e-8, 0.01, o.cuda_graph);
    // A frozen model has nothing to train: back-propagate to the embedding anyway, as adapters
    // need the gradient through every layer (the reference's definition of its base variant).
    if (!spec.has_adapter) m_model->embed.set_requires_grad(true);
    if (o.group && !m_params.empty())
      m_buckets =
          std::make_unique<GradientBuckets>(*o.group, m_params, GradientBuckets::kDefaultBytes);
    if (o.group) torch::manual_seed(o.seed + 1 + uint64_t(o.group->rank()));  // each rank its data
    const at::Tensor ids =
        at::randint(o.config.vocab_size, {o.batch, o.seq + 1}, at::TensorOptions(at::kLong))
            .to(device);
    m_inputs = ids.narrow(1, 0, o.seq);
    m_targets = ids.narrow(1, 1, o.seq);
  }

  const std::vector<torch::Tensor>& params() const { return m_params; }

  // One step; returns the loss. `phase` is told when the backward and the optimizer begin.
  at::Tensor step(int step, const std::function<void()>& phase) {
    at::Tensor loss = forwardLoss();
    if (phase) phase();
    if (m_buckets) m_buckets->arm("bench step " + std::to_string(step + 1));
    loss.backward();
    if (m_buckets) m_buckets->finish();
    m_model->clearRoutings();
    if (phase) phase();
    if (m_optimizer) {
      m_optimizer->step();
      for (auto& p : m_params) p.mutable_grad().reset();  // set_to_none, as the reference
    } else {
      m_model->embed.mutable_grad().reset();
    }
    return loss.detach();
  }

 private:
  at::Tensor forwardLoss() {
    std::optional<AutocastGuard> amp;
    if (m_dtype != at::kFloat) amp.emplace(m_device.type(), m_dtype);
    // The head and the mean cross-entropy chunk by chunk, as the trainer computes them.
    const at::Tensor h = m_model->hidden(m_inputs);  // [B, T, d]
    at::Tensor loss = linearCrossEntropySum(h.reshape({-1, h.size(2)}), m_model->headWeight(),
                                            m_targets.reshape({-1})) /
                      double(m_targets.numel());
    if (!m_spec.has_adapter || m_spec.allocation.maxExperts() <= 1) return loss;
    // As the trainer: every layer's routing summed once, for the balance loss and the router
    // statistics, which stay on the device (no sync here).
    const std::vector<LayerRoutings> routings = m_model->layerRoutings();
    const RoutingSums sums = routingSums(routings, {}, m_spec.allocation.perLayer());
    if (m_o.balance_coefficient > 0)
      loss =
          loss + balanceLoss(sums, routings, m_o.balance_coefficient,
                             m_o.group ? m_o.group->reducer("the balance loss") : TensorReducer{})
                     .to(loss.device());
    m_router_stats.add(sums);
    return loss;
  }

  LlamaModel m_model;
  const BenchVariantSpec& m_spec;
  const TrainStepBenchOptions& m_o;
  c10::Device m_device;
  c10::ScalarType m_dtype;
  std::vector<torch::Tensor> m_params;
  std::unique_ptr<torch::optim::Optimizer> m_optimizer;
  RouterStatsAccumulator m_router_stats;
  std::unique_ptr<GradientBuckets> m_buckets;
  at::Tensor m_inputs, m_targets;
};

// The warm-up and the timed steps (replays of a captured CUDA graph with o.cuda_graph) into
// result.step_ms; returns the last step's loss.
at::Tensor timeSteps(BenchStepper& stepper, const TrainStepBenchOptions& o,
                     const c10::Device& device, TrainStepBenchResult& result) {
  std::unique_ptr<CudaGraphStep> graph;
  if (o.cuda_graph) graph = std::make_unique<CudaGraphStep>(device);
  const int total = o.warmup + o.steps;
  at::Tensor last_loss;
  for (int step = 0; step < total; ++step) {
    const auto one = [&] { return stepper.step(step, nullptr); };
    if (graph && step == o.warmup) graph->capture(one);  // untimed: nothing runs in a capture
    synchronize(device);
    const auto t0 = std::chrono::steady_clock::now();
    last_loss = !graph ? one() : step < o.warmup ? graph->eager(one) : graph->replay();
    synchronize(device);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (step >= o.warmup) result.step_ms.push_back(ms);
    if (o.progress) o.progress(step + 1, total, ms);
  }
  result.cuda_graph = graph != nullptr;
  // A replay's loss lives in the graph's memory pool: copied out before the graph goes.
  return graph ? last_loss.clone() : last_loss;
}

// What o.cuda_graph cannot go with, named.
void checkCudaGraphOptions(const std::string& variant, const BenchVariantSpec& spec,
                           const TrainStepBenchOptions& o) {
  const std::string why = spec.loop      ? "its per-expert loop reads the routing on the host"
                          : o.warmup < 1 ? "the capture needs at least one warm-up step first"
                          : o.group      ? "data-parallel ranks are not captured"
                          : o.profile    ? "the profile counts the eager step's operators"
                                         : "";
  if (!why.empty()) throw std::invalid_argument("bench " + variant + ": no CUDA graph: " + why);
}

}  // namespace

TrainStepBenchResult runTrainStepBench(const std::string& variant, const TrainStepBenchOptions& o) {
  if (o.seq < 1 || o.batch < 1 || o.steps < 1 || o.warmup < 0)
    throw std::invalid_argument(
        "bench: seq, batch and steps must be at least 1, warmup at least 0");
  const ModelShape shape = o.config.shape();
  const BenchVariantSpec spec = benchVariantSpec(variant, shape);
  if (o.seq > o.config.max_seq_len)
    throw std::invalid_argument("bench: --seq " + std::to_string(o.seq) +
                                " exceeds the model's maximum sequence length " +
                                std::to_string(o.config.max_seq_len));
  const c10::Device device = deviceFromName(o.device);
  const c10::ScalarType dtype = dtypeFromName(o.dtype);
  if (dtype == at::kHalf && device.is_cpu())
    throw std::invalid_argument("bench: dtype fp16 needs a CUDA device; use bf16 or fp32");
  if (o.cuda_graph) checkCudaGraphOptions(variant, spec, o);

  TrainStepBenchResult result;
  result.variant = variant;
  result.rss_before_model_mb = processRssMb();
  BenchStepper stepper(benchModel(spec, o, dtype, device), spec, o, device, dtype);
  for (const auto& p : stepper.params()) result.trainable_params += p.numel();
  if (result.trainable_params != trainableCount(spec, shape))
    throw std::logic_error("bench " + variant + ": the model trains " +
                           std::to_string(result.trainable_params) + " parameters, expected " +
                           std::to_string(trainableCount(spec, shape)));
  // On the CPU the worker reports its whole high-water mark since exec (cross-checked against
  // wait4's ru_maxrss), which building the model is part of: no reset there.
  if (device.is_cuda()) resetPeakMemory(device);
  const at::Tensor last_loss = timeSteps(stepper, o, device, result);
  if (o.profile) {
    const OpCounter counter;
    std::vector<int64_t> marks;  // kernels when the backward, then the optimizer, began
    stepper.step(o.warmup + o.steps, [&] { marks.push_back(counter.counts().kernels); });
    result.profile = counter.counts();
    result.forward_kernels = marks.at(0);
    result.backward_kernels = marks.at(1) - marks.at(0);
    result.optimizer_kernels = result.profile.kernels - marks.at(1);
  }
  result.final_loss = last_loss.item<double>();
  if (!std::isfinite(result.final_loss))
    throw std::runtime_error("bench " + variant + ": the loss is not finite");
  result.ms_per_step = median(result.step_ms);
  const int world = o.group ? o.group->size() : 1;
  result.tokens_per_s = double(world * o.batch * o.seq) / (result.ms_per_step / 1000.0);
  result.cuda_peak_mb = device.is_cuda() ? peakMemoryMb(device) : -1;
  return result;
}

}  // namespace mola
